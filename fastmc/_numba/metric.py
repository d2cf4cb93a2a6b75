"""Euclidean metrics for HMC and NUTS. Twin: csrc/include/fastmc/metric.hpp.

Every matrix is a flat C-order array (d*d) so one compiled function serves the diagonal
(kind 0, arrays of length d) and the dense metric (kind 1): a 1-D array indexed ``[j * d + i]``.
The transitions take a dense A in its product layout (``metric_product_layout``): for
d >= SYM_PANEL_MIN_DIM a copy followed by the scratch of the product in the order of the C++
kernel's panel layout (linalg.py ``symv_panel``; the C++ transitions take the panels
themselves), else A itself.
"""
import math

from ._jit import njit_fn_inline, njit_inline
from .linalg import SYM_PANEL_MIN_DIM, dot4o, fma, symv_panel_flat
from .rng import rng_normal

METRIC_DIAG = 0
METRIC_DENSE = 1


@njit_inline
def kinetic(p, v, d):
    return 0.5 * dot4o(p, 0, v, 0, d)


@njit_inline
def metric_is_identity(kind, d, A):
    """True for a dense A that is exactly the identity (twin of metric.hpp: why it matters there)."""
    if kind != METRIC_DENSE:
        return False
    for i in range(d):
        for j in range(d):
            if A[i * d + j] != (1.0 if i == j else 0.0):
                return False
    return True


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
    for j in range(d - 1, -1, -1):  # by columns of L^T: each p_i sums its terms in decreasing j
        pj = p[j] / F[j * d + j]
        p[j] = pj
        for i in range(j):
            p[i] = fma(F[j * d + i], -pj, p[i])


@njit_inline
def metric_layout_size(kind, d):
    """Doubles of Ap for metric_product_layout: d*d + 4d for a dense A with
    d >= SYM_PANEL_MIN_DIM, none otherwise."""
    return d * d + 4 * d if kind == METRIC_DENSE and d >= SYM_PANEL_MIN_DIM else 0


@njit_inline
def metric_product_layout(d, A, Ap):
    """The dense A the transitions take: A itself, or for d >= SYM_PANEL_MIN_DIM a copy in
    Ap[:d*d] with the product's scratch after it (Ap: d*d + 4d doubles)."""
    if d < SYM_PANEL_MIN_DIM:
        return A
    for i in range(d * d):
        Ap[i] = A[i]
    return Ap


@njit_inline
def dense_mul(A, p, v, d):
    """v = A p for a dense A in its product layout: in the panel order for
    d >= SYM_PANEL_MIN_DIM, else in the column-axpy order of linalg.hpp ``symv`` (A symmetric)."""
    if d >= SYM_PANEL_MIN_DIM:
        symv_panel_flat(A, p, v, d)
        return
    for i in range(d):
        v[i] = 0.0
    for j in range(d):
        pj = p[j]
        for i in range(d):
            v[i] = fma(A[j * d + i], pj, v[i])


@njit_inline
def metric_mul(kind, d, A, p, v):
    """v = A p."""
    if kind == METRIC_DIAG:
        for i in range(d):
            v[i] = A[i] * p[i]
        return
    dense_mul(A, p, v, d)


@njit_inline
def metric_start(kind, d, A, p, g, v, u):
    """v = A p and (dense) u = A g where a trajectory starts; returns the kinetic energy."""
    metric_mul(kind, d, A, p, v)
    if kind != METRIC_DIAG:
        metric_mul(kind, d, A, g, u)
    return kinetic(p, v, d)


@njit_inline
def metric_drift(kind, d, A, q, p, g, v, u, half, eps):
    """p += half g; v = A p (diag, not stored) or v += half u (dense, u = A g); q += eps v."""
    if kind == METRIC_DIAG:
        for i in range(d):  # v = A p is recomputed by the kick: not stored here
            p[i] += half * g[i]
            q[i] += eps * (A[i] * p[i])
    else:
        for i in range(d):
            p[i] += half * g[i]
            v[i] += half * u[i]
            q[i] += eps * v[i]


@njit_inline
def metric_kick_energy(kind, d, A, p, g, v, u, half):
    """The second half kick as metric_drift's first two lines; returns p^T v / 2 with the sum in
    two sets of lanes as in metric.hpp (whole groups of four at i % 8 == 0 in s, else in t; then
    s_l + t_l, the tail into lane 0)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    i = 0
    while i + 4 <= d:
        for j in range(i, i + 4):
            p[j] += half * g[j]
            if kind == METRIC_DIAG:
                v[j] = A[j] * p[j]
            else:
                v[j] += half * u[j]
        if (i & 4) == 0:
            s0 = fma(p[i], v[i], s0)
            s1 = fma(p[i + 1], v[i + 1], s1)
            s2 = fma(p[i + 2], v[i + 2], s2)
            s3 = fma(p[i + 3], v[i + 3], s3)
        else:
            t0 = fma(p[i], v[i], t0)
            t1 = fma(p[i + 1], v[i + 1], t1)
            t2 = fma(p[i + 2], v[i + 2], t2)
            t3 = fma(p[i + 3], v[i + 3], t3)
        i += 4
    s0 += t0
    s1 += t1
    s2 += t2
    s3 += t3
    while i < d:
        p[i] += half * g[i]
        if kind == METRIC_DIAG:
            v[i] = A[i] * p[i]
        else:
            v[i] = v[i] + half * u[i]
        s0 = fma(p[i], v[i], s0)
        i += 1
    return 0.5 * ((s0 + s1) + (s2 + s3))


@njit_fn_inline
def metric_leapfrog(logp_grad, tdata, q, p, g, v, u, eps, kind, A, d, twork):
    """One leapfrog step of signed size eps; g, v (and u, dense) current on exit.
    Returns (log pi, kinetic energy) at the end point."""
    half = 0.5 * eps
    metric_drift(kind, d, A, q, p, g, v, u, half, eps)
    lp = logp_grad(q, g, tdata, twork)
    if kind != METRIC_DIAG:
        metric_mul(kind, d, A, g, u)
    kin = metric_kick_energy(kind, d, A, p, g, v, u, half)
    return lp, kin
