"""Monte Carlo standard errors of the mean, the sd and quantiles."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .. import _backends
from .._validation import as_choice
from ._blocks import _ABS_DEV, _ess_core, _split
from ._input import _as_draws, _check_prob, _out, _valid_mask, _warn_nan
from .ess import _ess_mean, _ess_quantile, _ess_sd, _is_scalar


MCSE_METHODS = ("mean", "sd", "median", "quantile")

_BETA_PROBS = (0.1586553, 0.8413447)  # Phi(-1), Phi(1): a +-1 sd interval of the quantile


def _mcse_mean(X, backend, *, sd=None, Ys=None):
    """sd / sqrt(ESS of the mean) per variable of X (d, m, n). ``sd`` (d,) (ddof=1) and ``Ys`` (the
    split chains) may be handed in by a caller that has them."""
    e = _ess_mean(X, backend, Ys=Ys)
    if sd is None:
        sd = np.std(X.reshape(X.shape[0], -1), axis=1, ddof=1)
    return sd / np.sqrt(e)


def _mcse_sd(X, variant, backend, *, moments=None, Ys=None):
    """Delta-method MCSE of the sd per variable of X (d, m, n): sqrt(Var(s^2) / ESS / s^2 / 4) with
    the ESS of the squared (``"arviz"``) or absolute (``"stan"``) deviations. ``moments``: (mean,
    sum of squared deviations, sum of their squares), each (d,), from a caller that has them."""
    flat = X.reshape(X.shape[0], -1)
    N = flat.shape[1]
    if moments is None:
        mu = flat.mean(axis=1)
        c2 = (flat - mu[:, None]) ** 2
        c2_sum, c4_sum = c2.sum(axis=1), (c2 ** 2).sum(axis=1)
    else:
        mu, c2_sum, c4_sum = moments
    if variant == "arviz":
        e = _ess_sd(X, backend, Ys=Ys, mu=mu)
    else:
        e = _ess_core(_split(X) if Ys is None else Ys, backend, False, _ABS_DEV, mu)
    evar = c2_sum / N
    return np.sqrt((c4_sum / N - evar ** 2) / e / evar / 4.0)


def _mcse_quantile(X, p, backend):
    """Half the width of the central +-1 sd interval of the order statistic of the p-quantile,
    from the quantile ESS, per variable of X (d, m, n)."""
    d = X.shape[0]
    S = np.sort(X.reshape(d, -1), axis=1)
    e = _ess_quantile(X, backend, False, p, S=S)
    N = S.shape[1]
    out = np.full(d, np.nan)
    for v in np.flatnonzero(~np.isnan(e)):
        ppf = stats.beta.ppf(_BETA_PROBS, e[v] * p + 1, e[v] * (1 - p) + 1) * N - 1
        lo = int(math.floor(max(ppf[0], 0.0))) if not np.isnan(ppf[0]) else 0
        hi = int(math.ceil(min(ppf[1], N - 1.0))) if not np.isnan(ppf[1]) else N - 1
        out[v] = (S[v, hi] - S[v, lo]) / 2.0
    return out


def mcse(x, method="mean", *, prob=None, sd_variant="arviz", backend="auto"):
    """Monte Carlo standard error.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
    method : {"mean", "sd", "median", "quantile"}
        ``"mean"``: sd / sqrt(ESS_mean). ``"sd"``: delta method on the variance, see
        ``sd_variant``. ``"median"``/``"quantile"`` (needs ``prob``): half the width of the
        central +-1 sd interval of the quantile's order statistic, from the quantile ESS.
    prob : float, optional
        Probability for ``method="quantile"``.
    sd_variant : {"arviz", "stan"}
        For ``method="sd"``: ``"arviz"`` (default, ArviZ 0.23 and ``summary``) takes the ESS of
        the squared deviations; ``"stan"`` (Stan >= 2.35, posterior >= 1.5) the ESS of the
        absolute deviations.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    float or ndarray, shape (d,)
    """
    X, scalar = _as_draws(x)
    if not isinstance(method, str) or method not in MCSE_METHODS:
        raise ValueError(f"method must be one of {MCSE_METHODS}, got {method!r}")
    as_choice("sd_variant", sd_variant, ("arviz", "stan"))
    if method == "quantile":
        if prob is None or not _is_scalar(prob):
            raise ValueError("prob must be a single probability for method='quantile'")
        prob = _check_prob(prob)
    be = _backends.resolve_backend(backend)
    d = X.shape[0]
    out = np.full(d, np.nan)
    ok = _valid_mask(X)
    if ok.any():
        Xv = X[ok] if not ok.all() else X
        # undefined or overflowing results are reported by _warn_nan below, not by NumPy
        with np.errstate(all="ignore"):
            if method == "mean":
                out[ok] = _mcse_mean(Xv, be)
            elif method == "sd":
                out[ok] = _mcse_sd(Xv, sd_variant, be)
            else:
                out[ok] = _mcse_quantile(Xv, 0.5 if method == "median" else prob, be)
    _warn_nan(out, X, f"mcse(method={method!r})")
    return _out(out, scalar)
