"""Named, shaped and constrained parameters of a target: what the flat vector a sampler moves means.

A sampler moves an unconstrained vector ``u`` of shape (d,). A :class:`Layout` cuts it into
named blocks (:class:`Param`), each with a shape, optional ArviZ dims and a transform from the
real line to the parameter's support:

==============  ======================  ===========================================
transform       x (constrained)         log |dx/du|
==============  ======================  ===========================================
identity        u                       0
log (lower=a)   a + exp(u)              u
upper=b         b - exp(u)              u
logit (0, 1),   a + (b - a) sigmoid(u)  log(b - a) + log sigmoid(u) + log sigmoid(-u)
interval (a, b)
==============  ======================  ===========================================

These are PyMC's ``log``, ``logodds`` and ``interval`` transforms, so a hand-written target with a
layout has the same unconstrained density as the PyMC model it mirrors. The transforms are
implemented once, in Numba (:func:`constrain_point`), and serve the compiled target wrappers, the
Python targets and the conversion of draws alike.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["Param", "Layout"]

# transform codes of the compiled wrappers
IDENTITY, LOWER, UPPER, INTERVAL = 0, 1, 2, 3
_CODE = {"identity": IDENTITY, "lower": LOWER, "upper": UPPER, "interval": INTERVAL}


@dataclass(frozen=True)
class Param:
    """One named block of a target's parameter vector.

    Parameters
    ----------
    shape : tuple of int or int
        Shape of the parameter (``()`` for a scalar, ``8`` or ``(8,)`` for a vector).
    transform : {None, "identity", "log", "logit"}, optional
        ``"log"``: the parameter is positive (same as ``lower=0``); ``"logit"``: it lies in
        (0, 1) (same as ``lower=0, upper=1``).
    lower, upper : float, optional
        Bounds of the support: one of them gives a log transform, both an interval (scaled
        logit) transform.
    dims : tuple of str or str, optional
        ArviZ dimension names, one per axis of ``shape`` (their labels come from the target's
        ``coords``).

    Notes
    -----
    The log density the user writes is that of the constrained parameters; the library maps the
    unconstrained vector, adds ``log |dx/du|`` and applies the chain rule to the gradient.
    """

    shape: tuple = ()
    transform: str | None = None
    lower: float | None = None
    upper: float | None = None
    dims: tuple | None = None
    name: str = ""
    # set by PyMC layouts: the unconstrained value variable's name and shape, when they differ
    value_name: str | None = None
    value_shape: tuple | None = None

    @property
    def size(self) -> int:
        """Number of constrained values, prod(shape)."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def value_size(self) -> int:
        """Number of unconstrained coordinates the block takes in the flat vector."""
        return int(np.prod(self.unconstrained_shape, dtype=np.int64))

    @property
    def unconstrained_shape(self) -> tuple:
        return self.shape if self.value_shape is None else self.value_shape

    @property
    def unconstrained_name(self) -> str:
        """PyMC's name for the value variable: ``tau_log__`` for a log-transformed ``tau``."""
        if self.value_name is not None:
            return self.value_name
        kind = self.kind
        if kind == "identity":
            return self.name
        suffix = {"lower": "log", "upper": "log", "interval": "interval"}[kind]
        if kind == "interval" and self.lower == 0.0 and self.upper == 1.0:
            suffix = "logodds"
        return f"{self.name}_{suffix}__"

    @property
    def kind(self) -> str:
        """``"identity"``, ``"lower"``, ``"upper"`` or ``"interval"``."""
        if self.lower is not None and self.upper is not None:
            return "interval"
        if self.lower is not None:
            return "lower"
        if self.upper is not None:
            return "upper"
        return "identity"


def _as_shape(where: str, shape) -> tuple:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise TypeError(f"{where} must be a shape: a tuple of non-negative integers, got {shape!r}")
    return tuple(int(s) for s in shape)


def _as_bound(where: str, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite real number, got {value!r}")
    return float(value)


def _as_param(name: str, spec) -> Param:
    """One entry of ``params`` -> a checked Param (see :meth:`Layout.from_params`)."""
    where = f"params[{name!r}]"
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"params keys must be identifiers (parameter names), got {name!r}")
    if isinstance(spec, Param):
        p = spec
    elif isinstance(spec, tuple) and len(spec) == 2 and (spec[1] is None or isinstance(spec[1], str)):
        p = Param(spec[0], spec[1])  # (shape, transform)
    else:
        p = Param(spec)
    shape = _as_shape(f"{where} shape", p.shape)
    lower = _as_bound(f"{where} lower", p.lower)
    upper = _as_bound(f"{where} upper", p.upper)
    t = p.transform
    if t not in (None, "identity", "log", "logit"):
        raise ValueError(f"{where} transform must be None, 'identity', 'log' or 'logit', got {t!r}")
    if t in ("log", "logit") and (lower is not None or upper is not None):
        raise ValueError(f"{where}: give either transform={t!r} or lower/upper bounds, not both")
    if t == "log":
        lower = 0.0
    elif t == "logit":
        lower, upper = 0.0, 1.0
    if lower is not None and upper is not None and not lower < upper:
        raise ValueError(f"{where}: lower ({lower}) must be below upper ({upper})")
    dims = p.dims
    if isinstance(dims, str):
        dims = (dims,)
    if dims is not None:
        if not isinstance(dims, (tuple, list)) or not all(isinstance(s, str) for s in dims):
            raise TypeError(f"{where} dims must be a tuple of str, got {dims!r}")
        dims = tuple(dims)
        if len(dims) != len(shape):
            raise ValueError(f"{where} dims {dims} must name each of the {len(shape)} axes of shape {shape}")
    kind = ("interval" if lower is not None and upper is not None else "lower" if lower is not None
            else "upper" if upper is not None else "identity")
    transform = {"identity": None, "lower": "log", "upper": "log", "interval": "logit"}[kind]
    return Param(shape, transform, lower, upper, dims, name)


class Layout:
    """Names, shapes, dims/coords and transforms of a target's parameters.

    Build one with :meth:`from_params` (targets do, from their ``params`` argument); PyMC targets
    build theirs from the model. The blocks follow each other in the flat vector in the order
    given.

    Attributes
    ----------
    params : tuple of Param
        The blocks of the unconstrained vector, in order.
    coords : dict
        Labels of each named dimension, ``{dim: sequence}``.
    dim : int
        Length of the unconstrained vector, the sum of the blocks' sizes.
    deterministics : tuple of Param
        Further named quantities computed from the parameters (PyMC's ``pm.Deterministic``).
    """

    def __init__(self, params, coords=None, deterministics=()):
        self.params = tuple(params)
        self.coords = {} if coords is None else dict(coords)
        self.deterministics = tuple(deterministics)
        self.dim = sum(p.value_size for p in self.params)
        offsets = np.cumsum([0] + [p.value_size for p in self.params])
        self._slices = [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:])]
        kinds = np.zeros(self.dim, np.int64)
        lo = np.zeros(self.dim)
        hi = np.zeros(self.dim)
        for p, s in zip(self.params, self._slices):
            kinds[s] = _CODE[p.kind]
            lo[s] = 0.0 if p.lower is None else p.lower
            hi[s] = 0.0 if p.upper is None else p.upper
        self.codes, self.lower, self.upper = kinds, lo, hi

    @classmethod
    def from_params(cls, params, dim=None, coords=None) -> "Layout":
        """A layout from a target's ``params`` argument.

        Parameters
        ----------
        params : dict
            ``{name: spec}`` in the order of the flat vector, where ``spec`` is a shape
            (``()``, ``8``, ``(2, 3)``), a pair ``(shape, transform)`` such as ``((), "log")``,
            or a :class:`Param`.
        dim : int, optional
            The target's dimension d: the sizes must add up to it.
        coords : dict, optional
            ``{dim_name: labels}`` for the dims the params name; each list as long as its axis.

        Raises
        ------
        ValueError
            Naming ``params`` when the sizes do not add up to ``dim``, a transform is unknown or a
            dims entry does not match its shape; naming ``coords`` when labels are missing or of
            the wrong length.
        TypeError
            When ``params`` is not a dict or a shape is not a tuple of integers.
        """
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict {{name: shape | (shape, transform) | fastmc.Param}}, "
                            f"got {type(params).__name__}")
        if not params:
            raise ValueError("params must name at least one parameter")
        ps = [_as_param(k, v) for k, v in params.items()]
        coords = _check_coords(coords, ps)
        lay = cls(ps, coords)
        if lay.dim == 0:
            raise ValueError("params must have at least one value (every shape given has size 0)")
        if dim is not None and lay.dim != dim:
            sizes = ", ".join(f"{p.name}: {p.size}" for p in ps)
            raise ValueError(f"params sizes add up to {lay.dim} ({sizes}) but dim is {dim}")
        return lay

    @classmethod
    def default(cls, dim: int) -> "Layout":
        """The layout of a target without ``params``: one vector ``x`` of shape (dim,)."""
        return cls([Param((dim,), name="x")])

    # ------------------------------------------------------------------ names
    @property
    def names(self) -> list:
        """Parameter names in order, then the deterministics'."""
        return [p.name for p in self.params] + [p.name for p in self.deterministics]

    @property
    def has_transforms(self) -> bool:
        return bool(np.any(self.codes != IDENTITY))

    def shapes(self) -> dict:
        """``{name: shape}`` of every constrained quantity (parameters, then deterministics)."""
        return {p.name: p.shape for p in (*self.params, *self.deterministics)}

    def dims(self) -> dict:
        """``{name: dims}`` of every quantity that has dims (constrained and unconstrained names)."""
        out = {}
        for p in (*self.params, *self.deterministics):
            if p.dims is not None:
                out[p.name] = p.dims
                if p.unconstrained_shape == p.shape and p.unconstrained_name != p.name:
                    out[p.unconstrained_name] = p.dims
        return out

    def unconstrained_labels(self) -> list:
        """Labels of the d coordinates of the flat vector: ``mu``, ``tau_log__``, ``theta[3]``."""
        return [lab for p in self.params for lab in _labels(p.unconstrained_name, p.unconstrained_shape)]

    def labels(self, values: dict) -> tuple[list, list]:
        """Labels and (chains, draws) columns of a dict of ``(chains, draws, *shape)`` arrays:
        ``theta[3]`` for element 3 of ``theta``, ``beta[1, 2]`` for a matrix."""
        names, cols = [], []
        for name, a in values.items():
            names += _labels(name, a.shape[2:])
            cols.append(a.reshape(a.shape[0], a.shape[1], -1))
        return names, cols

    # ------------------------------------------------------------------ values
    def split(self, draws) -> dict:
        """The flat vectors (..., d) -> ``{unconstrained name: (..., *unconstrained shape)}``."""
        draws = np.asarray(draws)
        lead = draws.shape[:-1]
        return {p.unconstrained_name: draws[..., s].reshape(lead + p.unconstrained_shape)
                for p, s in zip(self.params, self._slices)}

    def constrain(self, draws) -> dict:
        """The flat unconstrained vectors (..., d) -> ``{name: (..., *shape)}`` in the
        constrained space, deterministics included (PyMC layouts)."""
        draws = np.asarray(draws, dtype=np.float64)
        if draws.shape[-1] != self.dim:
            raise ValueError(f"draws must have last axis d = {self.dim}, got shape {draws.shape}")
        lead = draws.shape[:-1]
        flat = np.ascontiguousarray(draws.reshape(-1, self.dim))
        x = constrain_rows(flat, self.codes, self.lower, self.upper) if self.has_transforms else flat
        return {p.name: x[:, s].reshape(lead + p.shape) for p, s in zip(self.params, self._slices)}

    def unconstrain(self, values: dict) -> np.ndarray:
        """``{name: value}`` in the constrained space -> the flat vector (d,): e.g. to give a
        start point ``x0`` in the parameters' own units.

        Raises
        ------
        ValueError
            When a name is missing or unknown, a shape is wrong, or a value is outside its
            parameter's support.
        """
        if not isinstance(values, dict):
            raise TypeError(f"values must be a dict {{name: array}}, got {type(values).__name__}")
        want = {p.name for p in self.params}
        if set(values) != want:
            raise ValueError(f"values must give exactly the parameters {sorted(want)}, got {sorted(values)}")
        u = np.empty(self.dim)
        for p, s in zip(self.params, self._slices):
            if p.unconstrained_shape != p.shape:
                raise ValueError(f"{p.name} has no closed-form inverse transform here")
            v = np.asarray(values[p.name], dtype=np.float64)
            if v.shape != p.shape:
                raise ValueError(f"values[{p.name!r}] must have shape {p.shape}, got {v.shape}")
            v = v.ravel()
            a, b = p.lower, p.upper
            with np.errstate(all="ignore"):
                if p.kind == "identity":
                    w = v
                elif p.kind == "lower":
                    w = np.log(v - a)
                elif p.kind == "upper":
                    w = np.log(b - v)
                else:
                    t = (v - a) / (b - a)
                    w = np.log(t) - np.log1p(-t)
            if not np.all(np.isfinite(w)):
                raise ValueError(f"values[{p.name!r}] must lie inside its support ({p.kind}: lower={a}, upper={b})")
            u[s] = w
        return u


def _labels(name: str, shape: tuple) -> list:
    if shape == ():
        return [name]
    return [f"{name}[{', '.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


def _check_coords(coords, params) -> dict:
    if coords is None:
        coords = {}
    if not isinstance(coords, dict):
        raise TypeError(f"coords must be a dict {{dim: labels}}, got {type(coords).__name__}")
    out = {}
    for k, v in coords.items():
        if not isinstance(k, str):
            raise TypeError(f"coords keys must be dimension names (str), got {k!r}")
        out[k] = np.asarray(v)
        if out[k].ndim != 1:
            raise ValueError(f"coords[{k!r}] must be a 1-d sequence of labels, got shape {out[k].shape}")
    for p in params:
        for ax, dname in enumerate(p.dims or ()):
            if dname in out and len(out[dname]) != p.shape[ax]:
                raise ValueError(f"coords[{dname!r}] has {len(out[dname])} labels but axis {ax} of "
                                 f"params[{p.name!r}] has length {p.shape[ax]}")
    return out


# ---------------------------------------------------------------------------------------------
# The transforms, once, in Numba: the compiled wrappers call constrain_point inside the sampler's
# loop; constrain_rows converts draws; Python targets call constrain_point too.

@numba.njit(cache=True, nogil=True, inline="always")
def _softplus(u):
    # log(1 + e^u) without overflow
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


@numba.njit(cache=True, nogil=True)
def constrain_point(u, x, dxdu, dlj, codes, lo, hi):
    """Constrained x (d,), dx/du (d,) and d log|J| / du (d,) at u (d,); returns log|J|."""
    lj = 0.0
    for i in range(u.size):
        c = codes[i]
        ui = u[i]
        if c == 0:
            x[i] = ui
            dxdu[i] = 1.0
            dlj[i] = 0.0
        elif c == 1 or c == 2:
            e = math.exp(ui)
            x[i] = lo[i] + e if c == 1 else hi[i] - e
            dxdu[i] = e if c == 1 else -e
            dlj[i] = 1.0
            lj += ui
        else:
            w = hi[i] - lo[i]
            if ui >= 0.0:
                s = 1.0 / (1.0 + math.exp(-ui))
            else:
                e = math.exp(ui)
                s = e / (1.0 + e)
            x[i] = lo[i] + w * s
            dxdu[i] = w * s * (1.0 - s)
            dlj[i] = 1.0 - 2.0 * s
            lj += math.log(w) - _softplus(-ui) - _softplus(ui)
    return lj


@numba.njit(cache=True, nogil=True)
def constrain_rows(U, codes, lo, hi):
    """Rows of U (n, d) mapped to the constrained space, (n, d)."""
    n, d = U.shape
    X = np.empty((n, d))
    dx = np.empty(d)
    dl = np.empty(d)
    for r in range(n):
        constrain_point(U[r], X[r], dx, dl, codes, lo, hi)
    return X
