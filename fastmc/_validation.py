"""Input checks shared by the public functions: each error names the argument and what was expected."""
from __future__ import annotations

import numbers

import numpy as np


#: Largest value of the int64 counts and sizes the kernels take.
INT64_MAX = 2**63 - 1
#: Smallest positive normal float64: below it a step, scale or temperature is a subnormal, whose
#: reciprocal overflows and whose products lose their precision.
TINY = float(np.finfo(np.float64).tiny)


def as_float_array(name: str, value, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a C-contiguous float64 array, with a TypeError for non-numeric input and a
    ValueError for numbers beyond float64's range (Python integers such as ``10**400``)."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of real numbers ({exc})") from None
    if arr.dtype == object and _holds_huge_int(arr):
        raise ValueError(f"{name} holds an integer beyond the range of float64 (about 1.8e308)")
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


def _holds_huge_int(arr: np.ndarray) -> bool:
    """Whether an object array holds a Python integer that float64 cannot represent (NumPy makes
    integers beyond 64 bits objects rather than floats)."""
    for v in arr.flat:
        if isinstance(v, numbers.Integral) and not isinstance(v, bool):
            try:
                float(v)
            except OverflowError:
                return True
    return False


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


def as_int(name: str, value, *, minimum: int, maximum: int = INT64_MAX) -> int:
    """An integer in [minimum, maximum] (bools are rejected: ``True`` is not a sample count). The
    default maximum is what the kernels' int64 holds, so a Python integer beyond 64 bits is a
    ValueError here, on every backend, instead of an OverflowError or a binding's type error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        shown = value if value.bit_length() <= 80 else f"an integer of {value.bit_length()} bits"
        bound = "2**63 - 1" if maximum == INT64_MAX else maximum
        raise ValueError(f"{name} must be <= {bound}, got {shown}")
    return value


def as_bool(name: str, value) -> bool:
    """A bool (``True``/``False`` or a NumPy bool); anything else is a TypeError, since ``"no"``
    or ``0.5`` would otherwise count as true."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def as_real(name: str, value) -> float:
    """A real number as a float: TypeError for other types, ValueError for an integer beyond
    float64's range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got an integer beyond the range of float64") from None


def as_positive_float(name: str, value) -> float:
    """A finite real number > 0 that is a normal float64 (>= 2.2e-308): a subnormal step, scale
    or rate has an infinite reciprocal and makes the kernels' arithmetic NaN or a no-op."""
    value = as_real(name, value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    if value < TINY:
        raise ValueError(f"{name} must be at least {TINY:.3g} (the smallest normal float64), got {value:.3g}")
    return value


def as_probability(name: str, value, *, closed: bool = False) -> float:
    """A real number in (0, 1), or in [0, 1] with ``closed``."""
    span = "[0, 1]" if closed else "(0, 1)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in {span}, got {type(value).__name__}")
    try:
        p = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be in {span}, got an integer beyond the range of float64") from None
    if not (0.0 <= p <= 1.0 if closed else 0.0 < p < 1.0):
        raise ValueError(f"{name} must be in {span}, got {p}")
    return p


def as_choice(name: str, value, choices: tuple[str, ...]) -> str:
    """One of the strings ``choices``: TypeError for a non-string, ValueError for another string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def as_temperature(value) -> float:
    """A temperature T: a positive normal float64 whose reciprocal 1/T (the kernels' inverse
    temperature) is normal and finite too, i.e. T in [2.2e-308, 4.5e307]."""
    t = as_positive_float("temperature", value)
    if not 1.0 / t >= TINY:
        raise ValueError(f"temperature must be at most {1.0 / TINY:.3g} (1/temperature must be a normal float64), "
                         f"got {t:.3g}")
    return t


def as_seed(seed) -> int:
    """A 64-bit unsigned seed; ``None`` draws fresh entropy (recorded in the result)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None or an integer, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        shown = seed if seed.bit_length() <= 80 else f"an integer of {seed.bit_length()} bits"
        raise ValueError(f"seed must be in [0, 2**64), got {shown}")
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
    if np.any(a < TINY):
        raise ValueError(f"{name} must be at least {TINY:.3g} (the smallest normal float64){per}, "
                         f"got {a.min():.3g}")
    return np.ascontiguousarray(a)


def normal_diagonal(name: str, value, dense: bool) -> None:
    """Reject a diagonal (inverse) metric with a subnormal entry: its inverse, the mass, is inf.
    ``value`` is the user's array; only the diagonal of a dense one is read. Shapes and signs are
    checked by the caller."""
    a = as_float_array(name, value)
    diag = np.diagonal(a, axis1=-2, axis2=-1) if dense and a.ndim >= 2 else a
    small = (diag > 0) & (diag < TINY)
    if np.any(small):
        raise ValueError(f"{name} must be at least {TINY:.3g} (the smallest normal float64) on its diagonal, "
                         f"got {diag[small].min():.3g}")


def refuse_if_too_large(chains: int, iterations: int, d: int) -> None:
    """A MemoryError naming the counts when the draws alone (chains x iterations x d doubles)
    exceed the machine's memory, before anything of size chains or iterations is allocated (NumPy
    would otherwise fail first, with "array is too big" or "Maximum allowed size exceeded"). The
    sampling runtime's allocation makes the exact check later."""
    from ._runtime import _available_memory

    need = chains * iterations * d * 8
    avail = _available_memory()
    if avail is not None and need > avail:
        raise MemoryError(f"the draws of this run need {need / 2**30:.3g} GiB ({chains} chains x {iterations} "
                          f"iterations x {d} dimensions) and the machine has {avail / 2**30:.1f} GiB: run fewer "
                          "chains or iterations, or several shorter runs with resume=")
