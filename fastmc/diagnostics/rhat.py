"""Potential scale reduction factor R-hat: rank-normalised (Vehtari et al. 2021) and classic."""
from __future__ import annotations

import numpy as np

from .. import _backends
from ._blocks import _rank_normalize, _rhat_core, _split
from ._input import _as_draws, _out, _valid_mask, _warn_nan


RHAT_METHODS = ("rank", "split", "folded", "z_scale", "identity")


def _rhat_batch(X, method, backend):
    d, m, n = X.shape
    out = np.full(d, np.nan)
    ok = _valid_mask(X, min_chains=2)
    if not ok.any():
        return out
    Xv = X[ok] if not ok.all() else X
    with np.errstate(all="ignore"):  # undefined results are reported by _warn_nan, not by NumPy
        if method == "identity":
            res = _rhat_core(Xv, backend)
        elif method == "split":
            res = _rhat_core(_split(Xv), backend)
        else:
            Ys = _split(Xv)
            if method == "z_scale":
                z, _ = _rank_normalize(Ys, backend, want_sorted=False, nan_free=True)
                res = _rhat_core(z, backend)
            else:
                z, _, zf = _rank_normalize(Ys, backend, want_folded=True)
                if method == "folded":
                    res = _rhat_core(zf, backend)
                else:
                    res = _rhat_rank(z, zf, backend)
    out[ok] = res
    return out


def _rhat_rank(z, zf, backend):
    """Rank R-hat (d,) from the normal scores ``z`` of the split chains and ``zf`` of the split
    chains folded about the median, each (d, 2m, n // 2)."""
    return _max_like_python(_rhat_core(z, backend), _rhat_core(zf, backend))


def _max_like_python(bulk, tail):
    """ArviZ's ``max(bulk, tail)``: NaN if bulk is NaN, bulk if only tail is NaN."""
    return np.where(tail > bulk, tail, bulk)


def rhat(x, method="rank", *, backend="auto"):
    """Potential scale reduction factor R-hat.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
    method : {"rank", "split", "folded", "z_scale", "identity"}
        ``"rank"`` (default): the maximum of the rank-normalised split R-hat of the draws and of
        the draws folded about their median (Vehtari et al. 2021). ``"split"``: classic R-hat on
        split chains; ``"identity"``: classic R-hat without splitting.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    float or ndarray, shape (d,)
        NaN (with a :class:`DiagnosticWarning`) for fewer than 2 chains, fewer than 4 draws, NaN
        draws or constant draws.
    """
    X, scalar = _as_draws(x)
    if not isinstance(method, str) or method not in RHAT_METHODS:
        raise ValueError(f"method must be one of {RHAT_METHODS}, got {method!r}")
    res = _rhat_batch(X, method, _backends.resolve_backend(backend))
    _warn_nan(res, X, f"rhat(method={method!r})", min_chains=2)
    return _out(res, scalar)
