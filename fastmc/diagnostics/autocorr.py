"""Autocovariance, autocorrelation and the integrated autocorrelation time (emcee's estimator)."""
from __future__ import annotations

import warnings

import numpy as np

from .._validation import as_positive_float
from ._blocks import _autocov_fft
from ._input import DiagnosticWarning, _as_draws, _out


class AutocorrError(Exception):
    """The chain is too short to trust the integrated autocorrelation time.

    Attributes
    ----------
    tau : ndarray or float
        The estimate that was refused, shape ``(d,)`` or scalar.
    """

    def __init__(self, tau, msg):
        self.tau = tau
        super().__init__(msg)


def autocov(x):
    """Autocovariance of every chain at every lag, by FFT.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``

    Returns
    -------
    ndarray, shape like ``x``
        ``out[c, t] = sum_i (x[c, i] - mean_c)(x[c, i + t] - mean_c) / draws`` (the biased
        estimator of Stan and ArviZ).
    """
    X, scalar = _as_draws(x)
    C = X - X.mean(axis=2, keepdims=True)
    acov = np.moveaxis(_autocov_fft(C), 0, 2)
    return acov[:, :, 0] if scalar else acov


def autocorr(x):
    """Normalised autocorrelation of every chain at every lag, by FFT.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``

    Returns
    -------
    ndarray, shape like ``x``
        ``autocov(x) / autocov(x)[:, :1]``; NaN for a constant chain.
    """
    a = autocov(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / a[:, :1]


def integrated_time(x, c=5, tol=50, quiet=False):
    """Integrated autocorrelation time with Sokal's automatic window (emcee's estimator).

    The normalised autocorrelation is averaged over chains; ``tau(M) = 1 + 2 sum_{t=1}^{M} rho_t``
    and the window is the smallest ``M`` with ``M >= c tau(M)``.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
        Chains play the role of emcee's walkers.
    c : float
        Window constant.
    tol : float
        The estimate is trusted when ``draws > tol * tau``.
    quiet : bool
        If True, warn instead of raising when the chain is too short.

    Returns
    -------
    float or ndarray, shape (d,)

    Raises
    ------
    AutocorrError
        If ``draws <= tol * tau`` for some dimension and ``quiet`` is False; its ``tau``
        attribute carries the estimate.
    """
    c = as_positive_float("c", c)
    tol = as_positive_float("tol", tol)
    X, scalar = _as_draws(x)
    d, m, n = X.shape
    rho = np.moveaxis(autocorr(np.moveaxis(X, 0, 2)), 2, 0).mean(axis=1)  # (d, n)
    taus = 2.0 * np.cumsum(rho, axis=1) - 1.0
    tau = np.empty(d)
    for v in range(d):
        below = np.arange(n) < c * taus[v]
        w = int(np.argmin(below)) if below.any() else n - 1
        tau[v] = taus[v, w]
    flag = tol * tau > n
    if np.any(flag):
        msg = (f"The chain is shorter than {tol} times the integrated autocorrelation time for "
               f"{int(flag.sum())} dimension(s). Use this estimate with caution and run a longer "
               f"chain!\nN/{tol} = {n / tol:.0f};\ntau: {tau}")
        if not quiet:
            raise AutocorrError(_out(tau, scalar), msg)
        warnings.warn(msg, DiagnosticWarning, stacklevel=2)
    return _out(tau, scalar)
