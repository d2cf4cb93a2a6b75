"""Batched evaluation of any Numba target (twin of the C++ binding target_logp_grad)."""
import numpy as np

from .._jit import njit_fn


@njit_fn
def batch_logp_grad(logp_grad, make_work, tdata, X):
    """X (n, d) -> (logp (n,), grad (n, d))."""
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
        for j in range(d):
            grad[i, j] = g[j]
    return lp, grad
