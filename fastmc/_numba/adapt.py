"""The warm-up engine (NUTS or static HMC with Stan's adaptation) and its parallel runner.
Twin: csrc/include/fastmc/adapt.hpp and csrc/bind_nuts.cpp."""
import math

import numba
import numpy as np

from ._jit import njit, njit_fn, njit_fn_parallel
from .dual_averaging import da_final_step, da_init, da_restart, da_update
from .metric import (METRIC_DIAG, metric_factor, metric_is_identity, metric_layout_size, metric_leapfrog,
                     metric_momentum, metric_product_layout, metric_start)
from .nuts import nuts_make_work, nuts_transition
from .rng import rng_uniform
from .static_hmc import static_hmc_steps, static_hmc_transition
from .welford import welford_add, welford_metric, welford_reset

TRANSITION_NUTS = 0
TRANSITION_STATIC = 1


@njit_fn
def init_step_size(logp_grad, tdata, s, q, g, lp, eps, kind, A, F, nw, twork, n_grad):
    """Stan's step-size search; returns (eps, n_grad). nw[0:5] are scratch."""
    d = q.shape[0]
    if not (eps > 0.0) or eps > 1e7:
        return eps, n_grad
    qn, p, gn, v, u = nw[0], nw[1], nw[2], nw[3], nw[4]
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
def adaptive_chain(logp_grad, stop, tdata, x0, n_warmup, n_samples, phase, step0, transition, max_depth, n_leapfrog,
                   integration_time, max_leapfrog, jitter, kind, adapt_step, delta, gamma, kappa, t0, A, s, draws,
                   log_density, accept_stat, energy, step_size, depth, n_leap, divergent, nonfinite, moved, scalars,
                   counts, twork):
    """One chain; A (m,) and s (4,) are updated in place; scalars[0] = final step, counts[0] = n_grad,
    counts[1] = transitions done (all unless ``stop(tdata)`` turned true: draws after it are unset).
    Static HMC takes n_leapfrog steps, or static_hmc_steps(integration_time, eps, max_leapfrog) at
    each transition's eps when integration_time > 0."""
    d = x0.shape[0]
    m = d if kind == 0 else d * d
    q = np.empty(d)
    g = np.empty(d)
    delta_w = np.empty(d)
    F = np.empty(m)
    m2 = np.empty(m)
    mean = np.empty(d)
    cnt = np.zeros(1, dtype=np.int64)
    da = np.empty(8)
    nw = nuts_make_work(d, max_depth)
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
    da_init(da, delta, gamma, kappa, t0)
    if n_warmup > 0 and adapt_step:
        eps, n_grad = init_step_size(logp_grad, tdata, s, q, g, lp, eps, run_kind, Ar, Fr, nw, twork, n_grad)
        da_restart(da, math.log(10.0 * eps))
    n_total = n_warmup + n_samples
    n_done = n_total
    for t in range(n_total):
        if stop(tdata):
            n_done = t
            break
        # static HMC with an integration time: the steps for this transition's step size
        n_lf = static_hmc_steps(integration_time, eps, max_leapfrog) if integration_time > 0.0 else n_leapfrog
        # the step of this transition: jittered around the nominal one (dual averaging unaffected)
        eps_t = eps * (1.0 + jitter * (2.0 * rng_uniform(s) - 1.0)) if jitter > 0.0 else eps
        if transition == TRANSITION_NUTS:
            lp, acc, en, dep, nl, div, nf = nuts_transition(logp_grad, tdata, s, q, g, lp, eps_t, run_kind, Ar, Fr,
                                                        max_depth, nw, twork)
        else:
            lp, acc, en, dep, nl, div, nf = static_hmc_transition(logp_grad, tdata, s, q, g, lp, eps_t, run_kind, Ar, Fr,
                                                              n_lf, nw, twork)
        n_grad += nl
        if stop(tdata):
            n_done = t
            break
        mv = False
        for i in range(d):
            draws[t, i] = q[i]
            prev = x0[i] if t == 0 else draws[t - 1, i]
            mv = mv or q[i] != prev
        moved[t] = 1 if mv else 0
        log_density[t] = lp
        accept_stat[t] = acc
        energy[t] = en
        step_size[t] = eps_t
        depth[t] = dep
        n_leap[t] = nl
        divergent[t] = 1 if div else 0
        nonfinite[t] = 1 if nf else 0
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
                eps, n_grad = init_step_size(logp_grad, tdata, s, q, g, lp, eps, run_kind, Ar, Fr, nw, twork, n_grad)
                da_restart(da, math.log(10.0 * eps))
        if t == n_warmup - 1 and adapt_step:
            eps = da_final_step(da)
    scalars[0] = eps
    counts[0] = n_grad
    counts[1] = n_done


_par = njit_fn_parallel


@_par
def _adaptive_run(logp_grad, stop, make_work, tdata, x0, n_warmup, n_samples, phase, step0, A, state, transition,
                  max_depth, n_leapfrog, integration_time, max_leapfrog, jitter, kind, adapt_step, delta, gamma, kappa, t0):
    chains, d = x0.shape
    n = n_warmup + n_samples
    draws = np.empty((chains, n, d))
    lp = np.empty((chains, n))
    acc = np.empty((chains, n))
    en = np.empty((chains, n))
    steps = np.empty((chains, n))
    depth = np.empty((chains, n), dtype=np.int64)
    nleap = np.empty((chains, n), dtype=np.int64)
    div = np.empty((chains, n), dtype=np.uint8)
    nonf = np.empty((chains, n), dtype=np.uint8)
    moved = np.empty((chains, n), dtype=np.uint8)
    final_step = np.empty((chains, 1))
    counts = np.empty((chains, 2), dtype=np.int64)
    for c in numba.prange(chains):
        twork = make_work(tdata)
        adaptive_chain(logp_grad, stop, tdata, x0[c], n_warmup, n_samples, phase, step0[c], transition, max_depth,
                       n_leapfrog, integration_time, max_leapfrog, jitter, kind, adapt_step, delta, gamma, kappa, t0, A[c],
                       state[c], draws[c], lp[c], acc[c], en[c], steps[c], depth[c], nleap[c], div[c], nonf[c],
                       moved[c], final_step[c], counts[c], twork)
    return draws, lp, acc, en, steps, depth, nleap, div, nonf, moved, final_step[:, 0].copy(), counts[:, 0].copy(), counts[:, 1].copy()


def adaptive_run(logp_grad, stop, make_work, tdata, x0, n_warmup, n_samples, phase, step0, inv_metric, rng_state,
                 transition, max_depth, n_leapfrog, integration_time, max_leapfrog, jitter, kind, adapt_step, delta, gamma,
                 kappa, t0):
    """Same arguments and result dict as the C++ ``adaptive`` (without n_threads)."""
    chains = x0.shape[0]
    A = np.ascontiguousarray(inv_metric, dtype=np.float64).reshape(chains, -1).copy()
    state = np.ascontiguousarray(rng_state, dtype=np.uint64).copy()
    out = _adaptive_run(logp_grad, stop, make_work, tdata, x0, np.int64(n_warmup), np.int64(n_samples),
                        np.ascontiguousarray(phase, dtype=np.uint8), np.ascontiguousarray(step0, dtype=np.float64),
                        A, state, np.int64(transition), np.int64(max_depth), np.int64(n_leapfrog),
                        float(integration_time), np.int64(max_leapfrog), float(jitter), np.int64(kind),
                        bool(adapt_step), float(delta), float(gamma), float(kappa), float(t0))
    keys = ("draws", "log_density", "accept_stat", "energy", "step_size", "tree_depth", "n_leapfrog", "divergent",
            "nonfinite", "moved", "final_step", "n_grad", "n_done")
    r = dict(zip(keys, out))
    r["inv_metric"] = A.reshape(np.shape(inv_metric))
    r["rng_state"] = state
    return r
