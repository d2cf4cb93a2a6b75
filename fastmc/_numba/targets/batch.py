"""Batched evaluation of any Numba target (twin of the C++ binding target_logp_grad)."""
import numpy as np

from .._cache import cache_with_function_args
from .._jit import njit_fn


@cache_with_function_args
@njit_fn
def batch_logp_grad(logp_grad, failed, failure, make_work, tdata, X):
    """X (n, d) -> (logp (n,), grad (n, d), n_ok, code): n_ok < n when the target failed at
    X[n_ok] with that (negative) code; the rows from there on are unset."""
    n, d = X.shape
    lp = np.empty(n)
    grad = np.empty((n, d))
    work = make_work(tdata)
    x = np.empty(d)
    g = np.empty(d)
    for i in range(n):
        for j in range(d):
            x[j] = X[i, j]
        lp[i] = logp_grad(x, g, tdata, work)
        if failed(work):
            return lp, grad, i, failure(work, x)
        for j in range(d):
            grad[i, j] = g[j]
    return lp, grad, n, 0
