"""Random-walk Metropolis-Hastings, one chain. Twin: csrc/include/fastmc/rwmh.hpp.

``logp(x, tdata, twork)`` is any jitted log density with that signature (the mixture's, or a
user's). ``prop`` is (d,) per-dimension scales (prop_kind 0) or the transposed lower Cholesky
factor (d, d) of the proposal covariance (prop_kind 1).
"""
import math

from ._jit import njit
from .rng import rng_normal, rng_seed, rng_uniform


@njit
def rwmh_chain(logp, stop, tdata, x0, n, d, prop, prop_kind, inv_temp, seed, chain,
               draws, log_density, accepted, counters, s, work, twork):
    """Fill ``draws`` (n, d), ``log_density`` (n,), ``accepted`` (n,) for one chain;
    ``counters[0]`` receives the number of non-finite proposals, ``counters[1]`` the iterations
    completed (n unless ``stop(tdata)`` turned true)."""
    rng_seed(seed, chain, s)
    x = work[0:d]
    y = work[d:2 * d]
    eps = work[2 * d:3 * d]
    for i in range(d):
        x[i] = x0[i]
    lp = logp(x, tdata, twork)
    nonfinite = 0
    done = n
    for t in range(n):
        for i in range(d):
            eps[i] = rng_normal(s)
        if prop_kind == 0:
            for i in range(d):
                y[i] = x[i] + prop.flat[i] * eps[i]
        else:
            for i in range(d):
                y[i] = x[i]
            for j in range(d):
                ej = eps[j]
                for i in range(j, d):
                    y[i] += prop.flat[j * d + i] * ej
        lpy = logp(y, tdata, twork)
        if stop(tdata):
            done = t
            break
        u = rng_uniform(s)
        acc = False
        if math.isfinite(lpy):
            delta = (lpy - lp) * inv_temp
            acc = delta >= 0.0 or u < math.exp(delta)
        else:
            nonfinite += 1
        if acc:
            for i in range(d):
                x[i] = y[i]
            lp = lpy
        for i in range(d):
            draws[t, i] = x[i]
        log_density[t] = lp
        accepted[t] = 1 if acc else 0
    counters[0] = nonfinite
    counters[1] = done
