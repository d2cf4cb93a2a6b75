"""Euclidean metrics for HMC and NUTS. Twin: csrc/include/fastmc/hmc/metric.hpp. The leapfrog
integrator that moves under a metric is integrator.py.

Every matrix is a flat C-order array (d*d) so one compiled function serves the diagonal
(kind 0, arrays of length d) and the dense metric (kind 1): a 1-D array indexed ``[j * d + i]``.
The transitions take a dense A in its product layout (``metric_product_layout``): for
d >= SYM_PANEL_MIN_DIM a copy followed by the scratch of the product in the order of the C++
kernel's panel layout (linalg.py ``symv_panel``; the C++ transitions take the panels
themselves), else A itself.
"""
import math

from .._jit import njit_inline
from ..core.linalg import SYM_PANEL_MIN_DIM, fma, symv_panel_flat
from ..core.rng import rng_normal

METRIC_DIAG = 0
METRIC_DENSE = 1


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
