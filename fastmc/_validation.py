"""Input checks shared by the public functions: each error names the argument and what was expected."""
from __future__ import annotations

import numbers

import numpy as np


def as_float_array(name: str, value, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a C-contiguous float64 array, with a TypeError for non-numeric input."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of real numbers ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must contain real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex values")
    arr = np.array(arr, dtype=np.float64, order="C", copy=None)  # keeps 0-d arrays 0-d
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimension(s), got shape {arr.shape}")
    return arr


def as_points(x, dim: int):
    """``x`` (d,) or (n, d) -> (C-contiguous (n, d) float64, whether a single point was given)."""
    X = as_float_array("x", x, ndim=(1, 2))
    single = X.ndim == 1
    X2 = X[None, :] if single else X
    if X2.shape[1] != dim:
        raise ValueError(f"x must have shape (d,) or (n, d) with d = {dim}, got {X.shape}")
    return np.ascontiguousarray(X2), single


def require_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = f" (first at index {tuple(int(i) for i in bad)})" if arr.ndim else ""
        raise ValueError(f"{name} must be finite, found NaN or inf{where}")


def as_int(name: str, value, *, minimum: int) -> int:
    """An integer >= minimum (bools are rejected: ``True`` is not a sample count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def as_positive_float(name: str, value) -> float:
    """A finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def as_seed(seed) -> int:
    """A 64-bit unsigned seed; ``None`` draws fresh entropy (recorded in the result)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or an integer, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


def cholesky_or_raise(name: str, mat: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a symmetric positive-definite matrix, or a ValueError naming it."""
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {mat.shape}")
    require_finite(name, mat)
    scale = max(np.abs(mat).max(), np.finfo(float).tiny)
    if not np.allclose(mat, mat.T, rtol=1e-10, atol=1e-12 * scale):
        raise ValueError(f"{name} must be symmetric")
    try:
        return np.linalg.cholesky(mat)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite") from None


def positive_vector(name: str, value, n: int, axis: str, *, per: str = "") -> np.ndarray:
    """A scalar or an array of shape (n,) (``axis`` names n in the message) -> a C-contiguous (n,)
    float64 array, every element finite and > 0 (``per`` ends that message, e.g. " in every
    dimension")."""
    a = as_float_array(name, value, ndim=(0, 1))
    a = np.full(n, float(a)) if a.ndim == 0 else a
    if a.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({axis},) = ({n},), got {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be finite and > 0{per}")
    return np.ascontiguousarray(a)
