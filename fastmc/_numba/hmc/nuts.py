"""One NUTS transition (multinomial, generalised U-turn, biased progressive sampling).
Twin: csrc/include/fastmc/hmc/nuts.hpp, which documents the algorithm; the parts here carry the
same names. The states (q, g) of the trajectory live in a pool of five buffers addressed by
integer ids (StatePool); the small mutable parts (the pool's roles, the subtree's weight and
candidate, the pending draw, the transition's totals) are NumPy records updated in place."""
import math

import numpy as np

from .._jit import njit, njit_fn, njit_inline
from ..core.rng import rng_uniform
from .integrator import metric_leapfrog_to, metric_start
from .metric import metric_momentum
from .transition import MAX_ENERGY_ERROR
from .uturn import add_to, slots_first_leaf, slots_join, slots_leaf

RESCALE = 500.0  # weights relative to exp(m), m moved only past m + RESCALE (nuts.hpp)

# StatePool: the buffer ids of the selected state, the subtree's candidate and the two ends
STATE_POOL = np.dtype([("sel", np.int64), ("cand", np.int64), ("end0", np.int64), ("end1", np.int64)], align=True)
# PendingDraw: the last leaf's weight, the subtree's weight sum then, its lp and energy
PENDING_DRAW = np.dtype([("w", np.float64), ("s", np.float64), ("lp", np.float64), ("h", np.float64),
                         ("pending", np.uint8)], align=True)
# SubtreeWeight (exp(m) s relative to exp(-H0), c = H0 - m) and the Candidate's lp and energy
SUBTREE = np.dtype([("m", np.float64), ("s", np.float64), ("c", np.float64), ("lp_c", np.float64),
                    ("h_c", np.float64)], align=True)
# NutsTotals
NUTS_TOTALS = np.dtype([("sum_metro", np.float64), ("max_err", np.float64), ("n_leap", np.int64),
                        ("divergent", np.uint8),
                        ("nonfinite", np.uint8)], align=True)


@njit
def nuts_make_work(d, max_depth):
    """(Q, G, P, V, U, po, vo, rho, R, slots, records): the pool (5, d) of q and g, the ends' p, v
    and u (2, d), po, vo, rho, R (d,), the leaf records slots = 5 x (max_depth + 1, d) and the
    records (pool, pending, subtree, totals)."""
    L = max_depth + 1
    e = np.empty
    slots = (e((L, d)), e((L, d)), e((L, d)), e((L, d)), e((L, d)))
    records = (np.zeros(1, STATE_POOL), np.zeros(1, PENDING_DRAW), np.zeros(1, SUBTREE), np.zeros(1, NUTS_TOTALS))
    return (e((5, d)), e((5, d)), e((2, d)), e((2, d)), e((2, d)), e(d), e(d), e(d), e(d), slots, records)


@njit_inline
def free_buffer(pool):
    """A buffer none of the four roles uses (five buffers, at most four in use)."""
    used = (1 << pool.sel) | (1 << pool.cand) | (1 << pool.end0) | (1 << pool.end1)
    b = 0
    while (used >> b) & 1:
        b += 1
    return b


@njit_inline
def pending_resolve(draw, s, b, pool, sub):
    """The pending leaf (in buffer b) becomes the candidate with probability w / s."""
    if draw.pending == 0:
        return
    draw.pending = 0
    if rng_uniform(s) * draw.s < draw.w:
        pool.cand = b
        sub.lp_c = draw.lp
        sub.h_c = draw.h


@njit_inline
def weight_add_leaf(sub, H0, lpw, kin, h, tot):
    """SubtreeWeight::add_leaf: adds the leaf's weight and acceptance; returns its weight
    relative to exp(m)."""
    wt = H0 - h
    x = (lpw + sub.c) - kin  # = wt - m, as nuts.hpp forms it
    if x <= RESCALE:
        w_rel = math.exp(x)
        sub.s += w_rel
        if sub.m == 0.0:
            tot.sum_metro += w_rel if w_rel < 1.0 else 1.0
        elif wt > 0.0:
            tot.sum_metro += 1.0
        else:
            tot.sum_metro += math.exp(wt)
        return w_rel
    sub.s = sub.s * math.exp(-x) + 1.0
    sub.m = wt
    sub.c = H0 - wt
    tot.sum_metro += 1.0
    return 1.0


@njit_inline
def trajectory_start(s, kind, d, A, F, g, P, V, U, rho):
    """Trajectory::start: fresh momentum at the start; both ends and rho set to it. Returns the
    kinetic energy."""
    metric_momentum(s, kind, d, F, P[0])
    kin0 = metric_start(kind, d, A, P[0], g, V[0], U[0])
    for i in range(d):
        P[1, i] = P[0, i]
        V[1, i] = V[0, i]
        rho[i] = P[0, i]
    if kind != 0:
        for i in range(d):
            U[1, i] = U[0, i]
    return kin0


@njit_fn
def build_subtree(logp_grad, tdata, s, Q, G, P, V, U, R, slots, pool, draw, sub, tot, e, eps_s, depth, H0, kind, A,
                  d, twork):
    """build_subtree of nuts.hpp: the 2^depth leaves extending end e; False when the subtree
    diverged or turned."""
    pw = P[e]
    vw = V[e]
    uw = U[e]
    valid = True
    pool.cand = pool.sel  # none yet (adds no buffer in use)
    draw.pending = 0
    for n in range(1 << depth):
        b = free_buffer(pool)
        a = pool.end0 if e == 0 else pool.end1
        lpw, kin = metric_leapfrog_to(logp_grad, tdata, Q[a], Q[b], pw, G[a], G[b], vw, uw, eps_s, kind, A, d, twork)
        tot.n_leap += 1
        pending_resolve(draw, s, a, pool, sub)  # leaf n - 1, in buffer a
        if e == 0:
            pool.end0 = b
        else:
            pool.end1 = b
        h = -lpw + kin
        if not math.isfinite(h):
            h = math.inf
            tot.nonfinite = 1
        err = h - H0
        if abs(err) > abs(tot.max_err):
            tot.max_err = err
        if err > MAX_ENERGY_ERROR:
            tot.divergent = 1
            valid = False
            break
        w_rel = weight_add_leaf(sub, H0, lpw, kin, h, tot)
        if n == 0:  # the first candidate; the running momentum sum starts here
            pool.cand = b
            sub.lp_c = lpw
            sub.h_c = h
            slots_first_leaf(slots, depth, R, pw, vw, d)
            continue
        draw.w = w_rel  # drawn for or against after the next leapfrog (StatePool in nuts.hpp)
        draw.s = sub.s
        draw.lp = lpw
        draw.h = h
        draw.pending = 1
        valid = slots_leaf(slots, n, depth, R, pw, vw, d)
        if not valid:
            break
    pending_resolve(draw, s, pool.end0 if e == 0 else pool.end1, pool, sub)  # the last leaf
    return valid


@njit_fn
def nuts_transition(logp_grad, tdata, s, q, g, lp, eps, kind, A, F, max_depth, nw, twork):
    """Returns (lp, accept_stat, energy, energy_error, max_energy_error, depth, n_leapfrog,
    divergent, nonfinite); q, g updated in place to the selected state."""
    Q, G, P, V, U, po, vo, rho, R, slots, records = nw
    pool = records[0][0]
    draw = records[1][0]
    sub = records[2][0]
    tot = records[3][0]
    d = q.shape[0]
    for i in range(d):  # buffer 0: the current state
        Q[0, i] = q[i]
        G[0, i] = g[i]
    pool.sel = 0
    pool.cand = 0
    pool.end0 = 0
    pool.end1 = 0
    tot.sum_metro = 0.0
    tot.max_err = 0.0
    tot.n_leap = 0
    tot.divergent = 0
    tot.nonfinite = 0
    H0 = -lp + trajectory_start(s, kind, d, A, F, g, P, V, U, rho)
    m_tree = 0.0
    s_tree = 1.0
    lp_s = lp
    h_sample = H0
    depth = 0

    while depth < max_depth:
        e = 0 if rng_uniform(s) > 0.5 else 1
        for i in range(d):
            po[i] = P[e, i]
            vo[i] = V[e, i]
        sub.m = m_tree
        sub.s = 0.0
        sub.c = H0 - m_tree
        sub.lp_c = 0.0
        sub.h_c = 0.0
        if not build_subtree(logp_grad, tdata, s, Q, G, P, V, U, R, slots, pool, draw, sub, tot, e,
                             eps if e == 0 else -eps, depth, H0, kind, A, d, twork):
            break
        sub_depth = depth
        depth += 1
        # biased progressive sampling (nuts.hpp: why the uniform is always drawn)
        x = sub.m - m_tree
        ex = math.exp(-x) if x > 0.0 else 1.0
        ratio = sub.s / (s_tree * ex) if x > 0.0 else sub.s / s_tree
        u_prog = rng_uniform(s)
        if ratio > 1.0 or u_prog < ratio:
            pool.sel = pool.cand
            lp_s = sub.lp_c
            h_sample = sub.h_c
        if x > 0.0:
            s_tree = s_tree * ex + sub.s
            m_tree = sub.m
        else:
            s_tree += sub.s
        persist = slots_join(slots, V[1 - e], V[e], vo, rho, R, po, sub_depth, d)
        add_to(rho, R, d)
        if not persist:
            break
    # buffer 0 is a copy of the caller's arrays here (in nuts.hpp the arrays themselves), and a
    # leaf may have reused it: the selected state is always copied back
    for i in range(d):
        q[i] = Q[pool.sel, i]
        g[i] = G[pool.sel, i]
    return (lp_s, tot.sum_metro / float(tot.n_leap), h_sample, h_sample - H0, tot.max_err, depth, tot.n_leap,
            tot.divergent != 0, tot.nonfinite != 0)
