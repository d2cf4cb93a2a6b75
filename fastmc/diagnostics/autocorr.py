"""Autocovariance, autocorrelation and the integrated autocorrelation time (emcee's estimator)."""
from __future__ import annotations

import warnings

import numpy as np

from .._validation import as_bool, as_positive_float
from ._blocks import _autocov_fft
from ._input import DiagnosticWarning, _as_draws, _out, _warn_nan


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


#: Elements (chains x draws) transformed per FFT call: temporaries of a few times this many
#: doubles instead of a few times the whole input (an (m, n) block's spectrum and inverse are 2n long).
_FFT_BLOCK = 2**18


def _row_blocks(m, n):
    """Slices of the m chains of one variable, each of at most _FFT_BLOCK elements (one chain at
    least)."""
    rows = max(1, _FFT_BLOCK // max(n, 1))
    return [slice(c, min(c + rows, m)) for c in range(0, m, rows)]


def _each_autocov(X):
    """Yield (v, chains, biased autocovariances (k, n)) of X (d, m, n) block by block: the same
    values as one FFT over all of X (each row's transform is independent), in a bounded space."""
    d, m, n = X.shape
    for v in range(d):
        for rows in _row_blocks(m, n):
            x = X[v, rows]
            yield v, rows, _autocov_fft(x - x.mean(axis=1, keepdims=True))


def _autocov(X, what, normalise=False):
    """Biased autocovariances (d, m, n) of every chain of X (d, m, n) at every lag, divided by the
    lag-0 value with ``normalise`` (NaN for a constant chain, 0 / 0, documented and not warned
    about). NumPy's warnings (a NaN or infinite draw, a square that overflows) become one
    DiagnosticWarning naming ``what`` and the dimensions whose autocovariance is not finite."""
    out = np.empty(X.shape)
    bad = np.zeros(X.shape[0], dtype=bool)
    with np.errstate(all="ignore"):
        for v, rows, acov in _each_autocov(X):
            bad[v] |= not np.isfinite(acov).all()
            out[v, rows] = acov / acov[:, :1] if normalise else acov
    _warn_nan(np.where(bad, np.nan, 0.0), X, what, min_draws=1, undefined="not finite", stacklevel=4)
    return out


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
    acov = np.moveaxis(_autocov(X, "autocov"), 0, 2)
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
    X, scalar = _as_draws(x)
    rho = np.moveaxis(_autocov(X, "autocorr", normalise=True), 0, 2)
    return rho[:, :, 0] if scalar else rho


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
    quiet = as_bool("quiet", quiet)
    X, scalar = _as_draws(x)
    d, m, n = X.shape
    # only the chain average of the autocorrelations is needed: summed block by block, so the
    # memory beyond the input is one (n,) sum per variable and one block's FFT temporaries
    rho_sum = np.zeros((d, n))
    bad = np.zeros(d, dtype=bool)
    with np.errstate(all="ignore"):
        for v, rows, acov in _each_autocov(X):
            bad[v] |= not np.isfinite(acov).all()
            rho_sum[v] += (acov / acov[:, :1]).sum(axis=0)
        taus = 2.0 * np.cumsum(rho_sum / m, axis=1) - 1.0  # (d, n)
    _warn_nan(np.where(bad, np.nan, 0.0), X, "integrated_time", min_draws=1, undefined="not finite", stacklevel=3)
    tau = np.empty(d)
    with np.errstate(over="ignore", invalid="ignore"):  # c or tol near 1.8e308: the products are inf, as meant
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
