"""The "numba (hand-written)" peer of ../shared/workloads/PEERS.md: what a skilled user writes in
an afternoon. Precomputed precision matrices, no allocation in the loop, NumPy's generator inside
@njit. It is the baseline every sampler benchmark divides by, measured in the same run."""
import math

import numba
import numpy as np


@numba.njit(cache=True, fastmath=False)
def _quad_terms(x, means, prec, logc, z, a, delta):
    """a_k = log w_k N(x; mu_k, Sigma_k) and z_k = P_k (x - mu_k): plain loops for small d,
    BLAS (np.dot into a preallocated output) above, as a user who measured both would."""
    K, d = means.shape
    for k in range(K):
        for i in range(d):
            delta[i] = x[i] - means[k, i]
        if d > 8:
            np.dot(prec[k], delta, z[k])
        else:
            for i in range(d):
                s = 0.0
                for j in range(d):
                    s += prec[k, i, j] * delta[j]
                z[k, i] = s
        q = 0.0
        for i in range(d):
            q += delta[i] * z[k, i]
        a[k] = logc[k] - 0.5 * q


@numba.njit(cache=True, fastmath=False)
def _logp_grad(x, means, prec, logc, grad, z, a, delta):
    K, d = means.shape
    _quad_terms(x, means, prec, logc, z, a, delta)
    m = a.max()
    tot = 0.0
    for k in range(K):
        a[k] = math.exp(a[k] - m)
        tot += a[k]
    for i in range(d):
        g = 0.0
        for k in range(K):
            g -= a[k] / tot * z[k, i]
        grad[i] = g
    return m + math.log(tot)


@numba.njit(cache=True, fastmath=False)
def _logp(x, means, prec, logc, z, a, delta):
    K, d = means.shape
    _quad_terms(x, means, prec, logc, z, a, delta)
    m = a.max()
    tot = 0.0
    for k in range(K):
        tot += math.exp(a[k] - m)
    return m + math.log(tot)


@numba.njit(cache=True, fastmath=False)
def rwmh_baseline(means, prec, logc, x0, n, sigma, seed):
    np.random.seed(seed)  # Numba's generator is per thread, separate from NumPy's
    K, d = means.shape
    out = np.empty((n, d))
    x = x0.copy()
    y = np.empty(d)
    z = np.empty((K, d))
    a = np.empty(K)
    delta = np.empty(d)
    lp = _logp(x, means, prec, logc, z, a, delta)
    acc = 0
    for t in range(n):
        for i in range(d):
            y[i] = x[i] + sigma * np.random.standard_normal()
        lpy = _logp(y, means, prec, logc, z, a, delta)
        if math.log(np.random.random()) < lpy - lp:
            x[:] = y
            lp = lpy
            acc += 1
        out[t] = x
    return out, acc


@numba.njit(cache=True, fastmath=False)
def hmc_baseline(means, prec, logc, x0, n, eps, L, seed):
    np.random.seed(seed)
    K, d = means.shape
    out = np.empty((n, d))
    q = x0.copy()
    qn = np.empty(d)
    p = np.empty(d)
    g = np.empty(d)
    gn = np.empty(d)
    z = np.empty((K, d))
    a = np.empty(K)
    delta = np.empty(d)
    lp = _logp_grad(q, means, prec, logc, g, z, a, delta)
    acc = 0
    for t in range(n):
        for i in range(d):
            p[i] = np.random.standard_normal()
        h0 = -lp + 0.5 * np.sum(p * p)
        qn[:] = q
        gn[:] = g
        for i in range(d):
            p[i] += 0.5 * eps * gn[i]
        for l in range(L):
            for i in range(d):
                qn[i] += eps * p[i]
            lpn = _logp_grad(qn, means, prec, logc, gn, z, a, delta)
            c = eps if l < L - 1 else 0.5 * eps
            for i in range(d):
                p[i] += c * gn[i]
        h1 = -lpn + 0.5 * np.sum(p * p)
        if np.random.random() < math.exp(h0 - h1):
            q[:] = qn
            g[:] = gn
            lp = lpn
            acc += 1
        out[t] = q
    return out, acc
