"""Euclidean metrics for HMC and NUTS. Twin: csrc/include/fastmc/metric.hpp.

Every matrix is a flat C-order array (d*d) so one compiled function serves the diagonal
(kind 0, arrays of length d) and the dense metric (kind 1): a 1-D array indexed ``[j * d + i]``.
"""
import math

from ._jit import njit_fn_inline, njit_inline
from .linalg import dot4o, fma
from .rng import rng_normal

METRIC_DIAG = 0
METRIC_DENSE = 1


@njit_inline
def kinetic(p, v, d):
    return 0.5 * dot4o(p, 0, v, 0, d)


@njit_inline
def metric_factor(kind, d, A, F):
    """F = 1/sqrt(A) (diag) or the lower Cholesky factor of A (dense); False if not PD."""
    if kind == METRIC_DIAG:
        for i in range(d):
            F[i] = 1.0 / math.sqrt(A[i])
        return True
    for j in range(d):
        s = A[j * d + j]
        for k in range(j):
            s = fma(-F[j * d + k], F[j * d + k], s)
        if not (s > 0.0):
            return False
        ljj = math.sqrt(s)
        F[j * d + j] = ljj
        for i in range(j + 1, d):
            t = A[i * d + j]
            for k in range(j):
                t = fma(-F[i * d + k], F[j * d + k], t)
            F[i * d + j] = t / ljj
        for i in range(j):
            F[i * d + j] = 0.0
    return True


@njit_inline
def metric_momentum(s, kind, d, F, p):
    """p ~ N(0, M): normals in index order, scaled (diag) or solved from L^T p = z (dense)."""
    if kind == METRIC_DIAG:
        for i in range(d):
            p[i] = F[i] * rng_normal(s)
        return
    for i in range(d):
        p[i] = rng_normal(s)
    for i in range(d - 1, -1, -1):
        acc = p[i]
        for j in range(i + 1, d):
            acc = fma(-F[j * d + i], p[j], acc)
        p[i] = acc / F[i * d + i]


@njit_inline
def metric_mul(kind, d, A, p, v):
    """v = A p; dense in the column-axpy order of linalg.hpp ``symv`` (A symmetric)."""
    if kind == METRIC_DIAG:
        for i in range(d):
            v[i] = A[i] * p[i]
        return
    for i in range(d):
        v[i] = 0.0
    for j in range(d):
        pj = p[j]
        for i in range(d):
            v[i] = fma(A[j * d + i], pj, v[i])


@njit_fn_inline
def metric_leapfrog(logp_grad, tdata, q, p, g, v, eps, kind, A, d, twork):
    """One leapfrog step of signed size eps; g and v current on exit. Returns log pi at the end."""
    half = 0.5 * eps
    for i in range(d):
        p[i] += half * g[i]
    metric_mul(kind, d, A, p, v)
    for i in range(d):
        q[i] += eps * v[i]
    lp = logp_grad(q, g, tdata, twork)
    for i in range(d):
        p[i] += half * g[i]
    metric_mul(kind, d, A, p, v)
    return lp
