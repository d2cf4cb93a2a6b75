"""One static HMC transition under a diagonal or dense metric, and the number of steps for a
fixed integration time. Twin: csrc/include/fastmc/hmc/static_hmc.hpp."""
import math

import numpy as np

from .._jit import njit, njit_fn
from ..core.rng import rng_uniform
from .integrator import leapfrog_steps, metric_start
from .metric import metric_momentum
from .transition import MAX_ENERGY_ERROR


@njit
def static_hmc_steps(integration_time, eps, max_leapfrog):
    """floor(T / eps) leapfrog steps, at least 1 and at most max_leapfrog (a NaN ratio gives 1)."""
    r = integration_time / eps
    if r >= max_leapfrog:
        return max_leapfrog
    return np.int64(r) if r >= 1.0 else np.int64(1)


@njit
def static_hmc_make_work(d):
    """The scratch (qn, p, gn, v, u), each (d,): also the step-size search's."""
    return np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d)


@njit_fn
def static_hmc_transition(logp_grad, grad_fn, tdata, s, q, g, lp, eps, kind, A, F, n_leapfrog, sw, twork):
    """Returns (lp, accept_prob, energy, energy_error, max_energy_error, 0, n_leapfrog, divergent,
    nonfinite) (both energy errors the proposal's); q, g updated in place."""
    qn, p, gn, v, u = sw
    d = q.shape[0]
    metric_momentum(s, kind, d, F, p)
    h0 = -lp + metric_start(kind, d, A, p, g, v, u)
    for i in range(d):
        qn[i] = q[i]
        gn[i] = g[i]
    lpn, kin = leapfrog_steps(logp_grad, grad_fn, tdata, qn, p, gn, v, u, eps, n_leapfrog, kind, A, d, twork)
    h1 = -lpn + kin
    nonfinite = not math.isfinite(h1)
    if nonfinite:
        h1 = math.inf
    u01 = rng_uniform(s)
    dh = h1 - h0
    a = 1.0 if dh <= 0.0 else math.exp(-dh)
    acc = u01 < a
    if acc:
        for i in range(d):
            q[i] = qn[i]
            g[i] = gn[i]
        lp = lpn
    return lp, a, h1 if acc else h0, dh, dh, 0, n_leapfrog, dh > MAX_ENERGY_ERROR, nonfinite
