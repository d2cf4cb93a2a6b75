"""Targets whose layout has transforms: the user writes the log density of the constrained
parameters; these wrappers map the sampler's unconstrained vector u to x, call the user's
function, add log |dx/du| and apply the chain rule to the gradient:

    log p(u) = log p(x(u)) + log |dx/du|,    d/du_i = d log p/dx_i * dx_i/du_i + d log|J|/du_i

Each wrapper is compiled code for compiled targets (no GIL, callable from the C++ chains and
inlined by the Numba kernels), Python for Python targets. The transforms themselves live in
:func:`fastmc.layout.constrain_point`.
"""
from __future__ import annotations

import ctypes

import numba
import numpy as np
from numba import types

from ..layout import constrain_point
from .numba_glue import _KEEP_ALIVE, stack_array

# the C ABI with every argument as an integer (pointers are addresses): the same calling
# convention as ``int logp(size_t, const double*, double*, double*, void*)`` on the platforms we
# build for, and what Numba can pass from stack scratch arrays (``a.ctypes.data``)
_CPROTO_INT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
                               ctypes.c_size_t)
_CSIG = types.intc(types.uintp, types.CPointer(types.float64), types.CPointer(types.float64),
                   types.CPointer(types.float64), types.voidptr)


def transformed_njit(fn, layout):
    """``fn(x, grad, data) -> log p(x)`` (njit, x constrained) -> the same kind of function of
    the unconstrained u, Jacobian included."""
    d = layout.dim
    codes, lo, hi = layout.codes, layout.lower, layout.upper
    n_scratch = 4 * d  # a closure constant: stack_array needs its length at compile time

    @numba.njit(nogil=True)
    def logp_u(u, grad, data):
        scratch = stack_array(n_scratch)
        x = scratch[0:d]
        gx = scratch[d:2 * d]
        dx = scratch[2 * d:3 * d]
        dl = scratch[3 * d:4 * d]
        lj = constrain_point(u, x, dx, dl, codes, lo, hi)
        lp = fn(x, gx, data)
        for i in range(d):
            grad[i] = gx[i] * dx[i] + dl[i]
        return lp + lj

    _KEEP_ALIVE.append(logp_u)
    return logp_u


def transformed_cfunc(address: int, layout):
    """A C function ``int logp(...)`` of the constrained x (at ``address``) -> a Numba cfunc of
    the unconstrained u with the same ABI, Jacobian included; its return code passes through (a
    negative one still stops sampling)."""
    d = layout.dim
    codes, lo, hi = layout.codes, layout.lower, layout.upper
    inner = _CPROTO_INT(address)
    n_scratch = 4 * d + 1

    @numba.cfunc(_CSIG, nopython=True, nogil=True)
    def c_logp_u(dim, u_ptr, grad_ptr, lp_ptr, data_ptr):
        u = numba.carray(u_ptr, (d,))
        grad = numba.carray(grad_ptr, (d,))
        scratch = stack_array(n_scratch)
        x = scratch[0:d]
        gx = scratch[d:2 * d]
        dx = scratch[2 * d:3 * d]
        dl = scratch[3 * d:4 * d]
        lpx = scratch[4 * d:4 * d + 1]
        lj = constrain_point(u, x, dx, dl, codes, lo, hi)
        rc = inner(d, x.ctypes.data, gx.ctypes.data, lpx.ctypes.data, _address_of(data_ptr))
        if rc != 0:
            return rc
        for i in range(d):
            grad[i] = gx[i] * dx[i] + dl[i]
        lp_ptr[0] = lpx[0] + lj
        return 0

    c_logp_u._fastmc_inner = inner  # the ctypes pointer lives as long as the cfunc
    _KEEP_ALIVE.append(c_logp_u)
    return c_logp_u


@numba.extending.intrinsic
def _address_of(typingctx, ptr):
    """A void* as an integer address (uintp)."""
    if ptr != types.voidptr:
        return None

    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], context.get_value_type(types.uintp))

    return types.uintp(ptr), codegen


def transformed_python(fn, layout, with_grad: bool):
    """A Python target ``fn(x) -> (logp, grad)`` (or ``-> logp``) of the constrained x, its
    return already checked, -> the same of the unconstrained u, Jacobian included."""
    d = layout.dim
    codes, lo, hi = layout.codes, layout.lower, layout.upper

    if with_grad:
        def logp_and_grad_u(u):
            u = np.ascontiguousarray(u, dtype=np.float64)
            x, dx, dl = np.empty(d), np.empty(d), np.empty(d)
            lj = constrain_point(u, x, dx, dl, codes, lo, hi)
            lp, g = fn(x)  # fn checks what the user's function returned
            return lp + lj, g * dx + dl

        return logp_and_grad_u

    def logp_u(u):
        u = np.ascontiguousarray(u, dtype=np.float64)
        x, dx, dl = np.empty(d), np.empty(d), np.empty(d)
        lj = constrain_point(u, x, dx, dl, codes, lo, hi)
        return fn(x) + lj

    return logp_u
