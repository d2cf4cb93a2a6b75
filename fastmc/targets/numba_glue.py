"""Numba glue generated per user function: closures over the function or over a ctypes pointer,
which cannot live in the disk-cached kernel modules of :mod:`fastmc._numba`; and
:func:`stack_array`, scratch memory for targets written as ``@njit``/``@cfunc``.

Every closure here is compiled with :data:`fastmc._numba._jit.njit_fn_inline`: not cached (a cache
entry keyed by a closure's identity is never hit again) and inlined into the kernels at Numba-IR
level, with the kernels' floating-point options.
"""
import numba
import numba.extending
import numpy as np
from numba import types

from .._numba._jit import njit_fn_inline
from ._base import NumbaTarget

# Every generated dispatcher lives as long as the process: kernels compiled for a target hold its
# functions' types, and Numba raises ReferenceError when such a type's dispatcher has been
# collected. A few small objects per target is the price.
_KEEP_ALIVE = []


def _keep(target):
    _KEEP_ALIVE.append(target)
    return target


#: The code a target built from an ``@njit`` function returns when that function raised (both
#: backends): the chain stops there, and the Python layer calls the function again at the point
#: where it failed, from Python, to re-raise the exception itself with its traceback.
RAISED = -(2**31) + 1
#: The checked mode's failures (as cfunc.hpp): a write past grad[d - 1], NaN or +inf returned as
#: a log density, a non-finite gradient where the log density is finite.
CHECK_OUT_OF_BOUNDS = -(2**31) + 2
CHECK_LOGP = -(2**31) + 3
CHECK_GRAD = -(2**31) + 4
CANARIES = 8
CANARY = -1.2345678901234567e-300


def _make_work(dim):
    @njit_fn_inline
    def make_work(tdata):
        # scratch gradient; the log density a C function writes; the chain's failure: its
        # negative code (0 until then) and the point where it happened (as cfunc.hpp keeps it);
        # the checked mode's guarded gradient buffer
        return np.empty(dim), np.empty(1), np.zeros(dim + 1), np.empty(dim + CANARIES)

    return make_work


@njit_fn_inline
def _guard(buf, d):
    for i in range(CANARIES):
        buf[d + i] = CANARY


@njit_fn_inline
def _check(buf, d, lp):
    """0, or the checked mode's failure code for a call that gave lp and buf (as cfunc.hpp)."""
    for i in range(CANARIES):
        if buf[d + i] != CANARY:
            return CHECK_OUT_OF_BOUNDS
    if np.isnan(lp) or lp == np.inf:
        return CHECK_LOGP
    if lp == -np.inf:
        return 0
    for i in range(d):
        if not np.isfinite(buf[i]):
            return CHECK_GRAD
    return 0


@njit_fn_inline
def _fail(work, code, x):
    f = work[2]
    f[0] = code
    for i in range(x.size):
        f[1 + i] = x[i]


@njit_fn_inline
def _failed(work):
    return work[2][0] != 0.0


@njit_fn_inline
def _failure(work, x):
    f = work[2]
    for i in range(x.size):
        x[i] = f[1 + i]
    return np.int64(f[0])


def make_njit_target(fn, dim, data, checked=False):
    # An exception inside fn stops the chain (no message per call, no garbage sampled); once a
    # chain has failed its target is not called again. Checked: fn writes into a view of a longer
    # buffer whose tail is guarded, and what it returns is checked.
    if not checked:
        @njit_fn_inline
        def logp_grad(x, grad, tdata, work):
            if _failed(work):
                return np.nan
            try:
                return fn(x, grad, tdata)
            except Exception:
                _fail(work, RAISED, x)
            return np.nan
    else:
        @njit_fn_inline
        def logp_grad(x, grad, tdata, work):
            if _failed(work):
                return np.nan
            buf = work[3]
            _guard(buf, dim)
            try:
                lp = fn(x, buf[:dim], tdata)
            except Exception:
                _fail(work, RAISED, x)
                return np.nan
            code = _check(buf, dim, lp)
            if code != 0:
                _fail(work, code, x)
                return np.nan
            for i in range(dim):
                grad[i] = buf[i]
            return lp

    @njit_fn_inline
    def logp(x, tdata, work):
        return logp_grad(x, work[0], tdata, work)

    @njit_fn_inline
    def grad(x, g, tdata, work):
        logp_grad(x, g, tdata, work)

    return _keep(NumbaTarget(logp, logp_grad, grad, _failed, _failure, _make_work(dim), data))


def make_cfunc_target(cproto, dim, data, checked=False):
    """Call a C function pointer from the Numba kernels (ctypes prototype with integer arguments,
    ABI-identical to the pointer signature); a negative return stops the chain, as in cfunc.hpp,
    and so does a failed check in checked mode."""
    @njit_fn_inline
    def logp_grad(x, grad, tdata, work):
        if _failed(work):
            return np.nan
        lp = work[1]
        if checked:
            buf = work[3]
            _guard(buf, dim)
            rc = cproto(x.size, x.ctypes.data, buf.ctypes.data, lp.ctypes.data, tdata.ctypes.data)
            if rc == 0:
                rc = _check(buf, dim, lp[0])
            for i in range(dim):
                grad[i] = buf[i]
        else:
            rc = cproto(x.size, x.ctypes.data, grad.ctypes.data, lp.ctypes.data, tdata.ctypes.data)
        if rc == 0:
            return lp[0]
        if rc < 0:
            _fail(work, rc, x)
        return -np.inf

    @njit_fn_inline
    def logp(x, tdata, work):
        return logp_grad(x, work[0], tdata, work)

    @njit_fn_inline
    def grad(x, g, tdata, work):
        logp_grad(x, g, tdata, work)

    return _keep(NumbaTarget(logp, logp_grad, grad, _failed, _failure, _make_work(dim), data))


def make_cfunc(fn, data_shape):
    """A C-callable ``int logp(size_t, const double*, double*, double*, void*)`` around an njit
    ``fn(x, grad, data)``, for the C++ kernels."""
    sig = types.intc(types.uintp, types.CPointer(types.float64), types.CPointer(types.float64),
                     types.CPointer(types.float64), types.voidptr)
    shape = tuple(int(s) for s in data_shape)

    # A C entry point, not a dispatcher, so none of the njit decorators apply; the user's ``fn`` is
    # compiled with the options the user gave it, as it is on the Numba backend.
    # An exception inside fn returns RAISED (a C entry point cannot raise; Numba would print the
    # exception on every call and return whatever the outputs held).
    @numba.cfunc(sig, nopython=True, nogil=True)
    def c_logp(dim, x_ptr, grad_ptr, lp_ptr, data_ptr):
        x = numba.carray(x_ptr, (dim,))
        g = numba.carray(grad_ptr, (dim,))
        data = numba.carray(data_ptr, shape, np.float64)
        try:
            lp_ptr[0] = fn(x, g, data)
        except Exception:
            return RAISED
        return 0

    return c_logp


@numba.extending.intrinsic
def address_as_void_pointer(typingctx, addr):
    """An integer address as a ``void*``, for ``numba.carray(ptr, shape, dtype)`` over memory the
    caller keeps alive (a target's data arrays, whose addresses travel in its data buffer)."""
    from numba.core import cgutils

    if not isinstance(addr, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(addr), codegen


def _make_stack_array():
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _stack_ptr(typingctx, n_ty):
        if not isinstance(n_ty, types.IntegerLiteral):
            return None  # the length must be known when the function compiles
        n = n_ty.literal_value

        def codegen(context, builder, signature, args):
            return cgutils.alloca_once(builder, ir.DoubleType(), size=n)

        return types.CPointer(types.float64)(n_ty), codegen

    @njit_fn_inline
    def stack_array(n):
        """A float64 scratch array of length ``n`` on the stack of the calling jitted function.

        For use inside ``@njit``/``@cfunc`` targets, whose C signature has no workspace: a heap
        array (``np.empty``) per call costs as much as a small log density. ``n`` must be a
        compile-time constant (a global or closure integer); the array lives until the function
        returns and must not be returned or stored. Its contents start undefined.
        """
        return numba.carray(_stack_ptr(n), (n,))

    return stack_array


stack_array = _make_stack_array()
