"""One static HMC transition under a diagonal or dense metric.
Twin: csrc/include/fastmc/static_hmc.hpp."""
import math

from ._jit import njit_fn
from .metric import kinetic, metric_leapfrog, metric_momentum, metric_mul
from .nuts import MAX_ENERGY_ERROR
from .rng import rng_uniform


@njit_fn
def static_hmc_transition(logp_grad, tdata, s, q, g, lp, eps, kind, A, F, n_leapfrog, nw, twork):
    """Returns (lp, accept_prob, energy, 0, n_leapfrog, divergent); q, g updated in place."""
    qn, p, gn, v = nw[0], nw[1], nw[2], nw[3]
    d = q.shape[0]
    metric_momentum(s, kind, d, F, p)
    metric_mul(kind, d, A, p, v)
    h0 = -lp + kinetic(p, v, d)
    for i in range(d):
        qn[i] = q[i]
        gn[i] = g[i]
    lpn = lp
    for _ in range(n_leapfrog):
        lpn = metric_leapfrog(logp_grad, tdata, qn, p, gn, v, eps, kind, A, d, twork)
    h1 = -lpn + kinetic(p, v, d)
    if math.isnan(h1):
        h1 = math.inf
    u = rng_uniform(s)
    dh = h1 - h0
    a = 1.0 if dh <= 0.0 else math.exp(-dh)
    acc = u < a
    if acc:
        for i in range(d):
            q[i] = qn[i]
            g[i] = gn[i]
        lp = lpn
    return lp, a, h1 if acc else h0, 0, n_leapfrog, dh > MAX_ENERGY_ERROR
