"""One NUTS transition (multinomial, generalised U-turn, biased progressive sampling).
Twin: csrc/include/fastmc/hmc/nuts.hpp, which documents the algorithm. Trajectory ends are (2, d)
arrays, leaf records (max_depth + 1, d) arrays addressed by slot (uturn.py)."""
import math

import numpy as np

from .._jit import njit, njit_fn
from ..core.rng import rng_uniform
from .integrator import metric_leapfrog, metric_start
from .metric import metric_momentum
from .transition import MAX_ENERGY_ERROR
from .uturn import add_to, ctz, record_end_check, record_first, record_start, uturn_join3, uturn_node3

RESCALE = 500.0  # weights relative to exp(m), m moved only past m + RESCALE (nuts.hpp)


@njit
def nuts_make_work(d, max_depth):
    """(qx, gx, po, vo, rho, R, qe, pe, ge, ve, ue, Sb, Sn, Vb, Se, Ve): the first five are also the
    scratch of the static HMC transition and the step-size search."""
    L = max_depth + 1
    e = np.empty
    return (e(d), e(d), e(d), e(d), e(d), e(d), e((2, d)), e((2, d)), e((2, d)), e((2, d)), e((2, d)),
            e((L, d)), e((L, d)), e((L, d)), e((L, d)), e((L, d)))


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
