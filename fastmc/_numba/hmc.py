"""Hamiltonian Monte Carlo with fixed leapfrog steps, one chain. Twin: csrc/include/fastmc/hmc.hpp."""
import math

from ._jit import njit_fn
from .leapfrog import leapfrog
from .rng import rng_normal, rng_seed, rng_uniform

MAX_ENERGY_ERROR = 1000.0


@njit_fn
def hmc_chain(logp_grad, grad_fn, stop, tdata, x0, n, d, step, n_leapfrog, inv_mass, inv_temp, seed, chain,
              draws, log_density, accepted, accept_prob, energy, divergent, counters, s, work, twork):
    """One chain; ``counters`` gets gradient evaluations, non-finite proposals and the
    iterations completed (n unless ``stop(tdata)`` turned true)."""
    rng_seed(seed, chain, s)
    q = work[0:d]
    g = work[d:2 * d]
    qn = work[2 * d:3 * d]
    gn = work[3 * d:4 * d]
    p = work[4 * d:5 * d]
    sd = work[5 * d:6 * d]
    for i in range(d):
        q[i] = x0[i]
        sd[i] = 1.0 / math.sqrt(inv_mass[i])
    lp = logp_grad(q, g, tdata, twork)
    n_grad = 1
    nonfinite = 0
    done = n
    for t in range(n):
        kin0 = 0.0
        for i in range(d):
            p[i] = sd[i] * rng_normal(s)
            kin0 += inv_mass[i] * p[i] * p[i]
        h0 = -lp * inv_temp + 0.5 * kin0
        for i in range(d):
            qn[i] = q[i]
            gn[i] = g[i]
        lpn = leapfrog(logp_grad, grad_fn, tdata, qn, p, gn, d, step, n_leapfrog, inv_mass, inv_temp, twork)
        n_grad += n_leapfrog
        if stop(tdata):
            done = t
            break
        kin1 = 0.0
        for i in range(d):
            kin1 += inv_mass[i] * p[i] * p[i]
        h1 = -lpn * inv_temp + 0.5 * kin1
        u = rng_uniform(s)
        acc = False
        div = False
        a = 0.0
        finite = math.isfinite(h1)
        i = 0
        while finite and i < d:
            finite = math.isfinite(gn[i])
            i += 1
        if not finite:
            nonfinite += 1
            div = True
        else:
            dh = h1 - h0
            div = dh > MAX_ENERGY_ERROR
            a = 1.0 if dh <= 0.0 else math.exp(-dh)
            acc = u < a
        if acc:
            for i in range(d):
                q[i] = qn[i]
                g[i] = gn[i]
            lp = lpn
        for i in range(d):
            draws[t, i] = q[i]
        log_density[t] = lp
        accepted[t] = 1 if acc else 0
        accept_prob[t] = a
        energy[t] = h1 if acc else h0
        divergent[t] = 1 if div else 0
    counters[0] = n_grad
    counters[1] = nonfinite
    counters[2] = done
