"""Targets users write themselves: a C function pointer, a Numba function, or plain Python.

The C signature is the one nutpie and walnutpie use, so a target moves between them unchanged::

    int logp(size_t dim, const double* x, double* grad, double* lp, void* data)

It writes log pi(x) to ``*lp`` and its gradient to ``grad[0:dim]`` and returns 0; a positive
return means "outside the support" (the proposal is rejected and counted, never a crash); a
negative return stops sampling after the current iteration of every chain. The C++ kernels call
it directly from every chain thread with the GIL released, so it must be thread-safe (pure).
"""
from __future__ import annotations

import ctypes
import numbers
import warnings

import numpy as np

from .. import _backends
from .._validation import as_int
from ..layout import Layout
from ._base import NumbaTarget, logp_grad_batch
from .numba_glue import (CANARIES, CANARY, CHECK_GRAD, CHECK_LOGP, CHECK_OUT_OF_BOUNDS, RAISED, make_cfunc,
                         make_cfunc_target, make_njit_target)

__all__ = ["Target", "GradientCheckWarning"]

_CPROTO = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
                           ctypes.c_size_t)


class GradientCheckWarning(UserWarning):
    """The target's gradient disagrees with central differences at the start point."""


def _as_data(data) -> np.ndarray:
    if data is None:
        return np.zeros(1)
    if not isinstance(data, np.ndarray) or data.dtype != np.float64 or not data.flags.c_contiguous:
        raise TypeError("data must be None or a C-contiguous float64 numpy array "
                        "(pack several parameters into one array)")
    return data


def _address(fn) -> int:
    """The address of a Numba cfunc, a ctypes function pointer, or an int."""
    from numba.core.ccallback import CFunc

    if isinstance(fn, CFunc):
        _check_cfunc_signature(fn)
        return fn.address
    if isinstance(fn, ctypes._CFuncPtr):
        return ctypes.cast(fn, ctypes.c_void_p).value
    if isinstance(fn, numbers.Integral) and not isinstance(fn, bool):
        if int(fn) <= 0:
            raise ValueError("cfunc_or_address must be a non-null function address")
        return int(fn)
    raise TypeError("cfunc_or_address must be a numba @cfunc, a ctypes function pointer or an integer address "
                    f"(for cffi: int(ffi.cast('uintptr_t', fn))), got {type(fn).__name__}")


def _check_cfunc_signature(fn) -> None:
    from numba import types

    want = types.intc(types.uintp, types.CPointer(types.float64), types.CPointer(types.float64),
                      types.CPointer(types.float64), types.voidptr)
    if fn._sig != want:
        raise TypeError(f"cfunc_or_address has signature {fn._sig}; expected {want}, i.e. "
                        "int logp(size_t dim, const double* x, double* grad, double* lp, void* data)")


_FLOAT_TYPES = (float, np.float64)


def _layout_and_dim(params, dim, coords):
    """(Layout or None, dim) from a constructor's ``params``, ``dim`` and ``coords``."""
    if params is None:
        if coords is not None:
            raise ValueError("coords needs params (the dims it labels are declared there)")
        if dim is None:
            raise TypeError("dim is required (or params, whose sizes give it)")
        return None, dim
    if dim is not None:
        dim = as_int("dim", dim, minimum=1)
    layout = Layout.from_params(params, dim, coords)
    return layout, layout.dim


def _as_logp(value, what: str) -> float:
    """``value`` as the float the C++ side reads, or a TypeError naming ``what`` and the type."""
    try:
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
            return float(value.reshape(()))
    except OverflowError:  # an integer beyond float64 (10**400)
        raise ValueError(f"{what} must be a real number within float64's range (the log density), got an "
                         f"integer of {int(value).bit_length()} bits") from None
    shown = f" {value!r}" if isinstance(value, (str, bytes)) else ""
    raise TypeError(f"{what} must be a real number (the log density), got {type(value).__name__}{shown}")


def _as_logp_and_grad(out, dim: int):
    """``out`` as (float, float64 (dim,)), or a TypeError/ValueError saying what was wrong."""
    if isinstance(out, (str, bytes)) or not isinstance(out, (tuple, list)):
        raise TypeError(f"logp_and_grad must return a tuple (logp, grad), got {type(out).__name__}")
    if len(out) != 2:
        raise ValueError(f"logp_and_grad must return a tuple (logp, grad), got a {type(out).__name__} of "
                         f"length {len(out)}")
    lp = _as_logp(out[0], "the logp returned by logp_and_grad")
    g = out[1]
    if isinstance(g, (str, bytes)):
        raise TypeError(f"the grad returned by logp_and_grad must be an array of shape ({dim},), got {type(g).__name__}")
    try:
        g = np.asarray(g)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"the grad returned by logp_and_grad must be an array of shape ({dim},) ({exc})") from None
    if g.dtype.kind not in "biuf":
        raise TypeError(f"the grad returned by logp_and_grad must contain real numbers, got dtype {g.dtype}")
    if g.shape != (dim,):
        raise ValueError(f"the grad returned by logp_and_grad must have shape ({dim},), got {g.shape}")
    return lp, np.ascontiguousarray(g, dtype=np.float64)


def _checked_python_fn(fn, dim: int, with_grad: bool):
    """``fn`` wrapped so that a return of the wrong type or shape raises an error saying what was
    wrong, instead of the C++ side's cast error ("Unable to cast ... to C++ type '?'").

    The C++ driver calls the wrapper on every evaluation, so the usual return (a float or
    numpy.float64, and an ndarray of shape (dim,)) passes through unchanged after a few class and
    shape checks; the C++ side converts the array to float64 as before. Anything else is checked
    and converted to those types, as the C++ casts would, or rejected with a TypeError/ValueError.
    """
    shape = (dim,)
    floats = _FLOAT_TYPES
    ndarray = np.ndarray

    if with_grad:
        def logp_and_grad(x):
            out = fn(x)
            if out.__class__ is tuple and len(out) == 2:
                lp, g = out
                if lp.__class__ in floats and g.__class__ is ndarray and g.shape == shape:
                    return out
            return _as_logp_and_grad(out, dim)

        return logp_and_grad

    def logp(x):
        lp = fn(x)
        if lp.__class__ in floats:
            return lp
        return _as_logp(lp, "logp")

    return logp


_EPS = np.finfo(float).eps
#: Relative finite-difference step: eps^(1/3) balances the truncation error of a central
#: difference (~ h^2) against its rounding error (~ eps / h).
_REL_STEP = _EPS ** (1.0 / 3.0)
#: Relative tolerance on |grad - finite difference| beyond the estimated difference error.
_RTOL = 1e-4
#: Rounding error of a log density evaluation, in units of eps * max(|logp|, 1): generous, since a
#: sum of many terms can lose more than one ulp of its result.
_ROUNDING_ULPS = 1e3


def gradient_problem(logp, x, lp, g):
    """Compare a gradient with finite differences of the log density; describe the worst mismatch.

    Parameters
    ----------
    logp : callable
        ``logp(X (n, d)) -> (n,)``, the log density at a batch of points (-inf outside the support).
    x : ndarray, shape (d,)
        The point, with a finite log density.
    lp : float
        ``logp`` at ``x``.
    g : ndarray, shape (d,)
        The gradient under test.

    Returns
    -------
    str or None
        None when every coordinate agrees; otherwise the worst coordinate and why.

    Notes
    -----
    Coordinate i uses the step ``h_i = eps^(1/3) * max(|x_i|, 1)``, rounded so that ``x_i + h_i``
    is exact, and differences with steps h and 2h. The tolerance is what the finite difference
    itself cannot resolve: the truncation error, estimated from the two steps (it grows with the
    curvature), plus the rounding error of the log density divided by h (it grows with |logp|,
    which on an ill-conditioned target is dominated by its stiffest coordinates), plus ``1e-4``
    relative to the gradient. Near the edge of the support, where one side is -inf, a one-sided
    difference is used and said so; a coordinate with neither side finite cannot be checked and is
    reported. A non-finite gradient where the log density is finite is always reported. No NumPy
    floating-point warning escapes.
    """
    d = x.size
    with np.errstate(all="ignore"):
        bad = np.flatnonzero(~np.isfinite(g))
        if bad.size:
            i = int(bad[0])
            return f"coordinate {i}: the gradient is {g[i]} where the log density is finite ({lp:.6g})"
        h = _REL_STEP * np.maximum(np.abs(x), 1.0)
        h = (x + h) - x  # exactly representable steps
        steps = np.concatenate([h, -h, 2 * h, -2 * h])
        pts = np.tile(x, (4 * d, 1))
        pts[np.arange(4 * d), np.tile(np.arange(d), 4)] += steps
        f_p1, f_m1, f_p2, f_m2 = np.asarray(logp(pts), dtype=float).reshape(4, d)
        plus = np.isfinite(f_p1) & np.isfinite(f_p2)
        minus = np.isfinite(f_m1) & np.isfinite(f_m2)
        central = plus & minus
        fd = np.where(central, (f_p1 - f_m1) / (2 * h),
                      np.where(plus, (f_p1 - lp) / h, (lp - f_m1) / h))
        fd2 = np.where(central, (f_p2 - f_m2) / (4 * h),
                       np.where(plus, (f_p2 - lp) / (2 * h), (lp - f_m2) / (2 * h)))
        # |fd - fd2| is 3x the h^2 error of a central difference and 1x the h error of a one-sided one
        trunc = np.abs(fd - fd2)
        f_all = np.stack([f_p1, f_m1, f_p2, f_m2])
        fmax = np.maximum(np.max(np.where(np.isfinite(f_all), np.abs(f_all), 0.0), axis=0), abs(lp))
        rounding = _ROUNDING_ULPS * _EPS * np.maximum(fmax, 1.0) / h
        tol = _RTOL * np.maximum(np.abs(g), np.abs(fd)) + 10.0 * (trunc + rounding)
        excess = np.where(plus | minus, np.abs(g - fd) / tol, 0.0)
    i = int(np.argmax(excess))
    if excess[i] > 1.0:
        how = "central difference" if central[i] else (
            f"one-sided difference: the start point is within {2 * h[i]:.3g} of the edge of the support")
        return (f"disagrees with finite differences at coordinate {i}: gradient {g[i]:.6g}, "
                f"finite difference {fd[i]:.6g} ({how})")
    unchecked = np.flatnonzero(~(plus | minus))
    if unchecked.size:
        i = int(unchecked[0])
        return (f"coordinate {i} could not be checked: the log density is not finite at x[{i}] +- {h[i]:.3g} "
                "(the start point is at the edge of the support)")
    return None


class Target:
    """A log density pi(x) (and its gradient) written by the user.

    Build one with :meth:`from_cfunc`, :meth:`from_numba` or :meth:`from_python`, then pass it to
    :func:`fastmc.rwmh` or :func:`fastmc.hmc` like a :class:`fastmc.GaussianMixture`.

    Attributes
    ----------
    dim : int
        Dimension d of x.
    kind : str
        ``"cfunc"``, ``"numba"`` or ``"python"``.
    check_gradient : bool
        Whether samplers compare the gradient with central differences at the start point and warn
        (:class:`GradientCheckWarning`) naming the worst coordinate.
    layout : Layout
        Names, shapes, dims/coords and transforms of the parameters (from ``params``; one vector
        ``x`` of shape (dim,) without). Samplers move the unconstrained vector; results give the
        named, constrained draws (``result.posterior``).
    """

    def __init__(self, kind, dim, *, address=None, data=None, fn=None, with_grad=True, check_gradient=True,
                 layout=None):
        self.kind = kind
        # a point of more than 2**31 - 1 coordinates (16 GiB) is beyond any run: refused here rather
        # than by NumPy ("array is too big") when the first point is allocated
        self.dim = as_int("dim", dim, minimum=1, maximum=2**31 - 1)
        self.layout = Layout.default(self.dim) if layout is None else layout
        self.check_gradient = bool(check_gradient)
        self.has_grad = with_grad
        self._address = address
        self._data = _as_data(data)
        self._fn = fn
        self._py_call = None  # a Python target's fn, wrapped to check what it returns
        self._numba = None
        self._keepalive = None
        # (kind, args, kwargs) that rebuild this target in another process (see _travel); None for
        # a C address or @cfunc, which cannot travel
        self._recipe = None
        self._blob = None

    def __repr__(self) -> str:
        return f"Target(kind={self.kind!r}, dim={self.dim})"

    def __reduce__(self):
        # pickled as its recipe and rebuilt once per process (compiled code does not pickle)
        from ._travel import reduce_target

        return reduce_target(self)

    def __copy__(self):
        # a plain shallow copy (copy.copy would otherwise go through __reduce__ and the cache)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._blob = None
        return new

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_cfunc(cls, cfunc_or_address, dim=None, data=None, *, params=None, coords=None,
                   check_gradient=True) -> "Target":
        """A target from a C function pointer ``int logp(size_t dim, const double* x, double* grad,
        double* lp, void* data)``.

        Parameters
        ----------
        cfunc_or_address : numba CFunc, ctypes function pointer or int
            The function (a Numba ``@cfunc`` is checked against the signature).
        dim : int
            Dimension d.
        data : ndarray of float64, optional
            Passed to the function as ``void* data`` (its buffer address); kept alive by the Target.
        params : dict, optional
            Named parameters in the order of x, ``{name: shape | (shape, transform) |
            fastmc.Param}``, e.g. ``{"mu": (), "tau": ((), "log"), "theta": (8,)}``; their sizes
            must add up to ``dim`` (which may then be omitted). With a transform (``"log"``,
            ``"logit"``, or ``Param(lower=, upper=)``) the function receives the constrained
            values and the library samples the unconstrained ones, adding the log Jacobian and
            applying the chain rule in compiled code. See :class:`fastmc.Layout`.
        coords : dict, optional
            ``{dim_name: labels}`` for the ``dims`` of the params (ArviZ coordinates).
        check_gradient : bool
            Compare the gradient with central differences at the start point (warning).
        """
        address = _address(cfunc_or_address)
        layout, dim = _layout_and_dim(params, dim, coords)
        keep = cfunc_or_address
        if layout is not None and layout.has_transforms:
            from .transformed import transformed_cfunc

            keep = (cfunc_or_address, transformed_cfunc(address, layout))
            address = keep[1].address
        t = cls("cfunc", dim, address=address, data=data, check_gradient=check_gradient, layout=layout)
        t._keepalive = keep
        return t

    @classmethod
    def from_numba(cls, fn, dim=None, data=None, *, params=None, coords=None, check_gradient=True) -> "Target":
        """A target from a Numba ``@njit`` function ``fn(x, grad, data) -> logp``.

        ``x`` and ``grad`` are float64 arrays of shape (dim,); ``fn`` writes the gradient into
        ``grad`` and returns log pi(x) (-inf outside the support). The Numba backend inlines it into
        its kernels; the C++ backend calls a ``@cfunc`` compiled from it, with the GIL released.

        Parameters
        ----------
        fn : numba dispatcher
        dim : int, optional
            Required unless ``params`` gives it.
        data : ndarray of float64, optional
            Passed as the third argument (a length-1 array of zeros when None).
        params, coords : dict, optional
            Named, shaped and transformed parameters, as in :meth:`from_cfunc`: with a
            transform, ``fn`` receives the constrained values (the ones it names) and returns
            their log density and its gradient; the library adds the Jacobian.
        check_gradient : bool

        Examples
        --------
        Eight schools, centred, with tau > 0 written as the user thinks of it::

            @numba.njit
            def logp(x, grad, data):      # x = [mu, tau, theta[0..7]], tau > 0
                ...
            t = fastmc.Target.from_numba(logp, data=y_and_sigma,
                                         params={"mu": (), "tau": ((), "log"), "theta": (8,)})
        """
        from numba.core.registry import CPUDispatcher

        if not isinstance(fn, CPUDispatcher):
            raise TypeError(f"fn must be a numba @njit function fn(x, grad, data) -> float, got {type(fn).__name__}")
        original = fn  # an njit function pickles (by reference, or by value with cloudpickle)
        layout, dim = _layout_and_dim(params, dim, coords)
        if layout is not None and layout.has_transforms:
            from .transformed import transformed_njit

            fn = transformed_njit(fn, layout)
        t = cls("numba", dim, fn=fn, data=data, check_gradient=check_gradient, layout=layout)
        t._recipe = ("numba", (original, dim, data), dict(params=params, coords=coords, check_gradient=check_gradient))
        x = np.zeros(t.dim)
        g = np.zeros(t.dim + CANARIES)[:t.dim]  # a write past the end lands in this buffer, not the heap
        try:
            out = fn(x, g, t._data)  # compiles, and checks the signature at a finite point
        except Exception as exc:
            raise TypeError(f"fn must accept (x: float64[:] of shape ({t.dim},), grad: float64[:], data: float64[:]) "
                            f"and return a float; calling it failed: {exc}") from exc
        if not isinstance(out, numbers.Real):
            raise TypeError(f"fn must return the log density as a float, got {type(out).__name__}")
        return t

    @classmethod
    def from_python(cls, logp_and_grad=None, dim=None, *, logp=None, params=None, coords=None,
                    check_gradient=True) -> "Target":
        """A target from plain Python: the slow path, for quick experiments.

        Parameters
        ----------
        logp_and_grad : callable, optional
            ``f(x (d,)) -> (logp, grad (d,))``. Needed by HMC.
        dim : int, optional
            Required unless ``params`` gives it.
        logp : callable, optional
            ``f(x (d,)) -> logp`` instead, enough for RWMH.
        params, coords : dict, optional
            Named, shaped and transformed parameters, as in :meth:`from_cfunc`.
        check_gradient : bool

        Notes
        -----
        Every call holds the GIL, so chains run one after the other (C++ backend only). A Python
        exception inside the function stops sampling and is re-raised with the chain and iteration
        in a note; the draws done so far are on it as ``exc.partial_result``.
        """
        if (logp_and_grad is None) == (logp is None):
            raise TypeError("give exactly one of logp_and_grad (returning (logp, grad)) and logp")
        fn = logp_and_grad if logp_and_grad is not None else logp
        if not callable(fn):
            raise TypeError(f"{'logp_and_grad' if logp is None else 'logp'} must be callable")
        if dim is None and params is None:
            raise TypeError("dim is required (or params, whose sizes give it)")
        layout, dim = _layout_and_dim(params, dim, coords)
        t = cls("python", dim, fn=fn, with_grad=logp is None, check_gradient=check_gradient, layout=layout)
        t._recipe = ("python", (logp_and_grad, dim), dict(logp=logp, params=params, coords=coords,
                                                          check_gradient=check_gradient))
        t._py_call = _checked_python_fn(fn, t.dim, t.has_grad)
        if layout is not None and layout.has_transforms:
            from .transformed import transformed_python

            t._py_call = transformed_python(t._py_call, layout, t.has_grad)
        return t

    @classmethod
    def from_pymc(cls, model, *, freeze=True, jitter=True, fastmath=False, check_gradient=False):
        """A PyMC model's joint log density in the unconstrained space, compiled to fastmc's C ABI
        through PyTensor's Numba backend; see :func:`fastmc.targets.pymc.from_pymc` (the ``pymc``
        extra)."""
        from .pymc import from_pymc

        return from_pymc(model, freeze=freeze, jitter=jitter, fastmath=fastmath, check_gradient=check_gradient)

    @classmethod
    def from_stan(cls, program, data=None, *, inits=None, cache_dir=None, compiler=None, cxxflags=(), data_seed=0,
                  check_gradient=False):
        """A Stan program and its data, compiled with stanc and the system C++ compiler into
        fastmc's C ABI (Stan's own autodiff, called from every chain thread); see
        :func:`fastmc.targets.stan.from_stan` (the ``stan`` extra)."""
        from .stan import from_stan

        return from_stan(program, data, inits=inits, cache_dir=cache_dir, compiler=compiler, cxxflags=cxxflags,
                         data_seed=data_seed, check_gradient=check_gradient)

    @classmethod
    def from_factory(cls, factory, *args, **kwargs):
        """The target ``factory(*args, **kwargs)`` returns, which travels to other processes as
        that call: an executor's worker calls ``factory`` itself, once per process.

        For a target that cannot be pickled (a C address or ``@cfunc``, or one built from objects
        that do not pickle) and is needed on :func:`fastmc.nuts`'s ``executor=`` workers, or in
        :func:`fastmc.map_fits`.

        Parameters
        ----------
        factory : callable
            A function of an importable module (the workers import it by name) returning a
            :class:`Target` or a :class:`~fastmc.GaussianMixture`; called here once as well.
        *args, **kwargs
            Its arguments; they must pickle.

        Returns
        -------
        Target or GaussianMixture
            What ``factory`` returned, which now pickles as the call.
        """
        from .mixture import GaussianMixture

        if not callable(factory):
            raise TypeError(f"factory must be a callable returning a target, got {type(factory).__name__}")
        target = factory(*args, **kwargs)
        if not isinstance(target, (Target, GaussianMixture)):
            raise TypeError(f"factory must return a fastmc.Target or fastmc.GaussianMixture, got "
                            f"{type(target).__name__}")
        target._recipe = ("factory", (factory, *args), kwargs)
        target._blob = None
        return target

    def with_data(self, data) -> "Target":
        """The same log density with new ``data``, sharing the compiled code: one compilation for
        many data sets (simulation-based calibration, cross-validation, bootstraps).

        Parameters
        ----------
        data : ndarray of float64, shape of the target's data
            C-contiguous; the function's ``data`` argument (kept alive by the new target).

        Returns
        -------
        Target
            A new target; this one is unchanged (the two can sample at the same time).
        """
        if self.kind == "python":
            raise TypeError("a Target.from_python has no data array: close over the data in the function")
        new = _as_data(data)
        if new.shape != self._data.shape:
            raise ValueError(f"data must have the shape of the target's data, {self._data.shape}, got {new.shape}")
        # compiled here, once, and shared by every copy (what is not compiled yet compiles per
        # copy): the C entry point, through which start points are evaluated whenever the
        # extension is there, and the Numba twin's functions when "auto" samples on Numba
        if self.kind == "numba" and self._address is None and "cpp" in _backends.available_backends():
            self._cpp_spec()
        if _backends.for_target(self, "auto").name != "cpp":
            self._numba_target()
        t = self.__copy__()
        t._data = new
        if self._numba is not None:  # the Numba kernels' record, its data swapped (no new compilation)
            t._numba = {k: v._replace(tdata=new) for k, v in self._numba.items()}
        if self._recipe is not None and self._recipe[0] in ("numba", "python"):
            kind, args, kwargs = self._recipe
            t._recipe = (kind, (args[0], args[1], new), kwargs)
        else:
            t._recipe = None if self._recipe is None else ("with_data", (self, {"data": new}), {})
        return t

    # ------------------------------------------------------------ kernel views
    def _cpp_spec(self, checked=False):
        if self.kind == "python":
            return ("python", self._py_call, self.has_grad, self.dim)
        if self.kind == "numba" and self._address is None:
            self._keepalive = make_cfunc(self._fn, self._data.shape)
            self._address = self._keepalive.address
        return ("cfunc", self._address, self._data.ctypes.data, self.dim, bool(checked))

    def _guarded_call(self, x):
        """(return code, log density, gradient buffer (d + CANARIES,)) of one call at x from
        Python, the buffer's tail guarded as the checked mode guards it."""
        buf = np.full(self.dim + CANARIES, CANARY)
        x = np.array(x, dtype=np.float64)
        if self.kind == "numba":
            return 0, float(self._fn(x, buf[:self.dim], self._data)), buf
        lp = np.zeros(1)
        rc = _CPROTO(self._cpp_spec()[1])(self.dim, x.ctypes.data, buf.ctypes.data, lp.ctypes.data,
                                         self._data.ctypes.data)
        return int(rc), float(lp[0]), buf

    def _check_message(self, code, x):
        """What the checked mode found at x (code CHECK_*), naming the coordinate."""
        _, lp, buf = self._guarded_call(x)
        d = self.dim
        if code == CHECK_OUT_OF_BOUNDS:
            past = [i for i in range(CANARIES) if buf[d + i] != CANARY]
            where = ", ".join(f"grad[{d + i}]" for i in past) or f"past grad[{d - 1}]"
            return f"the target wrote past the end of its gradient ({where}; the gradient has d = {d} elements)"
        if code == CHECK_LOGP:
            return (f"the target returned a log density of {lp} as a number (return a positive code, or -inf, "
                    "for a point outside the support)")
        bad = [i for i in range(d) if not np.isfinite(buf[i])]
        i = bad[0] if bad else 0
        return f"the target's gradient is {buf[i]} at coordinate {i} where its log density is finite ({lp})"

    def _failure_error(self, code, x):
        """The exception for a failure of this target at x (d,) with its negative code: for an
        ``@njit`` function that raised (code RAISED), the function's own exception, raised again
        by calling it at x from Python; else a RuntimeError naming the code."""
        if self.kind == "numba" and code == RAISED:
            try:
                self._fn(np.array(x, dtype=np.float64), np.zeros(self.dim), self._data)
            except Exception as exc:  # the user's exception, with its traceback
                return exc
            return RuntimeError(f"the target's function raised an exception inside the sampler at x = {np.asarray(x, dtype=float).tolist()}, "
                                "but not when called again there from Python (is it deterministic?)")
        if code in (CHECK_OUT_OF_BOUNDS, CHECK_LOGP, CHECK_GRAD):
            return ValueError(f"{self._check_message(code, x)}, at x = {np.asarray(x, dtype=float).tolist()}")
        return RuntimeError(f"the target returned {code} (a negative code: stop) at x = {np.asarray(x, dtype=float).tolist()}")

    def _raise_failure(self, code, x, where):
        """Raise :meth:`_failure_error` with a note saying ``where`` it happened."""
        exc = self._failure_error(code, x)
        exc.add_note(f"fastmc: raised by the target when {where}")
        raise exc

    def _numba_target(self, checked=False) -> NumbaTarget:
        if self.kind == "python":
            raise RuntimeError("Target.from_python runs on the C++ backend only (the Numba kernels cannot call "
                               "Python without the GIL); use Target.from_numba, or backend='cpp'")
        if self._numba is None:
            self._numba = {}
        checked = bool(checked)
        if checked not in self._numba:  # the checked variant compiles only when asked for
            if self.kind == "numba":
                self._numba[checked] = make_njit_target(self._fn, self.dim, self._data, checked)
            else:
                self._numba[checked] = make_cfunc_target(_CPROTO(self._address), self.dim, self._data, checked)
        return self._numba[checked]

    # -------------------------------------------------------------- evaluation
    def logpdf_and_grad(self, x, *, backend: str = "auto"):
        """Log density and gradient at ``x`` (d,) -> (float, (d,)) or (n, d) -> ((n,), (n, d)).

        Outside the support the log density is -inf."""
        return logp_grad_batch(self, x, backend)

    def logpdf(self, x, *, backend: str = "auto"):
        """Log density at ``x`` (d,) -> float or (n, d) -> (n,)."""
        return self.logpdf_and_grad(x, backend=backend)[0]

    def grad_logpdf(self, x, *, backend: str = "auto"):
        """Gradient at ``x`` (d,) -> (d,) or (n, d) -> (n, d)."""
        return self.logpdf_and_grad(x, backend=backend)[1]

    def _check_gradient_at(self, x: np.ndarray) -> None:
        """Warn (:class:`GradientCheckWarning`) when the gradient at x (d,) is not finite or
        disagrees with finite differences of the log density (see :func:`gradient_problem`)."""
        if not (self.check_gradient and self.has_grad):
            return
        backend = "cpp" if "cpp" in _backends.available_backends() else "numba"
        lp, g = self.logpdf_and_grad(x, backend=backend)
        problem = gradient_problem(lambda X: self.logpdf(X, backend=backend), x, lp, g)
        if problem is not None:
            warnings.warn(f"the gradient of {self!r} at the start point: {problem} "
                          "(pass check_gradient=False to silence)", GradientCheckWarning, stacklevel=4)
