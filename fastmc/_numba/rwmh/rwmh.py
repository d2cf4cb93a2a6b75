"""Random-walk Metropolis-Hastings, one chain, with optional warm-up.
Twin: csrc/include/fastmc/rwmh/rwmh.hpp (see there for the adaptation scheme).

``logp(x, tdata, twork)`` is any jitted log density with that signature (the mixture's, or a
user's). ``prop`` is (d,) per-dimension scales (prop_kind 0) or the transposed lower Cholesky
factor (d, d) of the proposal covariance (prop_kind 1). The workspace arrays are separate so that
LLVM sees no aliasing.
"""
import math

import numpy as np

import numba

from .._cache import cache_with_function_args
from .._jit import njit, njit_fn, njit_fn_parallel
from ..core.linalg import fma
from ..hmc.metric import METRIC_DENSE, metric_factor
from ..adapt.welford import welford_add, welford_metric, welford_reset
from ..core.rng import rng_normal, rng_uniform
from ..core.threads import interrupted, publish

# how a chain ended (records.hpp, fastmc/_schema.py)
CHAIN_DONE = 0
CHAIN_INTERRUPTED = 1
CHAIN_TARGET_STOP = 2


@njit
def rwmh_work(d):
    """Per-chain workspace: x, y, eps, s, mean, delta (d,) and L, m2, A, F (d*d,), count (1,)."""
    return (np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d), np.empty(d),
            np.empty(d * d), np.empty(d * d), np.empty(d * d), np.empty(d * d), np.zeros(1, dtype=np.int64))


@njit_fn
def rwmh_chain(logp, failed, failure, tdata, config, interrupt, x0, prop, s_rng, draws, stats, adapted, info,
               stop_point, work, twork):
    """One chain: fills ``draws`` (n_total, d) and the records ``stats`` (n_total,), warm-up
    first; ``info`` (a CHAIN_INFO record) gets the non-finite proposals, the iterations completed,
    how the chain ended and the kind of the final proposal, whose factor (scaled by lambda) goes
    to ``adapted`` (d*d,). ``s_rng`` (4,) is the generator state, updated in place; stop_point
    (d,) the point where the target failed."""
    cfg = config[0]  # the run's RWMH_CONFIG record
    d = x0.shape[0]
    n_warmup = cfg.n_warmup
    n = cfg.n_samples
    prop_kind = cfg.prop_kind
    adapt_scale = cfg.adapt_scale != 0
    adapt_cov = cfg.adapt_cov != 0
    target_accept = cfg.target_accept
    inv_temp = cfg.inv_temp
    x, y, eps, s, mean, delta, L, m2, A, F, wn = work
    kind = prop_kind
    for i in range(d if kind == 0 else d * d):
        L[i] = prop.flat[i]
    for i in range(d):
        x[i] = x0[i]
    lp = logp(x, tdata, twork)
    log_lam = 0.0
    lam = 1.0
    m = 0
    half = n_warmup // 2
    quarter = n_warmup // 4
    if adapt_cov:
        welford_reset(METRIC_DENSE, d, mean, m2, wn)
    nonfinite = 0
    total = n_warmup + n
    done = total
    status = CHAIN_DONE
    for t in range(total):
        if interrupted(interrupt):
            done = t
            status = CHAIN_INTERRUPTED
            break
        for i in range(d):
            eps[i] = rng_normal(s_rng)
        if kind == 0:
            if lam == 1.0:  # no warm-up: 1.0 * s == s, so this only skips a multiply
                for i in range(d):
                    y[i] = x[i] + L[i] * eps[i]
            else:
                for i in range(d):
                    y[i] = x[i] + lam * (L[i] * eps[i])
        else:
            for i in range(d):
                s[i] = 0.0
            for j in range(d):
                ej = eps[j]
                for i in range(j, d):
                    s[i] = fma(L[j * d + i], ej, s[i])
            for i in range(d):
                y[i] = x[i] + lam * s[i]
        lpy = logp(y, tdata, twork)
        if failed(twork):
            done = t
            status = CHAIN_TARGET_STOP
            break
        u = rng_uniform(s_rng)
        acc = False
        alpha = 0.0
        if math.isfinite(lpy):
            dl = (lpy - lp) * inv_temp
            alpha = 1.0 if dl >= 0.0 else math.exp(dl)
            acc = dl >= 0.0 or u < alpha
        else:
            nonfinite += 1
        if acc:
            for i in range(d):
                x[i] = y[i]
            lp = lpy
        for i in range(d):
            draws[t, i] = x[i]
        stats[t].log_density = lp
        stats[t].accepted = 1 if acc else 0
        publish(info, "n_done", t + 1)
        if t < n_warmup:
            if adapt_scale:
                m += 1
                log_lam += (alpha - target_accept) / math.pow(float(m), 0.6)
                lam = math.exp(log_lam)
            if adapt_cov and t >= quarter and t < half:
                welford_add(METRIC_DENSE, d, x, mean, m2, wn, delta)
            if adapt_cov and t + 1 == half and wn[0] >= 2:
                welford_metric(METRIC_DENSE, d, m2, wn[0], A)
                if metric_factor(METRIC_DENSE, d, A, F):
                    for j in range(d):
                        for i in range(d):
                            L[j * d + i] = F[i * d + j]
                    kind = 1
                    log_lam = math.log(2.38 / math.sqrt(float(d)))
                    lam = math.exp(log_lam)
                    m = 0
    for i in range(d if kind == 0 else d * d):
        adapted[i] = lam * L[i]
    info.n_nonfinite = nonfinite
    info.status = status
    info.target_code = failure(twork, stop_point)
    publish(info, "n_done", done)
    info.adapted_kind = kind


@cache_with_function_args
@njit_fn_parallel
def rwmh_run(logp, failed, failure, make_work, tdata, cfg, interrupt, prop, x0, rng_state, draws, stats, adapted,
             info, stop_point):
    """All chains (``prange``): chain c reads x0[c] and fills rng_state[c], draws[c], stats[c],
    adapted[c], info[c] and stop_point[c]; twin of rwmh_run in rwmh.hpp."""
    for c in numba.prange(x0.shape[0]):
        work = rwmh_work(x0.shape[1])
        twork = make_work(tdata)
        rwmh_chain(logp, failed, failure, tdata, cfg, interrupt, x0[c], prop, rng_state[c], draws[c], stats[c],
                   adapted[c], info[c], stop_point[c], work, twork)
