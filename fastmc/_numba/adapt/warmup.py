"""The one HMC engine (NUTS or static HMC, with Stan's warm-up or none) and its parallel runner.
Twin: csrc/include/fastmc/adapt/warmup.hpp, which documents it. Settings and outputs are the
records of fastmc/_schema.py (HMC_CONFIG, HMC_DRAW, CHAIN_INFO), read and written by field name."""
import math

import numba
import numpy as np

from .._jit import njit, njit_fn, njit_fn_parallel
from ..core.rng import rng_uniform
from ..hmc.metric import METRIC_DIAG, metric_factor, metric_is_identity, metric_layout_size, metric_product_layout
from ..hmc.nuts import nuts_make_work, nuts_transition
from ..hmc.static_hmc import static_hmc_make_work, static_hmc_steps, static_hmc_transition
from .dual_averaging import DUAL_AVERAGING, da_final_step, da_init, da_restart, da_update
from .step_size import init_step_size
from .welford import welford_add, welford_metric, welford_reset

TRANSITION_NUTS = 0
TRANSITION_STATIC = 1


@njit
def _run_metric(kind, d, A, F, ones, Ap):
    """(kind, A, F) for the transitions: the diagonal kind with ones while a dense A is the
    identity, a dense A in its product layout (in Ap)."""
    if metric_is_identity(kind, d, A):
        return METRIC_DIAG, ones, ones
    if kind == METRIC_DIAG:
        return kind, A, F
    return kind, metric_product_layout(d, A, Ap), F


@njit_fn
def hmc_chain(logp_grad, grad_fn, stop, tdata, config, x0, phase, step0, A, s, draws, stats, info, twork):
    """One chain. A (m,) and s (4,) are updated in place; draws (n_total, d) and the HMC_DRAW
    records stats (n_total,) are filled, warm-up first, up to info.n_done (all unless
    ``stop(tdata)`` turned true); info also gets the final step size and the gradient count."""
    cfg = config[0]  # the run's HMC_CONFIG record
    d = x0.shape[0]
    kind = cfg.metric_kind
    n_warmup = cfg.n_warmup
    adapt_step = cfg.adapt_step != 0
    m = d if kind == 0 else d * d
    q = np.empty(d)
    g = np.empty(d)
    delta_w = np.empty(d)
    F = np.empty(m)
    m2 = np.empty(m)
    mean = np.empty(d)
    cnt = np.zeros(1, dtype=np.int64)
    da = np.zeros(1, DUAL_AVERAGING)[0]
    nw = nuts_make_work(d, cfg.max_depth)
    sw = static_hmc_make_work(d)
    for i in range(d):
        q[i] = x0[i]
    lp = logp_grad(q, g, tdata, twork)
    n_grad = 1
    ones = np.ones(d)
    Ap = np.empty(metric_layout_size(kind, d))
    # the metric the transitions run with: A (a dense one in its product layout), or ones while
    # a dense A is the identity
    metric_factor(kind, d, A, F)
    run_kind, Ar, Fr = _run_metric(kind, d, A, F, ones, Ap)
    welford_reset(kind, d, mean, m2, cnt)
    eps = step0
    da_init(da, cfg.delta, cfg.gamma, cfg.kappa, cfg.t0)
    if n_warmup > 0 and adapt_step:
        eps, n_grad = init_step_size(logp_grad, tdata, s, q, g, lp, eps, run_kind, Ar, Fr, sw, twork, n_grad)
        da_restart(da, math.log(10.0 * eps))
    n_total = n_warmup + cfg.n_samples
    n_done = n_total
    for t in range(n_total):
        if stop(tdata):
            n_done = t
            break
        # static HMC with an integration time: the steps for this transition's step size
        n_lf = (static_hmc_steps(cfg.integration_time, eps, cfg.max_leapfrog) if cfg.integration_time > 0.0
                else cfg.n_leapfrog)
        # the step of this transition: jittered around the nominal one (dual averaging unaffected)
        eps_t = eps * (1.0 + cfg.jitter * (2.0 * rng_uniform(s) - 1.0)) if cfg.jitter > 0.0 else eps
        if cfg.transition == TRANSITION_NUTS:
            lp, acc, en, dep, nl, div, nf = nuts_transition(logp_grad, tdata, s, q, g, lp, eps_t, run_kind, Ar, Fr,
                                                            cfg.max_depth, nw, twork)
        else:
            lp, acc, en, dep, nl, div, nf = static_hmc_transition(logp_grad, grad_fn, tdata, s, q, g, lp, eps_t,
                                                                  run_kind, Ar, Fr, n_lf, sw, twork)
        n_grad += nl
        if stop(tdata):
            n_done = t
            break
        mv = False
        for i in range(d):
            draws[t, i] = q[i]
            prev = x0[i] if t == 0 else draws[t - 1, i]
            mv = mv or q[i] != prev
        rec = stats[t]
        rec.log_density = lp
        rec.accept_stat = acc
        rec.energy = en
        rec.step_size = eps_t
        rec.tree_depth = dep
        rec.n_leapfrog = nl
        rec.divergent = 1 if div else 0
        rec.nonfinite = 1 if nf else 0
        rec.moved = 1 if mv else 0
        info.n_done = t + 1
        if t >= n_warmup:
            continue
        if adapt_step:
            eps = da_update(da, acc)
        if phase[t] & 1:
            welford_add(kind, d, q, mean, m2, cnt, delta_w)
        if (phase[t] & 2) and cnt[0] >= 2:
            welford_metric(kind, d, m2, cnt[0], A)
            metric_factor(kind, d, A, F)
            run_kind, Ar, Fr = _run_metric(kind, d, A, F, ones, Ap)
            welford_reset(kind, d, mean, m2, cnt)
            if adapt_step:
                eps, n_grad = init_step_size(logp_grad, tdata, s, q, g, lp, eps, run_kind, Ar, Fr, sw, twork, n_grad)
                da_restart(da, math.log(10.0 * eps))
        if t == n_warmup - 1 and adapt_step:
            eps = da_final_step(da)
    info.n_done = n_done
    info.final_step = eps
    info.n_grad = n_grad


@njit_fn_parallel
def hmc_run(logp_grad, grad_fn, stop, make_work, tdata, cfg, phase, x0, step0, A, rng_state, draws, stats, info):
    """All chains (``prange``): chain c reads x0[c], step0[c] and updates A[c] (m,),
    rng_state[c] (4,), draws[c], stats[c] and info[c]; twin of hmc_run in warmup.hpp."""
    for c in numba.prange(x0.shape[0]):
        twork = make_work(tdata)
        hmc_chain(logp_grad, grad_fn, stop, tdata, cfg, x0[c], phase, step0[c], A[c], rng_state[c], draws[c],
                  stats[c], info[c], twork)
