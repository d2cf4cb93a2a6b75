"""Built-in targets written exactly as a user would write one: an ``@njit`` function
``fn(x, grad, data) -> logp`` with its parameters packed into one float64 array, wrapped by
:meth:`fastmc.Target.from_numba`. Read them as examples.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .._validation import (
    as_float_array,
    as_int,
    as_positive_float,
    as_real,
    cholesky_or_raise,
    require_finite,
)
from ..layout import Param
from .user import Target

__all__ = ["gaussian", "rosenbrock", "funnel", "logistic_regression", "eight_schools", "eight_schools_noncentered"]


# The log densities use plain ``numba.njit`` rather than fastmc's internal decorators
# (fastmc._numba._jit), so each can be copied into user code as it stands: ``cache=True`` compiles
# once per machine, ``nogil=True`` releases the GIL when one is called from Python, and Numba's
# default ``fastmath=False`` keeps the draws of both backends (which call the same function) equal.
@numba.njit(cache=True, nogil=True)
def gaussian_logp(x, grad, data):
    """data = [log normaliser, mean (d), precision (d*d)]."""
    d = x.size
    q = 0.0
    for i in range(d):
        g = 0.0
        for j in range(d):
            g -= data[1 + d + i * d + j] * (x[j] - data[1 + j])
        grad[i] = g
        q -= (x[i] - data[1 + i]) * g
    return data[0] - 0.5 * q


def gaussian(mean, cov, *, check_gradient=True) -> Target:
    """Multivariate normal N(mean, cov) with a dense covariance.

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d)
        Symmetric positive definite.
    """
    mu = as_float_array("mean", mean, ndim=1)
    require_finite("mean", mu)
    S = as_float_array("cov", cov, ndim=2)
    if S.shape != (mu.size, mu.size):
        raise ValueError(f"cov must have shape (d, d) = ({mu.size}, {mu.size}), got {S.shape}")
    L = cholesky_or_raise("cov", S)
    P = np.linalg.inv(S)
    P = 0.5 * (P + P.T)
    lognorm = -np.log(np.diag(L)).sum() - 0.5 * mu.size * np.log(2 * np.pi)
    data = np.concatenate([[lognorm], mu, P.ravel()])
    return Target.from_numba(gaussian_logp, mu.size, data, check_gradient=check_gradient)


@numba.njit(cache=True, nogil=True)
def rosenbrock_logp(x, grad, data):
    """data = [a, b]: log p = -(a - x0)^2 - b (x1 - x0^2)^2 (unnormalised)."""
    a = data[0]
    b = data[1]
    r = x[1] - x[0] * x[0]
    grad[0] = 2.0 * (a - x[0]) + 4.0 * b * r * x[0]
    grad[1] = -2.0 * b * r
    return -(a - x[0]) ** 2 - b * r * r


def rosenbrock(a: float = 1.0, b: float = 5.0, *, check_gradient=True) -> Target:
    """The 2-D Rosenbrock ("banana") density p(x) ~ exp(-(a - x0)^2 - b (x1 - x0^2)^2).

    Its moments are exact: x0 ~ N(a, 1/2) and x1 | x0 ~ N(x0^2, 1/(2b)), so E[x1] = a^2 + 1/2.
    """
    if isinstance(a, bool) or not isinstance(a, (int, float)):
        raise TypeError(f"a must be a real number, got {type(a).__name__}")
    a = as_real("a", a)
    if not math.isfinite(a):
        raise ValueError(f"a must be a finite real number, got {a!r}")
    b = as_positive_float("b", b)
    return Target.from_numba(rosenbrock_logp, 2, np.array([float(a), b]), check_gradient=check_gradient)


@numba.njit(cache=True, nogil=True)
def funnel_logp(x, grad, data):
    """data = [scale]: v = x[0] ~ N(0, scale^2), x[1:] | v ~ N(0, exp(v)) (normalised)."""
    s = data[0]
    v = x[0]
    d = x.size
    ev = math.exp(-v)
    lp = -0.5 * v * v / (s * s) - math.log(s) - 0.5 * math.log(2 * math.pi)
    gv = -v / (s * s)
    for i in range(1, d):
        lp -= 0.5 * x[i] * x[i] * ev + 0.5 * v + 0.5 * math.log(2 * math.pi)
        gv += 0.5 * x[i] * x[i] * ev - 0.5
        grad[i] = -x[i] * ev
    grad[0] = gv
    return lp


def funnel(dim: int = 10, scale: float = 3.0, *, check_gradient=True) -> Target:
    """Neal's funnel: v ~ N(0, scale^2), x_i | v ~ N(0, e^v) for i = 1..dim-1 (v is x[0]).

    The neck makes fixed-step HMC diverge; the marginal of v is exactly N(0, scale^2).
    """
    dim = as_int("dim", dim, minimum=2)
    scale = as_positive_float("scale", scale)
    return Target.from_numba(funnel_logp, dim, np.array([scale]), check_gradient=check_gradient)


@numba.njit(cache=True, nogil=True)
def logistic_regression_logp(beta, grad, data):
    """data = [n, p, prior sd, X (n*p), y (n)]: Bernoulli likelihood with logit link, N(0, sd^2 I)
    prior on the coefficients (normalised prior, likelihood exact)."""
    n = int(data[0])
    p = int(data[1])
    s2 = data[2] * data[2]
    xo = 3
    yo = 3 + n * p
    lp = 0.0
    for j in range(p):
        grad[j] = -beta[j] / s2
        lp -= 0.5 * beta[j] * beta[j] / s2 + 0.5 * math.log(2 * math.pi * s2)
    for i in range(n):
        eta = 0.0
        for j in range(p):
            eta += data[xo + i * p + j] * beta[j]
        # log(1 + e^eta) without overflow
        sp = eta + math.log1p(math.exp(-eta)) if eta > 0 else math.log1p(math.exp(eta))
        y = data[yo + i]
        lp += y * eta - sp
        r = y - 1.0 / (1.0 + math.exp(-eta))
        for j in range(p):
            grad[j] += r * data[xo + i * p + j]
    return lp


def logistic_regression(X, y, prior_scale: float = 1.0, *, check_gradient=True) -> Target:
    """Bayesian logistic regression: y_i ~ Bernoulli(sigmoid(X_i . beta)), beta ~ N(0, s^2 I).

    Parameters
    ----------
    X : array_like, shape (n, p)
        Covariates (include a column of ones for an intercept).
    y : array_like, shape (n,)
        Outcomes in {0, 1}.
    prior_scale : float
        Prior standard deviation s > 0.
    """
    X = as_float_array("X", X, ndim=2)
    require_finite("X", X)
    y = as_float_array("y", y, ndim=1)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (n,) = ({X.shape[0]},) to match X, got {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must contain only 0 and 1")
    s = as_positive_float("prior_scale", prior_scale)
    n, p = X.shape
    data = np.concatenate([[n, p, s], X.ravel(), y])
    return Target.from_numba(logistic_regression_logp, p, data, check_gradient=check_gradient)


@numba.njit(cache=True, nogil=True)
def eight_schools_logp(x, grad, data):
    """x = [mu, tau, theta (J)] (tau > 0: the library maps it from the real line);
    data = [y (J), sigma (J)]. mu ~ N(0, 5), tau ~ HalfCauchy(5), theta_j ~ N(mu, tau),
    y_j ~ N(theta_j, sigma_j), normalised as PyMC's."""
    J = x.size - 2
    mu = x[0]
    tau = x[1]
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    lp = -0.5 * mu * mu / 25.0 - math.log(5.0) - half_log_2pi
    g_mu = -mu / 25.0
    r = tau / 5.0
    lp += math.log(2.0 / (math.pi * 5.0)) - math.log1p(r * r)
    g_tau = -2.0 * r / (5.0 * (1.0 + r * r))
    for j in range(J):
        th = x[2 + j]
        e = (th - mu) / tau
        lp += -0.5 * e * e - math.log(tau) - half_log_2pi
        g_mu += e / tau
        g_tau += (e * e - 1.0) / tau
        s = data[J + j]
        f = (data[j] - th) / s
        lp += -0.5 * f * f - math.log(s) - half_log_2pi
        grad[2 + j] = -e / tau + f / s
    grad[0] = g_mu
    grad[1] = g_tau
    return lp


def _schools(y, sigma):
    """Validated (y, sigma) of the eight-schools models (default Rubin's data), and the coords
    naming the schools when there are eight of them (else None)."""
    from .pymc_models import EIGHT_SCHOOLS

    y = EIGHT_SCHOOLS["y"] if y is None else as_float_array("y", y, ndim=1)
    sigma = EIGHT_SCHOOLS["sigma"] if sigma is None else as_float_array("sigma", sigma, ndim=1)
    require_finite("y", y)
    if sigma.shape != y.shape:
        raise ValueError(f"sigma must have the shape of y, {y.shape}, got {sigma.shape}")
    if not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
        raise ValueError("sigma must be finite and > 0")
    return y, sigma, ({"school": list(EIGHT_SCHOOLS["schools"])} if y.size == 8 else None)


def eight_schools(y=None, sigma=None, *, check_gradient=True) -> Target:
    """Eight schools, centred, written by hand with named parameters: ``mu``, ``tau`` (declared
    ``"log"``: the function sees tau > 0 and the library adds the Jacobian) and ``theta`` (J,).
    The same model, and the same unconstrained density, as
    ``fastmc.models.eight_schools_pymc(centered=True)``.

    Parameters
    ----------
    y, sigma : array_like, shape (J,), optional
        Estimates and their standard errors (default Rubin's eight schools).
    """
    y, sigma, coords = _schools(y, sigma)
    J = y.size
    dims = "school" if coords else None
    params = {"mu": (), "tau": ((), "log"), "theta": Param((J,), dims=dims)}
    return Target.from_numba(eight_schools_logp, data=np.concatenate([y, sigma]), params=params, coords=coords,
                             check_gradient=check_gradient)


@numba.njit(cache=True, nogil=True)
def eight_schools_noncentered_logp(x, grad, data):
    """x = [mu, tau, z (J)] (tau > 0), theta_j = mu + tau z_j; data = [y (J), sigma (J), mu_scale,
    tau_scale]. mu ~ N(0, mu_scale), tau ~ HalfCauchy(tau_scale), z_j ~ N(0, 1),
    y_j ~ N(theta_j, sigma_j), normalised."""
    J = x.size - 2
    mu = x[0]
    tau = x[1]
    s_mu = data[2 * J]
    s_tau = data[2 * J + 1]
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    lp = -0.5 * mu * mu / (s_mu * s_mu) - math.log(s_mu) - half_log_2pi
    g_mu = -mu / (s_mu * s_mu)
    r = tau / s_tau
    lp += math.log(2.0 / (math.pi * s_tau)) - math.log1p(r * r)
    g_tau = -2.0 * r / (s_tau * (1.0 + r * r))
    for j in range(J):
        z = x[2 + j]
        s = data[J + j]
        f = (data[j] - mu - tau * z) / s
        lp += -0.5 * z * z - half_log_2pi - 0.5 * f * f - math.log(s) - half_log_2pi
        g_mu += f / s
        g_tau += f * z / s
        grad[2 + j] = -z + f * tau / s
    grad[0] = g_mu
    grad[1] = g_tau
    return lp


def eight_schools_noncentered(y=None, sigma=None, *, mu_scale: float = 5.0, tau_scale: float = 5.0,
                              check_gradient=True) -> Target:
    """Eight schools, non-centred, written by hand: ``mu``, ``tau`` (declared ``"log"``) and the
    standardised effects ``z`` (J,), theta_j = mu + tau z_j; mu ~ N(0, mu_scale),
    tau ~ HalfCauchy(tau_scale). The geometry NUTS samples without divergences, and the model of
    :func:`fastmc.sbc`'s example (``fastmc.sbc_models.eight_schools_prior`` and
    ``eight_schools_simulate`` draw from its prior and likelihood).

    Parameters
    ----------
    y, sigma : array_like, shape (J,), optional
        Estimates and their standard errors (default Rubin's eight schools).
    mu_scale, tau_scale : float
        Prior scales, > 0.

    Returns
    -------
    Target
        Its ``data`` is ``[y (J), sigma (J), mu_scale, tau_scale]``; ``target.with_data(new)``
        gives the same model for other data without compiling again.
    """
    y, sigma, coords = _schools(y, sigma)
    mu_scale = as_positive_float("mu_scale", mu_scale)
    tau_scale = as_positive_float("tau_scale", tau_scale)
    J = y.size
    params = {"mu": (), "tau": ((), "log"), "z": Param((J,), dims="school" if coords else None)}
    return Target.from_numba(eight_schools_noncentered_logp, data=np.concatenate([y, sigma, [mu_scale, tau_scale]]),
                             params=params, coords=coords, check_gradient=check_gradient)
