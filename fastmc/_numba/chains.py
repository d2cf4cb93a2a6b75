"""Many chains in parallel (``prange``); twin of csrc/include/fastmc/chains.hpp plus the
per-sampler drivers of csrc/bind_samplers.cpp. Chain c of a call is chain ``first_chain + c`` of
the run, and its generator depends on (seed, chain) only, so results do not depend on the number
of threads or on how a run is split into calls."""
import numba
import numpy as np

from ._jit import njit_fn_parallel
from .hmc import hmc_chain
from .rwmh import rwmh_chain, rwmh_work

_par = njit_fn_parallel


@_par
def rwmh_run(logp, stop, make_work, tdata, x0, n_warmup, n, prop, prop_kind, adapt_scale, adapt_cov, target_accept,
             inv_temp, seed, first_chain):
    chains, d = x0.shape
    total = n_warmup + n
    draws = np.empty((chains, total, d))
    log_density = np.empty((chains, total))
    accepted = np.empty((chains, total), dtype=np.uint8)
    adapted = np.empty((chains, d * d))
    counters = np.zeros((chains, 3), dtype=np.int64)
    for c in numba.prange(chains):
        s = np.empty(4, dtype=np.uint64)
        work = rwmh_work(d)
        twork = make_work(tdata)
        rwmh_chain(logp, stop, tdata, x0[c], n_warmup, n, d, prop, prop_kind, adapt_scale, adapt_cov, target_accept,
                   inv_temp, seed, np.uint64(first_chain + c), draws[c], log_density[c], accepted[c], counters[c],
                   adapted[c], s, work, twork)
    return (draws, log_density, accepted, counters[:, 0].copy(), counters[:, 1].copy(), adapted,
            counters[:, 2].copy())


@_par
def hmc_run(logp_grad, grad_fn, stop, make_work, tdata, x0, n, step, n_leapfrog, inv_mass, inv_temp, seed,
            first_chain):
    chains, d = x0.shape
    draws = np.empty((chains, n, d))
    log_density = np.empty((chains, n))
    accepted = np.empty((chains, n), dtype=np.uint8)
    accept_prob = np.empty((chains, n))
    energy = np.empty((chains, n))
    divergent = np.empty((chains, n), dtype=np.uint8)
    counters = np.zeros((chains, 3), dtype=np.int64)
    for c in numba.prange(chains):
        s = np.empty(4, dtype=np.uint64)
        work = np.empty(6 * d)
        twork = make_work(tdata)
        hmc_chain(logp_grad, grad_fn, stop, tdata, x0[c], n, d, step, n_leapfrog, inv_mass, inv_temp, seed,
                  np.uint64(first_chain + c), draws[c], log_density[c], accepted[c], accept_prob[c], energy[c],
                  divergent[c], counters[c], s, work, twork)
    return (draws, log_density, accepted, accept_prob, energy, divergent,
            counters[:, 0].copy(), counters[:, 1].copy(), counters[:, 2].copy())
