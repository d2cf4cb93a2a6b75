"""Input layout and validation, and the warning every diagnostic emits for an undefined result."""
from __future__ import annotations

import numbers
import warnings

import numpy as np


_SQRT_MAX = float(np.sqrt(np.finfo(np.float64).max))


class DiagnosticWarning(RuntimeWarning):
    """A diagnostic is undefined (NaN) for some variable; the message says why."""


def _as_draws(x, name="x"):
    """Return (X (d, chains, draws) float64 C-contiguous, scalar_output)."""
    if hasattr(x, "draws") and not isinstance(x, np.ndarray):
        x = x.draws
        name = f"{name}.draws"
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} must be a real numeric array of shape (chains, draws) or (chains, draws, d) "
                        f"({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer)
                                   or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a real numeric array of shape (chains, draws) or "
                        f"(chains, draws, d), got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (chains, draws) or (chains, draws, d), got shape "
                         f"{arr.shape}" + ("; for one chain pass x[None, :]" if arr.ndim == 1 else ""))
    if arr.shape[0] < 1 or arr.shape[1] < 1 or (arr.ndim == 3 and arr.shape[2] < 1):
        raise ValueError(f"{name} must have at least one chain, one draw and one dimension, got "
                         f"shape {arr.shape}")
    scalar = arr.ndim == 2
    if scalar:
        arr = arr[:, :, None]
    X = _variable_major(arr)
    # A view of a read-only input is read-only too: Numba compiles a kernel separately for a
    # read-only array and refuses one that may write into it (ESS with overwrite), so the kernels
    # get a copy, on both backends alike.
    if not X.flags.writeable:
        X = X.copy()
    return X, scalar


def _variable_major(arr):
    """(chains, draws, d) -> C-contiguous float64 (d, chains, draws), a view when possible. Many
    dimensions: the transposing copy is done a block of draws at a time so that both the reads and
    the writes of a block stay in cache."""
    m, n, d = arr.shape
    if d < 8:
        return np.ascontiguousarray(np.moveaxis(arr, 2, 0), dtype=np.float64)
    X = np.empty((d, m, n))
    block = max(512, n // 32)
    for c in range(m):
        for i in range(0, n, block):
            X[:, c, i:i + block] = arr[c, i:i + block, :].T
    return X


def _out(values, scalar):
    values = np.asarray(values, dtype=np.float64)
    return float(values[0]) if scalar else values


def _warn_nan(result, X, what, min_chains=1, min_draws=4, undefined="NaN", stacklevel=3):
    """Warn once, naming the reason, for every variable whose result is NaN. ``min_draws``,
    ``min_chains``: what the statistic needs; ``undefined``: how the message names the result."""
    result = np.atleast_1d(result)
    bad = np.flatnonzero(np.isnan(result))
    if bad.size == 0:
        return
    d, m, n = X.shape
    reasons = []
    if n < min_draws:
        reasons.append(f"fewer than {min_draws} draws per chain (got {n})")
    if m < min_chains:
        reasons.append(f"at least {min_chains} chains are needed (got {m})")
    sub = X[bad]
    if np.isnan(sub).any():
        reasons.append("draws contain NaN")
    if np.isinf(sub).any():
        reasons.append("draws contain inf")
    if not reasons:
        flat = sub.reshape(bad.size, -1)
        if (flat.max(axis=1) == flat.min(axis=1)).any():
            reasons.append("the draws are constant")
        elif (np.abs(flat).max(axis=1) > _SQRT_MAX).any():
            reasons.append("the draws are too large for their squares to be finite")
        else:
            reasons.append("the statistic is undefined for these draws")
    warnings.warn(f"{what} is {undefined} for dimension(s) {bad.tolist()}: {'; '.join(reasons)}",
                  DiagnosticWarning, stacklevel=stacklevel)


def _valid_mask(X, min_draws=4, min_chains=1):
    """Variables ArviZ accepts: no NaN, enough draws and chains."""
    d, m, n = X.shape
    if n < min_draws or m < min_chains:
        return np.zeros(d, dtype=bool)
    return ~np.isnan(X).reshape(d, -1).any(axis=1)


def _check_prob(prob, name="prob"):
    """A probability in (0, 1) as a float; a TypeError naming ``name`` for anything that is not a
    real number (a string, None, a list), a ValueError for one outside (0, 1)."""
    if isinstance(prob, np.ndarray) and prob.ndim == 0:
        prob = prob[()]
    if isinstance(prob, (bool, np.bool_)) or not isinstance(prob, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1), got {type(prob).__name__}")
    try:
        p = float(prob)
    except OverflowError:
        raise ValueError(f"{name} must lie in (0, 1), got an integer beyond the range of float64") from None
    if not (0.0 < p < 1.0):
        raise ValueError(f"{name} must lie in (0, 1), got {p!r}")
    return p
