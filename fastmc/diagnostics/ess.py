"""Effective sample size (Vehtari et al. 2021), every method of ArviZ's ``ess``."""
from __future__ import annotations

import numpy as np

from .. import _backends
from ._blocks import (_ABS_DEV, _BELOW, _INSIDE, _SQUARE_DEV, _ess_core, _fold, _median_sorted,
                      _quantiles_sorted, _rank_normalize, _sorted_full, _split)
from ._input import _as_draws, _check_prob, _out, _valid_mask, _warn_nan


ESS_METHODS = ("bulk", "tail", "mean", "sd", "median", "mad", "quantile", "local", "identity",
               "basic", "z_scale", "folded")


def _ess_batch(X, method, prob, relative, backend):
    d, m, n = X.shape
    out = np.full(d, np.nan)
    ok = _valid_mask(X)
    if not ok.any():
        return out
    Xv = X[ok] if not ok.all() else X
    dv = Xv.shape[0]
    if method in ("bulk", "z_scale"):
        z, _ = _rank_normalize(_split(Xv), backend, want_sorted=False, nan_free=True)
        res = _ess_core(z, backend, relative, overwrite=True)
    elif method == "folded":
        _, _, z = _rank_normalize(_split(Xv), backend, want_folded=True)
        res = _ess_core(z, backend, relative, overwrite=True)
    elif method in ("tail", "quantile", "median", "local"):
        S = _sorted_full(Xv, backend)
        Ys = _split(Xv)
        if method == "tail":
            lo, hi = (0.05, 0.95) if prob is None else _tail_probs(prob)
            q = _quantiles_sorted(S, (lo, hi))
            e_lo = _ess_core(Ys, backend, relative, _BELOW, q[:, 0])
            e_hi = _ess_core(Ys, backend, relative, _BELOW, q[:, 1])
            res = np.where(np.isnan(e_lo) | np.isnan(e_hi), np.nan, np.minimum(e_lo, e_hi))
        elif method == "local":
            q = _quantiles_sorted(S, prob)
            res = _ess_core(Ys, backend, relative, _INSIDE, q[:, 0], q[:, 1])
        else:
            q = _quantiles_sorted(S, (0.5 if method == "median" else prob,))
            res = _ess_core(Ys, backend, relative, _BELOW, q[:, 0])
    elif method == "mean":
        res = _ess_core(_split(Xv), backend, relative)
    elif method == "sd":
        mu = Xv.reshape(dv, -1).mean(axis=1)
        res = _ess_core(_split(Xv), backend, relative, _SQUARE_DEV, mu)
    elif method == "mad":
        S = _sorted_full(Xv, backend)
        A = _fold(Xv, S)
        SA = np.sort(A.reshape(dv, -1), axis=1)
        ind = (A <= _median_sorted(SA)[:, None, None]).astype(np.float64)
        z, _ = _rank_normalize(_split(ind), backend, want_sorted=False, nan_free=True)
        res = _ess_core(z, backend, relative, overwrite=True)
    elif method in ("identity", "basic"):
        res = _ess_core(Xv, backend, relative)
    else:  # pragma: no cover - validated by the caller
        raise AssertionError(method)
    out[ok] = res
    return out


def _tail_probs(prob):
    if np.ndim(prob) == 0:
        p = _check_prob(prob)
        return (p, 1.0 - p)
    lo, hi = prob
    return (_check_prob(lo, "prob[0]"), _check_prob(hi, "prob[1]"))


def ess(x, method="bulk", *, prob=None, relative=False, backend="auto"):
    """Effective sample size.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
        MCMC draws.
    method : str
        ``"bulk"`` (default: split chains, rank normalisation), ``"tail"`` (minimum of the
        quantile ESS at ``prob``, default 5% and 95%), ``"mean"``, ``"sd"``, ``"median"``,
        ``"mad"``, ``"quantile"`` (needs ``prob``), ``"local"`` (needs ``prob=(lo, hi)``),
        ``"identity"``/``"basic"`` (no splitting), ``"z_scale"`` (same as bulk), ``"folded"``.
        All use Geyer's initial monotone sequence with the between-chain variance and cap the
        ESS at ``N log10 N``.
    prob : float or (float, float), optional
        Probability for ``"quantile"``; pair or single value (meaning ``(p, 1 - p)``) for
        ``"tail"``; the pair of bounds for ``"local"``.
    relative : bool
        Return ESS divided by the number of draws used.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    float or ndarray, shape (d,)
        NaN where undefined (see the module docstring), with a :class:`DiagnosticWarning`.
    """
    X, scalar = _as_draws(x)
    if not isinstance(method, str) or method not in ESS_METHODS:
        raise ValueError(f"method must be one of {ESS_METHODS}, got {method!r}")
    if method == "quantile":
        if prob is None or np.ndim(prob) != 0:
            raise ValueError("prob must be a single probability for method='quantile'")
        prob = _check_prob(prob)
    elif method == "local":
        if prob is None or np.ndim(prob) != 1 or len(prob) != 2:
            raise ValueError("prob must be a pair (lower, upper) for method='local'")
        prob = (_check_prob(prob[0], "prob[0]"), _check_prob(prob[1], "prob[1]"))
    elif method == "tail" and prob is not None:
        prob = _tail_probs(prob)
    res = _ess_batch(X, method, prob, relative, _backends.resolve_backend(backend))
    _warn_nan(res, X, f"ess(method={method!r})")
    return _out(res, scalar)
