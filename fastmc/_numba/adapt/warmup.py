"""The one HMC engine (NUTS or static HMC, with Stan's or the Fisher warm-up, or none) and its parallel runner.
Twin: csrc/include/fastmc/adapt/warmup.hpp, which documents it. Settings and outputs are the
records of fastmc/_schema.py (HMC_CONFIG, HMC_DRAW, CHAIN_INFO), read and written by field name."""
import math

import numba
import numpy as np

from .._cache import cache_with_function_args
from .._jit import njit, njit_fn, njit_fn_parallel
from ..core.rng import rng_uniform
from ..core.threads import interrupted, publish, publish_release
from ..hmc.metric import METRIC_DIAG, metric_factor, metric_is_identity, metric_layout_size, metric_product_layout
from ..hmc.nuts import nuts_make_work, nuts_transition
from ..hmc.static_hmc import static_hmc_make_work, static_hmc_steps, static_hmc_transition
from .dual_averaging import DUAL_AVERAGING, da_final_step, da_init, da_restart, da_update
from .fisher import FISHER_BLOCKS, fisher_add, fisher_from_gradient, fisher_metric, fisher_reset
from .step_size import init_step_size
from .welford import welford_add, welford_metric, welford_reset

TRANSITION_NUTS = 0
TRANSITION_STATIC = 1
ADAPT_STAN = 0
ADAPT_FISHER = 1
# the warm-up schedule's bits (warmup.hpp documents them)
PHASE_ADD = 1
PHASE_WINDOW_END = 2
PHASE_UPDATE = 2
PHASE_SWITCH = 4
PHASE_SEARCH = 8
# how a chain ended (records.hpp, fastmc/_schema.py)
CHAIN_DONE = 0
CHAIN_INTERRUPTED = 1
CHAIN_TARGET_STOP = 2


# A chain's whole state after an iteration, flat: STATE_SCALARS scalars, then q, g (d), A (m),
# the Welford mean (d) and m2 (m), and with ADAPT_FISHER the two Fisher estimates (2 FISHER_BLOCKS d);
# the scalars' slots as in warmup.hpp.
STATE_SCALARS = 16
STATE_T, STATE_LP, STATE_EPS, STATE_NGRAD, STATE_NW, STATE_NDIV = 0, 1, 2, 3, 4, 5
STATE_DA_MU, STATE_DA_SBAR, STATE_DA_XBAR, STATE_DA_COUNTER, STATE_RNG = 6, 7, 8, 9, 10
STATE_NFG, STATE_NBG = 14, 15


def fisher_state_size(d, adapt):
    return 2 * FISHER_BLOCKS * d if adapt == ADAPT_FISHER else 0


def hmc_state_size(d, kind, adapt):
    m = d if kind == METRIC_DIAG else d * d
    return STATE_SCALARS + 3 * d + 2 * m + fisher_state_size(d, adapt)


@njit
def save_state(out, d, m, t, lp, eps, n_grad, n_w, n_div, da, s, q, g, A, mean, m2, fish, n_fish, n_fg, n_bg):
    """The state after iteration t - 1 into out (hmc_state_size,)."""
    out[STATE_T] = t
    out[STATE_LP] = lp
    out[STATE_EPS] = eps
    out[STATE_NGRAD] = n_grad
    out[STATE_NW] = n_w
    out[STATE_NDIV] = n_div
    out[STATE_DA_MU] = da.mu
    out[STATE_DA_SBAR] = da.s_bar
    out[STATE_DA_XBAR] = da.x_bar
    out[STATE_DA_COUNTER] = da.counter
    out[STATE_RNG:STATE_RNG + 4].view(np.uint64)[:] = s  # the generator's words, bit for bit
    out[STATE_NFG] = n_fg
    out[STATE_NBG] = n_bg
    o = out[STATE_SCALARS:]
    for i in range(d):
        o[i] = q[i]
        o[d + i] = g[i]
        o[2 * d + m + i] = mean[i]
    for i in range(m):
        o[2 * d + i] = A[i]
        o[3 * d + m + i] = m2[i]
    for i in range(n_fish):
        o[3 * d + 2 * m + i] = fish[i]


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
def hmc_chain(logp_grad, grad_fn, failed, failure, tdata, config, interrupt, x0, phase, step0, state_in, A, s,
              draws, stats, ckpt, info, stop_point, twork):
    """One chain. A (m,) and s (4,) are updated in place; draws (n_total, d) and the HMC_DRAW
    records stats (n_total,) are filled, warm-up first, up to info.n_done (all unless the run was
    interrupted or the target failed: info.status); info also gets the final step size and the
    gradient count, stop_point (d,) the point where the target failed. state_in: a saved state to
    continue from (state_in[STATE_T] > 0) or zeros; ckpt (2, hmc_state_size): the saved states,
    alternately, every cfg.checkpoint_every iterations (see warmup.hpp)."""
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
    fisher = cfg.adapt_metric == ADAPT_FISHER
    n_fish = 2 * FISHER_BLOCKS * d if fisher else 0
    fish = np.zeros(2 * FISHER_BLOCKS * d)  # the foreground estimate, then the background one
    fg = fish[:FISHER_BLOCKS * d]
    bg = fish[FISHER_BLOCKS * d:]
    n_fg = np.zeros(1, dtype=np.int64)
    n_bg = np.zeros(1, dtype=np.int64)
    # the dual averaging state, always reached as das[0]: a record taken from an array does not
    # keep the array alive, and Numba frees an array after its last use, so a record held on its
    # own (da = np.zeros(1, DUAL_AVERAGING)[0]) points into freed memory that the next
    # allocations of the same size (the work buffers below, momenta) reuse and overwrite
    das = np.zeros(1, DUAL_AVERAGING)
    nw = nuts_make_work(d, cfg.max_depth)
    sw = static_hmc_make_work(d)
    ones = np.ones(d)
    Ap = np.empty(metric_layout_size(kind, d))
    da_init(das[0], cfg.delta, cfg.gamma, cfg.kappa, cfg.t0)
    # the metric the transitions run with: A (a dense one in its product layout), or ones while
    # a dense A is the identity
    if state_in[STATE_T] > 0.0:  # continue a saved run
        t0 = int(state_in[STATE_T])
        lp = state_in[STATE_LP]
        eps = state_in[STATE_EPS]
        n_grad = int(state_in[STATE_NGRAD])
        cnt[0] = int(state_in[STATE_NW])
        n_div = int(state_in[STATE_NDIV])
        das[0].mu = state_in[STATE_DA_MU]
        das[0].s_bar = state_in[STATE_DA_SBAR]
        das[0].x_bar = state_in[STATE_DA_XBAR]
        das[0].counter = state_in[STATE_DA_COUNTER]
        s[:] = state_in[STATE_RNG:STATE_RNG + 4].copy().view(np.uint64)
        st_in = state_in[STATE_SCALARS:]
        for i in range(d):
            q[i] = st_in[i]
            g[i] = st_in[d + i]
            mean[i] = st_in[2 * d + m + i]
        for i in range(m):
            A[i] = st_in[2 * d + i]
            m2[i] = st_in[3 * d + m + i]
        n_fg[0] = int(state_in[STATE_NFG])
        n_bg[0] = int(state_in[STATE_NBG])
        for i in range(n_fish):
            fish[i] = st_in[3 * d + 2 * m + i]
        metric_factor(kind, d, A, F)
        run_kind, Ar, Fr = _run_metric(kind, d, A, F, ones, Ap)
    else:
        t0 = 0
        n_div = 0
        for i in range(d):
            q[i] = x0[i]
        lp = logp_grad(q, g, tdata, twork)
        n_grad = 1
        if fisher and cfg.metric_from_grad != 0:
            fisher_from_gradient(d, g, A)
        metric_factor(kind, d, A, F)
        run_kind, Ar, Fr = _run_metric(kind, d, A, F, ones, Ap)
        welford_reset(kind, d, mean, m2, cnt)
        fisher_reset(d, fg, n_fg)
        fisher_reset(d, bg, n_bg)
        eps = step0
        if n_warmup > 0 and adapt_step:
            eps, n_grad = init_step_size(logp_grad, tdata, s, q, g, lp, eps, run_kind, Ar, Fr, sw, twork, n_grad)
            da_restart(das[0], math.log(10.0 * eps))
    n_total = n_warmup + cfg.n_samples
    n_done = n_total
    status = CHAIN_DONE
    n_ckpt = 0
    for t in range(t0, n_total):
        if interrupted(interrupt):
            n_done = t
            status = CHAIN_INTERRUPTED
            break
        # static HMC with an integration time: the steps for this transition's step size
        n_lf = (static_hmc_steps(cfg.integration_time, eps, cfg.max_leapfrog) if cfg.integration_time > 0.0
                else cfg.n_leapfrog)
        # the step of this transition: jittered around the nominal one (dual averaging unaffected)
        eps_t = eps * (1.0 + cfg.jitter * (2.0 * rng_uniform(s) - 1.0)) if cfg.jitter > 0.0 else eps
        if cfg.transition == TRANSITION_NUTS:
            lp, acc, en, err, max_err, dep, nl, div, nf = nuts_transition(logp_grad, tdata, s, q, g, lp, eps_t,
                                                                          run_kind, Ar, Fr, cfg.max_depth, nw, twork)
        else:
            lp, acc, en, err, max_err, dep, nl, div, nf = static_hmc_transition(logp_grad, grad_fn, tdata, s, q, g, lp,
                                                                                eps_t, run_kind, Ar, Fr, n_lf, sw,
                                                                                twork)
        n_grad += nl
        if failed(twork):
            n_done = t
            status = CHAIN_TARGET_STOP
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
        rec.energy_error = err
        rec.max_energy_error = max_err
        rec.step_size = eps_t
        rec.step_size_bar = eps  # the nominal step; replaced below while dual averaging adapts it
        rec.tree_depth = dep
        rec.n_leapfrog = nl
        rec.divergent = 1 if div else 0
        rec.nonfinite = 1 if nf else 0
        rec.moved = 1 if mv else 0
        if div:
            n_div += 1
            publish(info, "n_divergent", n_div)
        publish(info, "step_size", eps_t)
        publish(info, "n_done", t + 1)
        if t < n_warmup:
            if adapt_step:
                eps = da_update(das[0], acc)
                rec.step_size_bar = da_final_step(das[0])
            ph = phase[t]
            if fisher:
                if ph & PHASE_ADD:
                    fisher_add(d, q, g, fg, n_fg)
                    fisher_add(d, q, g, bg, n_bg)
                if ph & PHASE_SWITCH:
                    for i in range(FISHER_BLOCKS * d):
                        fg[i] = bg[i]
                    n_fg[0] = n_bg[0]
                    fisher_reset(d, bg, n_bg)
                if (ph & PHASE_UPDATE) and n_fg[0] >= 2:
                    fisher_metric(d, fg, A)
                    metric_factor(kind, d, A, F)
                    run_kind, Ar, Fr = _run_metric(kind, d, A, F, ones, Ap)
                if adapt_step and (ph & PHASE_SEARCH):
                    eps, n_grad = init_step_size(logp_grad, tdata, s, q, g, lp, eps, run_kind, Ar, Fr, sw, twork,
                                                 n_grad)
                    da_restart(das[0], math.log(10.0 * eps))
            elif ph & PHASE_ADD:
                welford_add(kind, d, q, mean, m2, cnt, delta_w)
            if not fisher and (ph & PHASE_WINDOW_END) and cnt[0] >= 2:
                welford_metric(kind, d, m2, cnt[0], A)
                metric_factor(kind, d, A, F)
                run_kind, Ar, Fr = _run_metric(kind, d, A, F, ones, Ap)
                welford_reset(kind, d, mean, m2, cnt)
                if adapt_step:
                    eps, n_grad = init_step_size(logp_grad, tdata, s, q, g, lp, eps, run_kind, Ar, Fr, sw, twork,
                                                 n_grad)
                    da_restart(das[0], math.log(10.0 * eps))
            if t == n_warmup - 1 and adapt_step:
                eps = da_final_step(das[0])
        if cfg.checkpoint_every > 0 and ((t + 1) % cfg.checkpoint_every == 0 or t + 1 == n_total):
            save_state(ckpt[n_ckpt % 2], d, m, t + 1, lp, eps, n_grad, cnt[0], n_div, das[0], s, q, g, A, mean, m2, fish,
                       n_fish, n_fg[0], n_bg[0])
            n_ckpt += 1
            publish_release(info, "n_checkpoints", n_ckpt)
    if status == CHAIN_INTERRUPTED and cfg.checkpoint_every > 0 and n_done > 0:  # resumable from here
        save_state(ckpt[n_ckpt % 2], d, m, n_done, lp, eps, n_grad, cnt[0], n_div, das[0], s, q, g, A, mean, m2, fish,
                   n_fish, n_fg[0], n_bg[0])
        n_ckpt += 1
        publish_release(info, "n_checkpoints", n_ckpt)
    publish(info, "n_done", n_done)
    info.status = status
    info.target_code = failure(twork, stop_point)
    info.final_step = eps
    info.n_grad = n_grad


@cache_with_function_args
@njit_fn_parallel
def hmc_run(logp_grad, grad_fn, failed, failure, make_work, tdata, cfg, interrupt, phase, x0, step0, state_in, A,
            rng_state, draws, stats, ckpt, info, stop_point):
    """All chains (``prange``): chain c reads x0[c], step0[c], state_in[c] and updates A[c] (m,),
    rng_state[c] (4,), draws[c], stats[c], ckpt[c], info[c] and stop_point[c]; twin of hmc_run in
    warmup.hpp."""
    for c in numba.prange(x0.shape[0]):
        twork = make_work(tdata)
        hmc_chain(logp_grad, grad_fn, failed, failure, tdata, cfg, interrupt, x0[c], phase, step0[c], state_in[c],
                  A[c], rng_state[c], draws[c], stats[c], ckpt[c], info[c], stop_point[c], twork)
