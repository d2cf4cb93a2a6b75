"""Effective sample size (Vehtari et al. 2021), every method of ArviZ's ``ess``."""
from __future__ import annotations

import numpy as np

from .. import _backends
from .._validation import as_bool
from ._blocks import (_BELOW, _INSIDE, _SQUARE_DEV, _ess_core, _fold, _median_sorted, _quantiles_sorted,
                      _rank_normalize, _sorted_full, _split)
from ._input import _as_draws, _check_prob, _out, _valid_mask, _warn_nan

# One function per method, all with the signature (X, backend, relative=False, prob=None): X is a
# batch (d, m, n) of variables that passed _valid_mask (no NaN, at least 4 draws), prob is already
# validated by ess(). Keyword-only arguments let summary() and mcse() hand in what they have
# already computed (sorted draws, split chains, scores) instead of recomputing it.


def _ess_bulk(X, backend, relative=False, prob=None, *, z=None):
    """Bulk ESS (also ``"z_scale"``): of the rank-normalised split chains. ``z`` (d, 2m, n // 2):
    those scores, precomputed by the caller, who may reuse them (they are not overwritten)."""
    if z is not None:
        return _ess_core(z, backend, relative)
    z, _ = _rank_normalize(_split(X), backend, want_sorted=False, nan_free=True)
    return _ess_core(z, backend, relative, overwrite=True)


def _ess_folded(X, backend, relative=False, prob=None):
    """ESS of the rank-normalised split chains folded about the median."""
    _, _, z = _rank_normalize(_split(X), backend, want_folded=True)
    return _ess_core(z, backend, relative, overwrite=True)


def _ess_quantile(X, backend, relative=False, prob=None, *, S=None, Ys=None):
    """ESS of the indicator ``x <= q_prob`` on split chains. ``S`` (d, m*n): the sorted pooled
    draws; ``Ys``: the split chains."""
    S = _sorted_full(X, backend) if S is None else S
    Ys = _split(X) if Ys is None else Ys
    q = _quantiles_sorted(S, (prob,))
    return _ess_core(Ys, backend, relative, _BELOW, q[:, 0])


def _ess_median(X, backend, relative=False, prob=None, **shared):
    """ESS of the median (the quantile ESS at 0.5)."""
    return _ess_quantile(X, backend, relative, 0.5, **shared)


def _ess_tail(X, backend, relative=False, prob=None, *, S=None, Ys=None):
    """The smaller quantile ESS at ``prob = (lo, hi)`` (default 5% and 95%); NaN if either is."""
    S = _sorted_full(X, backend) if S is None else S
    Ys = _split(X) if Ys is None else Ys
    q = _quantiles_sorted(S, (0.05, 0.95) if prob is None else prob)
    e_lo = _ess_core(Ys, backend, relative, _BELOW, q[:, 0])
    e_hi = _ess_core(Ys, backend, relative, _BELOW, q[:, 1])
    return np.where(np.isnan(e_lo) | np.isnan(e_hi), np.nan, np.minimum(e_lo, e_hi))


def _ess_local(X, backend, relative=False, prob=None):
    """ESS of the indicator ``q_lo <= x <= q_hi`` for ``prob = (lo, hi)``."""
    q = _quantiles_sorted(_sorted_full(X, backend), prob)
    return _ess_core(_split(X), backend, relative, _INSIDE, q[:, 0], q[:, 1])


def _ess_mean(X, backend, relative=False, prob=None, *, Ys=None):
    """ESS of the mean: of the split chains as they are."""
    return _ess_core(_split(X) if Ys is None else Ys, backend, relative)


def _ess_sd(X, backend, relative=False, prob=None, *, Ys=None, mu=None):
    """ESS of the variance: of the squared deviations from the pooled mean ``mu`` (d,)."""
    if mu is None:
        mu = X.reshape(X.shape[0], -1).mean(axis=1)
    return _ess_core(_split(X) if Ys is None else Ys, backend, relative, _SQUARE_DEV, mu)


def _ess_mad(X, backend, relative=False, prob=None):
    """ESS of the median absolute deviation: bulk ESS of the indicator ``|x - median| <= MAD``."""
    dv = X.shape[0]
    A = _fold(X, _sorted_full(X, backend))
    SA = np.sort(A.reshape(dv, -1), axis=1)
    ind = (A <= _median_sorted(SA)[:, None, None]).astype(np.float64)
    z, _ = _rank_normalize(_split(ind), backend, want_sorted=False, nan_free=True)
    return _ess_core(z, backend, relative, overwrite=True)


def _ess_identity(X, backend, relative=False, prob=None):
    """ESS of the chains as they are, not split (also ``"basic"``)."""
    return _ess_core(X, backend, relative)


# the order is the one the error message for an unknown method lists
_ESS = {
    "bulk": _ess_bulk, "tail": _ess_tail, "mean": _ess_mean, "sd": _ess_sd,
    "median": _ess_median, "mad": _ess_mad, "quantile": _ess_quantile, "local": _ess_local,
    "identity": _ess_identity, "basic": _ess_identity, "z_scale": _ess_bulk, "folded": _ess_folded,
}
ESS_METHODS = tuple(_ESS)


def _ess_batch(X, method, prob, relative, backend):
    """ESS (d,) of every variable of X (d, m, n); NaN for those _valid_mask rejects."""
    out = np.full(X.shape[0], np.nan)
    ok = _valid_mask(X)
    if ok.any():
        with np.errstate(all="ignore"):  # inf - inf (folding about an infinite median) gives NaN
            out[ok] = _ESS[method](X[ok] if not ok.all() else X, backend, relative, prob)
    return out


def _is_scalar(prob):
    return not isinstance(prob, (str, bytes)) and (np.isscalar(prob) or (isinstance(prob, np.ndarray)
                                                                          and prob.ndim == 0))


def _prob_pair(prob, method):
    """``prob`` as a validated pair (lower, upper), or an error naming prob."""
    if isinstance(prob, (str, bytes)) or not hasattr(prob, "__len__") or len(prob) != 2:
        raise ValueError(f"prob must be a pair (lower, upper) for method={method!r}, got {prob!r}")
    return (_check_prob(prob[0], "prob[0]"), _check_prob(prob[1], "prob[1]"))


def _tail_probs(prob):
    if _is_scalar(prob):
        p = _check_prob(prob)
        return (p, 1.0 - p)
    return _prob_pair(prob, "tail")


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
    if not isinstance(method, str) or method not in _ESS:
        raise ValueError(f"method must be one of {ESS_METHODS}, got {method!r}")
    relative = as_bool("relative", relative)
    if method == "quantile":
        if prob is None or not _is_scalar(prob):
            raise ValueError("prob must be a single probability for method='quantile'")
        prob = _check_prob(prob)
    elif method == "local":
        prob = _prob_pair(prob, "local")
    elif method == "tail" and prob is not None:
        prob = _tail_probs(prob)
    res = _ess_batch(X, method, prob, relative, _backends.resolve_backend(backend))
    _warn_nan(res, X, f"ess(method={method!r})")
    return _out(res, scalar)
