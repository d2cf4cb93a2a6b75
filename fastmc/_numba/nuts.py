"""One NUTS transition (multinomial, generalised U-turn, biased progressive sampling).
Twin: csrc/include/fastmc/nuts.hpp, which documents the algorithm; this file mirrors it line by
line. Trajectory ends are (2, d) arrays, leaf records (max_depth + 1, d) arrays addressed by slot;
the C++ twin's four-lane vector loops are the loops here with partial sums s0..s3 by lane i % 4
(tails into lane 0)."""
import math

import numpy as np

from ._jit import njit, njit_fn, njit_inline
from .linalg import fma
from .metric import metric_leapfrog, metric_momentum, metric_start
from .rng import rng_uniform

MAX_ENERGY_ERROR = 1000.0
RESCALE = 500.0  # weights relative to exp(m), m moved only past m + RESCALE (nuts.hpp)


@njit
def nuts_make_work(d, max_depth):
    """(qx, gx, po, vo, rho, R, qe, pe, ge, ve, ue, Sb, Sn, Vb, Se, Ve): the first five are also the
    scratch of the static HMC transition and the step-size search."""
    L = max_depth + 1
    e = np.empty
    return (e(d), e(d), e(d), e(d), e(d), e(d), e((2, d)), e((2, d)), e((2, d)), e((2, d)), e((2, d)),
            e((L, d)), e((L, d)), e((L, d)), e((L, d)), e((L, d)))


@njit_inline
def ctz(x):
    t = 0
    while (x & 1) == 0:
        x >>= 1
        t += 1
    return t


@njit_inline
def lane_sum(s0, s1, s2, s3):
    return (s0 + s1) + (s2 + s3)


@njit_inline
def _end_lane(t, i, rec, Se, Ve, T, R, p, v, Vb, ja, Sb):
    if rec:
        Se[T, i] = R[i]
        Ve[T, i] = v[i]
    R[i] += p[i]
    r = R[i] - Sb[ja, i]
    return fma(Vb[ja, i], r, t[0]), fma(v[i], r, t[1])


@njit_inline
def record_end_check(rec, Se, Ve, T, R, p, v, Vb, ja, Sb, d):
    """An odd leaf in one pass: (rec) record S_n and its velocity in slot T, R += p, and the
    level-1 node check with rho = R - Sb[ja] at velocities Vb[ja] and v."""
    z = (0.0, 0.0)
    t0 = z
    t1 = z
    t2 = z
    t3 = z
    i = 0
    while i + 4 <= d:
        t0 = _end_lane(t0, i, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        t1 = _end_lane(t1, i + 1, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        t2 = _end_lane(t2, i + 2, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        t3 = _end_lane(t3, i + 3, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        i += 4
    while i < d:
        t0 = _end_lane(t0, i, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        i += 1
    return lane_sum(t0[0], t1[0], t2[0], t3[0]) > 0.0 and lane_sum(t0[1], t1[1], t2[1], t3[1]) > 0.0


@njit_inline
def _acc3(t, r0, r1, r2, x0, y0, x1, y1, x2, y2):
    return (fma(x0, r0, t[0]), fma(y0, r0, t[1]), fma(x1, r1, t[2]), fma(y1, r1, t[3]), fma(x2, r2, t[4]),
            fma(y2, r2, t[5]))


@njit_inline
def _all_positive(t0, t1, t2, t3):
    ok = True
    for c in range(6):
        ok = ok and lane_sum(t0[c], t1[c], t2[c], t3[c]) > 0.0
    return ok


@njit_inline
def _node3_lane(t, i, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se):
    va = Vb[ja, i]
    vb = vw[i]
    return _acc3(t, R[i] - Sb[ja, i], Sn[h1, i] - Sb[ja, i], R[i] - Se[h1, i], va, vb, va, Vb[h1, i], Ve[h1, i], vb)


@njit_inline
def uturn_node3(Vb, ja, vw, h1, Ve, R, Sb, Sn, Se, d):
    """The three checks of a node of level >= 2 (first leaf in slot ja, midpoint slot h1)."""
    z = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    t0 = z
    t1 = z
    t2 = z
    t3 = z
    i = 0
    while i + 4 <= d:
        t0 = _node3_lane(t0, i, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        t1 = _node3_lane(t1, i + 1, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        t2 = _node3_lane(t2, i + 2, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        t3 = _node3_lane(t3, i + 3, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        i += 4
    while i < d:
        t0 = _node3_lane(t0, i, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        i += 1
    return _all_positive(t0, t1, t2, t3)


@njit_inline
def _join3_lane(t, i, ve, f, vw, Vb, j0, vo, rho, R, Sn, po):
    vf = ve[f, i]
    vn = vw[i]
    return _acc3(t, rho[i] + R[i], rho[i] + Sn[j0, i], R[i] + po[i], vf, vn, vf, Vb[j0, i], vo[i], vn)


@njit_inline
def uturn_join3(ve, f, vw, Vb, j0, vo, rho, R, Sn, po, d):
    """The three checks across a join: tree + subtree, tree + first leaf, subtree + old end."""
    z = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    t0 = z
    t1 = z
    t2 = z
    t3 = z
    i = 0
    while i + 4 <= d:
        t0 = _join3_lane(t0, i, ve, f, vw, Vb, j0, vo, rho, R, Sn, po)
        t1 = _join3_lane(t1, i + 1, ve, f, vw, Vb, j0, vo, rho, R, Sn, po)
        t2 = _join3_lane(t2, i + 2, ve, f, vw, Vb, j0, vo, rho, R, Sn, po)
        t3 = _join3_lane(t3, i + 3, ve, f, vw, Vb, j0, vo, rho, R, Sn, po)
        i += 4
    while i < d:
        t0 = _join3_lane(t0, i, ve, f, vw, Vb, j0, vo, rho, R, Sn, po)
        i += 1
    return _all_positive(t0, t1, t2, t3)


@njit_inline
def record_first(Sb, Sn, Vb, j, R, p, v, d):
    """Leaf 0 of a subtree: S_0 = 0, R = S_1 = 0 + p."""
    for i in range(d):
        Sb[j, i] = 0.0
        R[i] = 0.0 + p[i]
        Sn[j, i] = R[i]
        Vb[j, i] = v[i]


@njit_inline
def record_start(Sb, Sn, Vb, j, R, p, v, d):
    for i in range(d):
        Sb[j, i] = R[i]
        R[i] += p[i]
        Sn[j, i] = R[i]
        Vb[j, i] = v[i]


@njit_inline
def add_to(R, p, d):
    for i in range(d):
        R[i] += p[i]


@njit_fn
def nuts_transition(logp_grad, tdata, s, q, g, lp, eps, kind, A, F, max_depth, nw, twork):
    """Returns (lp, accept_stat, energy, depth, n_leapfrog, divergent, nonfinite); q, g updated in place."""
    qx, gx, po, vo, rho, R, qe, pe, ge, ve, ue, Sb, Sn, Vb, Se, Ve = nw
    d = q.shape[0]
    inf = math.inf

    qs = q
    gs = g
    qc = qx
    gc = gx
    swapped = False
    p0 = pe[0]
    v0 = ve[0]
    u0 = ue[0]
    metric_momentum(s, kind, d, F, p0)
    H0 = -lp + metric_start(kind, d, A, p0, g, v0, u0)
    for i in range(d):
        qe[0, i] = q[i]
        ge[0, i] = g[i]
        qe[1, i] = q[i]
        pe[1, i] = pe[0, i]
        ge[1, i] = g[i]
        ve[1, i] = ve[0, i]
        rho[i] = pe[0, i]
    if kind != 0:
        for i in range(d):
            ue[1, i] = ue[0, i]
    m_tree = 0.0
    s_tree = 1.0
    lp_s = lp
    h_sample = H0
    sum_metro = 0.0
    depth = 0
    n_leap = 0
    divergent = False
    nonfinite = False

    while depth < max_depth:
        e = 0 if rng_uniform(s) > 0.5 else 1
        eps_s = eps if e == 0 else -eps
        qw = qe[e]
        pw = pe[e]
        gw = ge[e]
        vw = ve[e]
        uw = ue[e]
        for i in range(d):
            po[i] = pw[i]
            vo[i] = vw[i]
        lpw = 0.0
        n_leaves = 1 << depth
        m_sub = m_tree
        c_sub = H0 - m_sub
        s_sub = 0.0
        lp_c = 0.0
        h_c = 0.0
        valid = True
        for n in range(n_leaves):
            lpw, kin = metric_leapfrog(logp_grad, tdata, qw, pw, gw, vw, uw, eps_s, kind, A, d, twork)
            n_leap += 1
            h = -lpw + kin
            if not math.isfinite(h):
                h = inf
                nonfinite = True
            if h - H0 > MAX_ENERGY_ERROR:
                divergent = True
                valid = False
                break
            wt = H0 - h
            x = (lpw + c_sub) - kin  # = wt - m_sub, as nuts.hpp forms it
            w_rel = 1.0
            if x <= RESCALE:
                w_rel = math.exp(x)
                s_sub += w_rel
                if m_sub == 0.0:
                    sum_metro += w_rel if w_rel < 1.0 else 1.0
                elif wt > 0.0:
                    sum_metro += 1.0
                else:
                    sum_metro += math.exp(wt)
            else:
                s_sub = s_sub * math.exp(-x) + 1.0
                m_sub = wt
                c_sub = H0 - m_sub
                sum_metro += 1.0
            if n == 0 or rng_uniform(s) * s_sub < w_rel:
                for i in range(d):
                    qc[i] = qw[i]
                    gc[i] = gw[i]
                lp_c = lpw
                h_c = h
            if n == 0:
                record_first(Sb, Sn, Vb, depth, R, pw, vw, d)
                continue
            if (n & 1) == 0:
                record_start(Sb, Sn, Vb, ctz(n), R, pw, vw, d)
                continue
            c = ctz(n + 1)
            T = c if c < depth else depth
            j1 = depth if n == 1 else ctz(n - 1)
            valid = record_end_check(T < depth, Se, Ve, T, R, pw, vw, Vb, j1, Sb, d)
            k = 2
            while k <= T and valid:
                a = n + 1 - (1 << k)
                ja = depth if a == 0 else ctz(a)
                valid = uturn_node3(Vb, ja, vw, k - 1, Ve, R, Sb, Sn, Se, d)
                k += 1
            if not valid:
                break
        if not valid:
            break
        sub_depth = depth
        depth += 1
        x = m_sub - m_tree
        ex = math.exp(-x) if x > 0.0 else 1.0
        ratio = s_sub / (s_tree * ex) if x > 0.0 else s_sub / s_tree
        u_prog = rng_uniform(s)  # drawn even when ratio > 1 (nuts.hpp: why)
        if ratio > 1.0 or u_prog < ratio:
            qs, qc = qc, qs
            gs, gc = gc, gs
            lp_s = lp_c
            h_sample = h_c
            swapped = not swapped
        if x > 0.0:
            s_tree = s_tree * ex + s_sub
            m_tree = m_sub
        else:
            s_tree += s_sub
        f = 1 - e
        persist = uturn_join3(ve, f, vw, Vb, sub_depth, vo, rho, R, Sn, po, d)
        add_to(rho, R, d)
        if not persist:
            break
    if swapped:
        for i in range(d):
            q[i] = qs[i]
            g[i] = gs[i]
    return lp_s, sum_metro / float(n_leap), h_sample, depth, n_leap, divergent, nonfinite
