"""A target raised to the power beta = 1/T, for the HMC engine. Twin:
csrc/include/fastmc/targets/tempered.hpp.

The engine takes a target as jitted functions and their data; the tempered target's functions
call the original ones, which Numba can only do through a reference fixed at compile time, so
they are built once per original function set (``tempered_functions``). Their data is flat, as
the parallel engine needs (it cannot pass a tuple nested in a tuple): the original data's items,
or the original data itself when it is not a tuple, then beta as a (1,) array
(``tempered_data``)."""
from functools import lru_cache

import numpy as np

from .._jit import njit_fn


def tempered_data(tdata, beta):
    """Data of the tempered target: flat, beta last as a (1,) array."""
    return (*tdata, np.array([beta])) if isinstance(tdata, tuple) else (tdata, np.array([beta]))


@lru_cache(maxsize=None)
def tempered_functions(logp_grad, grad, make_work, data_is_tuple):
    """Jitted (logp_grad, grad, make_work) of pi^beta for the target whose functions are given,
    on ``tempered_data`` of its data (``data_is_tuple``: whether that data is a tuple). The
    target's failure checks read only its workspace and serve the tempered target unchanged."""

    if data_is_tuple:
        @njit_fn
        def inner(tdata):
            return tdata[:-1]
    else:
        @njit_fn
        def inner(tdata):
            return tdata[0]

    @njit_fn
    def tempered_logp_grad(x, grad, tdata, work):
        lp = logp_grad(x, grad, inner(tdata), work)
        beta = tdata[-1][0]
        for i in range(grad.shape[0]):
            grad[i] = beta * grad[i]
        return beta * lp

    @njit_fn
    def tempered_grad(x, g, tdata, work):
        grad(x, g, inner(tdata), work)
        beta = tdata[-1][0]
        for i in range(g.shape[0]):
            g[i] = beta * g[i]

    @njit_fn
    def tempered_make_work(tdata):
        return make_work(inner(tdata))

    return tempered_logp_grad, tempered_grad, tempered_make_work
