"""Stan's initial step-size search, run at the start of warm-up and after each metric update.
Twin: csrc/include/fastmc/adapt/step_size.hpp."""
import math

from .._jit import njit_fn
from ..hmc.integrator import metric_leapfrog, metric_start
from ..hmc.metric import metric_momentum


@njit_fn
def init_step_size(logp_grad, tdata, s, q, g, lp, eps, kind, A, F, sw, twork, n_grad):
    """Stan's step-size search; returns (eps, n_grad). sw: static_hmc_make_work's scratch."""
    d = q.shape[0]
    if not (eps > 0.0) or eps > 1e7:
        return eps, n_grad
    qn, p, gn, v, u = sw
    log08 = math.log(0.8)
    direction = 0
    for _ in range(100):
        metric_momentum(s, kind, d, F, p)
        h0 = -lp + metric_start(kind, d, A, p, g, v, u)
        for i in range(d):
            qn[i] = q[i]
            gn[i] = g[i]
        lpn, kin = metric_leapfrog(logp_grad, tdata, qn, p, gn, v, u, eps, kind, A, d, twork)
        n_grad += 1
        h = -lpn + kin
        if math.isnan(h):
            h = math.inf
        dh = h0 - h
        if direction == 0:
            direction = 1 if dh > log08 else -1
        elif (direction == 1 and not (dh > log08)) or (direction == -1 and not (dh < log08)):
            break
        nxt = 2.0 * eps if direction == 1 else 0.5 * eps
        if nxt > 1e7 or nxt < 1e-10:
            break
        eps = nxt
    return eps, n_grad
