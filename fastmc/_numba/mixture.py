"""Gaussian mixture log density and gradient. Twin: csrc/include/fastmc/mixture.hpp.

``tdata = (logc (K,), means (K, d), prec (K, d, d))``; ``work`` holds K*d + d + K doubles.
Loops mirror the C++ order of additions exactly (rows of the symmetric precision, scaled).
"""
import math

import numpy as np

from ._jit import njit


@njit
def mixture_work_size(tdata):
    logc, means, prec = tdata
    K, d = means.shape
    return K * d + d + K


@njit
def _components(x, tdata, work):
    logc, means, prec = tdata
    K, d = means.shape
    for k in range(K):
        zo = k * d
        do = K * d
        for i in range(d):
            work[do + i] = x[i] - means[k, i]
            work[zo + i] = 0.0
        for j in range(d):
            dj = work[do + j]
            for i in range(d):
                work[zo + i] += prec[k, j, i] * dj
        q = 0.0
        for i in range(d):
            q += work[do + i] * work[zo + i]
        work[K * d + d + k] = logc[k] - 0.5 * q


@njit
def mixture_logp(x, tdata, work):
    """log p(x) for one point ``x`` (d,)."""
    logc, means, prec = tdata
    K, d = means.shape
    _components(x, tdata, work)
    ao = K * d + d
    m = work[ao]
    for k in range(1, K):
        m = work[ao + k] if work[ao + k] > m else m
    s = 0.0
    for k in range(K):
        s += math.exp(work[ao + k] - m)
    return m + math.log(s)


@njit
def mixture_logp_grad(x, grad, tdata, work):
    """log p(x) for one point ``x`` (d,); writes grad log p into ``grad`` (d,)."""
    logc, means, prec = tdata
    K, d = means.shape
    _components(x, tdata, work)
    ao = K * d + d
    m = work[ao]
    for k in range(1, K):
        m = work[ao + k] if work[ao + k] > m else m
    s = 0.0
    for k in range(K):
        work[ao + k] = math.exp(work[ao + k] - m)
        s += work[ao + k]
    for k in range(K):
        work[ao + k] /= s
    for i in range(d):
        grad[i] = 0.0
    for k in range(K):
        rk = work[ao + k]
        zo = k * d
        for i in range(d):
            grad[i] -= rk * work[zo + i]
    return m + math.log(s)


@njit
def mixture_logp_grad_batch(X, tdata):
    """Batched twin of the C++ binding: X (n, d) -> (logp (n,), grad (n, d))."""
    n, d = X.shape
    lp = np.empty(n)
    grad = np.empty((n, d))
    work = np.empty(mixture_work_size(tdata))
    for i in range(n):
        lp[i] = mixture_logp_grad(X[i], grad[i], tdata, work)
    return lp, grad


@njit
def mixture_logp_batch(X, tdata):
    n, d = X.shape
    lp = np.empty(n)
    work = np.empty(mixture_work_size(tdata))
    for i in range(n):
        lp[i] = mixture_logp(X[i], tdata, work)
    return lp
