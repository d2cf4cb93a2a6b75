"""Classic examples written in PyMC (the ``pymc`` extra), next to the hand-written ones of
:mod:`fastmc.targets.models`. Each returns a ``pymc.Model``; sample it with
``fastmc.nuts(fastmc.Target.from_pymc(model), None, 1000)``. PyMC is imported when a function is
called, never when fastmc is.

The data sets that are not published numbers are simulated with a fixed seed, so every call
returns the same model.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_int

__all__ = ["eight_schools_pymc", "radon_pymc", "logistic_regression_pymc", "EIGHT_SCHOOLS"]

#: Rubin's (1981) eight schools: estimated coaching effects y and their standard errors sigma.
EIGHT_SCHOOLS = {
    "schools": ("Choate", "Deerfield", "Phillips Andover", "Phillips Exeter", "Hotchkiss", "Lawrenceville",
                "St. Paul's", "Mt. Hermon"),
    "y": np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]),
    "sigma": np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]),
}


def _pm():
    from .pymc import _import_pymc

    return _import_pymc()[0]


def eight_schools_pymc(centered: bool = False):
    """Eight schools: mu ~ N(0, 5), tau ~ HalfCauchy(5), theta_j ~ N(mu, tau), y_j ~ N(theta_j, sigma_j).

    Parameters
    ----------
    centered : bool
        Sample theta directly (the funnel-shaped geometry that makes NUTS diverge), or, by
        default, the non-centred z ~ N(0, 1) with the deterministic theta = mu + tau z.

    Returns
    -------
    pymc.Model
        Free variables ``mu``, ``tau`` (log-transformed) and ``theta`` (centred) or ``z``
        (non-centred, with deterministic ``theta``), all with dims ``school`` (8).
    """
    pm = _pm()
    d = EIGHT_SCHOOLS
    with pm.Model(coords={"school": list(d["schools"])}) as model:
        y = pm.Data("y", d["y"], dims="school")
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        if centered:
            theta = pm.Normal("theta", mu, tau, dims="school")
        else:
            z = pm.Normal("z", 0.0, 1.0, dims="school")
            theta = pm.Deterministic("theta", mu + tau * z, dims="school")
        pm.Normal("obs", theta, d["sigma"], observed=y, dims="school")
    return model


def simulate_radon(n_counties: int = 40, n_obs: int = 600, seed: int = 20240501) -> dict:
    """A radon-like data set: log radon in houses grouped by county, with a floor indicator.

    Returns
    -------
    dict
        ``county`` (n_obs,) int64 county index, ``floor`` (n_obs,) float 0/1, ``log_radon``
        (n_obs,), and the true ``alpha`` (n_counties,), ``beta``, ``sigma``.
    """
    n_counties = as_int("n_counties", n_counties, minimum=2)
    n_obs = as_int("n_obs", n_obs, minimum=n_counties)
    rng = np.random.default_rng(seed)
    # unequal county sizes, every county seen at least once, as in the Minnesota survey
    county = np.concatenate([np.arange(n_counties), rng.choice(n_counties, n_obs - n_counties,
                                                                  p=rng.dirichlet(np.full(n_counties, 0.7)))])
    floor = (rng.random(n_obs) < 0.2).astype(np.float64)
    alpha = 1.5 + 0.35 * rng.standard_normal(n_counties)
    beta, sigma = -0.65, 0.75
    y = alpha[county] + beta * floor + sigma * rng.standard_normal(n_obs)
    return {"county": county.astype(np.int64), "floor": floor, "log_radon": y, "alpha": alpha, "beta": beta,
            "sigma": sigma}


def radon_pymc(n_counties: int = 40, n_obs: int = 600, seed: int = 20240501):
    """Hierarchical radon-style regression with varying intercepts (non-centred):

    mu_a ~ N(0, 5), sigma_a ~ HalfNormal(1), z_j ~ N(0, 1), a_j = mu_a + sigma_a z_j,
    b ~ N(0, 2), sigma_y ~ HalfNormal(1), y_i ~ N(a_county[i] + b floor_i, sigma_y),

    on data simulated by :func:`simulate_radon` (no download needed).

    Returns
    -------
    pymc.Model
        n_counties + 4 unconstrained parameters; ``pm.Data`` ``county``, ``floor`` and
        ``log_radon`` (swap them with ``target.with_data`` on a ``freeze=False`` target);
        deterministic ``a`` with dims ``county``.
    """
    pm = _pm()
    data = simulate_radon(n_counties, n_obs, seed)
    coords = {"county": [f"county_{j}" for j in range(n_counties)], "obs_id": np.arange(n_obs)}
    with pm.Model(coords=coords) as model:
        county = pm.Data("county_idx", data["county"], dims="obs_id")
        floor = pm.Data("floor", data["floor"], dims="obs_id")
        y = pm.Data("log_radon", data["log_radon"], dims="obs_id")
        mu_a = pm.Normal("mu_a", 0.0, 5.0)
        sigma_a = pm.HalfNormal("sigma_a", 1.0)
        z = pm.Normal("z_a", 0.0, 1.0, dims="county")
        a = pm.Deterministic("a", mu_a + sigma_a * z, dims="county")
        b = pm.Normal("b", 0.0, 2.0)
        sigma_y = pm.HalfNormal("sigma_y", 1.0)
        pm.Normal("y", a[county] + b * floor, sigma_y, observed=y, dims="obs_id")
    return model


def simulate_logistic(n: int = 500, p: int = 25, seed: int = 20240502) -> tuple[np.ndarray, np.ndarray]:
    """Covariates X (n, p) with a column of ones first and outcomes y (n,) in {0, 1} from a
    logistic model with coefficients drawn from N(0, 0.5^2)."""
    n = as_int("n", n, minimum=1)
    p = as_int("p", p, minimum=1)
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    beta = 0.5 * rng.standard_normal(p)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-X @ beta))).astype(np.float64)
    return X, y


def logistic_regression_pymc(n: int = 500, p: int = 25, seed: int = 20240502, prior_scale: float = 1.0):
    """Bayesian logistic regression, beta ~ N(0, prior_scale^2 I), y_i ~ Bernoulli(sigmoid(X_i beta)),
    on data simulated by :func:`simulate_logistic` (p = 25 coefficients by default, intercept
    included). The same model as the hand-written :func:`fastmc.models.logistic_regression`.

    Returns
    -------
    pymc.Model
        Free variable ``beta`` with dims ``coef`` (p,); ``pm.Data`` ``X`` and ``y``.
    """
    pm = _pm()
    X, y = simulate_logistic(n, p, seed)
    with pm.Model(coords={"coef": [f"b{j}" for j in range(X.shape[1])]}) as model:
        Xd = pm.Data("X", X)
        yd = pm.Data("y_obs", y)
        beta = pm.Normal("beta", 0.0, prior_scale, dims="coef")
        pm.Bernoulli("y", logit_p=Xd @ beta, observed=yd)
    return model
