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


def _make_work(dim):
    @njit_fn_inline
    def make_work(tdata):
        return np.empty(dim), np.empty(1)

    return make_work


def make_njit_target(fn, dim, data):
    @njit_fn_inline
    def logp_grad(x, grad, tdata, work):
        return fn(x, grad, tdata)

    @njit_fn_inline
    def logp(x, tdata, work):
        return fn(x, work[0], tdata)

    @njit_fn_inline
    def grad(x, g, tdata, work):
        fn(x, g, tdata)

    @njit_fn_inline
    def stop(tdata):
        return False

    return _keep(NumbaTarget(logp, logp_grad, grad, stop, _make_work(dim), data))


def make_cfunc_target(cproto, dim, data, stop_flag):
    """Call a C function pointer from the Numba kernels (ctypes prototype with integer arguments,
    ABI-identical to the pointer signature)."""
    @njit_fn_inline
    def logp_grad(x, grad, tdata, work):
        data, stop_arr = tdata
        lp = work[1]
        rc = cproto(x.size, x.ctypes.data, grad.ctypes.data, lp.ctypes.data, data.ctypes.data)
        if rc == 0:
            return lp[0]
        if rc < 0:
            stop_arr[0] = 1
        return -np.inf

    @njit_fn_inline
    def logp(x, tdata, work):
        return logp_grad(x, work[0], tdata, work)

    @njit_fn_inline
    def grad(x, g, tdata, work):
        logp_grad(x, g, tdata, work)

    @njit_fn_inline
    def stop(tdata):
        return tdata[1][0] != 0

    return _keep(NumbaTarget(logp, logp_grad, grad, stop, _make_work(dim), (data, stop_flag)))


def make_cfunc(fn, data_shape):
    """A C-callable ``int logp(size_t, const double*, double*, double*, void*)`` around an njit
    ``fn(x, grad, data)``, for the C++ kernels."""
    sig = types.intc(types.uintp, types.CPointer(types.float64), types.CPointer(types.float64),
                     types.CPointer(types.float64), types.voidptr)
    shape = tuple(int(s) for s in data_shape)

    # A C entry point, not a dispatcher, so none of the njit decorators apply; the user's ``fn`` is
    # compiled with the options the user gave it, as it is on the Numba backend.
    @numba.cfunc(sig, nopython=True, nogil=True)
    def c_logp(dim, x_ptr, grad_ptr, lp_ptr, data_ptr):
        x = numba.carray(x_ptr, (dim,))
        g = numba.carray(grad_ptr, (dim,))
        data = numba.carray(data_ptr, shape, np.float64)
        lp_ptr[0] = fn(x, g, data)
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
