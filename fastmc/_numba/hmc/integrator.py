"""The leapfrog (velocity Verlet) integrator under a diagonal or dense inverse metric (metric.py).
Twin: csrc/include/fastmc/hmc/integrator.hpp. Every HMC transition moves with these functions."""
from .._jit import njit_fn_inline, njit_inline
from ..core.linalg import dot4o, fma
from .metric import METRIC_DIAG, metric_mul


@njit_inline
def kinetic(p, v, d):
    return 0.5 * dot4o(p, 0, v, 0, d)


@njit_inline
def metric_start(kind, d, A, p, g, v, u):
    """v = A p and (dense) u = A g where a trajectory starts; returns the kinetic energy."""
    metric_mul(kind, d, A, p, v)
    if kind != METRIC_DIAG:
        metric_mul(kind, d, A, g, u)
    return kinetic(p, v, d)


@njit_inline
def metric_drift(kind, d, A, qi, qo, p, g, v, u, half, eps):
    """p += half g; v = A p (diag, not stored) or v += half u (dense, u = A g); qo = qi + eps v
    (qo may be qi)."""
    if kind == METRIC_DIAG:
        for i in range(d):  # v = A p is recomputed by the kick: not stored here
            p[i] += half * g[i]
            qo[i] = qi[i] + eps * (A[i] * p[i])
    else:
        for i in range(d):
            p[i] += half * g[i]
            v[i] += half * u[i]
            qo[i] = qi[i] + eps * v[i]


@njit_inline
def metric_kick(kind, d, A, p, g, v, u, half):
    """The second half kick without the energy (integrator.hpp: why v is not stored for diag)."""
    if kind == METRIC_DIAG:
        for i in range(d):
            p[i] += half * g[i]
    else:
        for i in range(d):
            p[i] += half * g[i]
            v[i] += half * u[i]


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
def metric_leapfrog_to(logp_grad, tdata, qi, qo, p, gi, go, v, u, eps, kind, A, d, twork):
    """One leapfrog step of signed size eps from (qi, p) with gradient gi to (qo, p) with gradient
    go; v (and u, dense) current on exit. qo may be qi and go gi (in place). Returns (log pi,
    kinetic energy) at the end point."""
    half = 0.5 * eps
    metric_drift(kind, d, A, qi, qo, p, gi, v, u, half, eps)
    lp = logp_grad(qo, go, tdata, twork)
    if kind != METRIC_DIAG:
        metric_mul(kind, d, A, go, u)
    kin = metric_kick_energy(kind, d, A, p, go, v, u, half)
    return lp, kin


@njit_fn_inline
def metric_leapfrog(logp_grad, tdata, q, p, g, v, u, eps, kind, A, d, twork):
    """The step in place: (q, p, g) at the end point on exit."""
    return metric_leapfrog_to(logp_grad, tdata, q, q, p, g, g, v, u, eps, kind, A, d, twork)


@njit_fn_inline
def leapfrog_steps(logp_grad, grad_fn, tdata, q, p, g, v, u, eps, n_steps, kind, A, d, twork):
    """n_steps >= 1 steps in place; the inner ones call grad_fn and kick without the energy, with
    the same two half kicks as metric_leapfrog (integrator.hpp). Returns (log pi, kinetic energy)."""
    half = 0.5 * eps
    for _ in range(n_steps - 1):
        metric_drift(kind, d, A, q, q, p, g, v, u, half, eps)
        grad_fn(q, g, tdata, twork)
        if kind != METRIC_DIAG:
            metric_mul(kind, d, A, g, u)
        metric_kick(kind, d, A, p, g, v, u, half)
    return metric_leapfrog(logp_grad, tdata, q, p, g, v, u, eps, kind, A, d, twork)
