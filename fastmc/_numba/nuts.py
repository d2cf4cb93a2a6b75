"""One NUTS transition (multinomial, generalised U-turn, biased progressive sampling).
Twin: csrc/include/fastmc/nuts.hpp, which documents the algorithm; this file mirrors it line by
line. Ends (2d), per-level records (L*d) are flat arrays addressed by offsets (no views)."""
import math

import numpy as np

from ._jit import njit, njit_fn, njit_inline
from .linalg import dot4o
from .metric import kinetic, metric_leapfrog, metric_momentum, metric_mul
from .rng import rng_uniform

MAX_ENERGY_ERROR = 1000.0


@njit
def nuts_make_work(d, max_depth):
    """(qw, pw, gw, vw, qe, pe, ge, ve, qc, gc, rho, R, tmp, beg_p, beg_ps, beg_R, end_p, end_ps, lpe)."""
    L = max_depth + 1
    e = np.empty
    return (e(d), e(d), e(d), e(d), e(2 * d), e(2 * d), e(2 * d), e(2 * d), e(d), e(d), e(d), e(d), e(d),
            e(L * d), e(L * d), e(L * d), e(L * d), e(L * d), e(2))


@njit_inline
def log_add_exp(a, b):
    m = a if a > b else b
    if m == -math.inf:
        return m
    lo = b if a > b else a
    return m + math.log1p(math.exp(lo - m))


@njit_inline
def no_uturn(psm, om, psp, op, rho, d):
    return dot4o(psp, op, rho, 0, d) > 0.0 and dot4o(psm, om, rho, 0, d) > 0.0


@njit_inline
def ctz(x):
    t = 0
    while (x & 1) == 0:
        x >>= 1
        t += 1
    return t


@njit_fn
def nuts_transition(logp_grad, tdata, s, q, g, lp, eps, kind, A, F, max_depth, nw, twork):
    """Returns (lp, accept_stat, energy, depth, n_leapfrog, divergent); q, g updated in place."""
    qw, pw, gw, vw, qe, pe, ge, ve, qc, gc, rho, R, tmp, beg_p, beg_ps, beg_R, end_p, end_ps, lpe = nw
    d = q.shape[0]
    inf = math.inf

    metric_momentum(s, kind, d, F, pw)
    metric_mul(kind, d, A, pw, vw)
    H0 = -lp + kinetic(pw, vw, d)
    lpe[0] = lp
    lpe[1] = lp
    for e in range(2):
        for i in range(d):
            qe[e * d + i] = q[i]
            pe[e * d + i] = pw[i]
            ge[e * d + i] = g[i]
            ve[e * d + i] = vw[i]
    for i in range(d):
        rho[i] = pw[i]
    lsw = 0.0
    h_sample = H0
    sum_metro = 0.0
    depth = 0
    n_leap = 0
    divergent = False

    while depth < max_depth:
        e = 0 if rng_uniform(s) > 0.5 else 1
        eps_s = eps if e == 0 else -eps
        for i in range(d):
            qw[i] = qe[e * d + i]
            pw[i] = pe[e * d + i]
            gw[i] = ge[e * d + i]
            vw[i] = ve[e * d + i]
            R[i] = 0.0
        lpw = lpe[e]
        n_leaves = 1 << depth
        lsw_sub = -inf
        lp_c = 0.0
        h_c = 0.0
        valid = True
        for n in range(n_leaves):
            lpw = metric_leapfrog(logp_grad, tdata, qw, pw, gw, vw, eps_s, kind, A, d, twork)
            n_leap += 1
            h = -lpw + kinetic(pw, vw, d)
            if math.isnan(h):
                h = inf
            if h - H0 > MAX_ENERGY_ERROR:
                divergent = True
            wt = H0 - h
            sum_metro += 1.0 if wt > 0.0 else math.exp(wt)
            lsw_new = log_add_exp(lsw_sub, wt)
            take = n == 0 or rng_uniform(s) < math.exp(wt - lsw_new)
            lsw_sub = lsw_new
            if take:
                for i in range(d):
                    qc[i] = qw[i]
                    gc[i] = gw[i]
                lp_c = lpw
                h_c = h
            if divergent:
                valid = False
                break
            if n == 0:
                top = depth
            else:
                top = ctz(n)
                top = top if top < depth else depth
            for k in range(top + 1):
                for i in range(d):
                    beg_p[k * d + i] = pw[i]
                    beg_ps[k * d + i] = vw[i]
                    beg_R[k * d + i] = R[i]
            for i in range(d):
                R[i] += pw[i]
            T = ctz(n + 1)
            T = T if T < depth else depth
            if T < depth:
                for i in range(d):
                    end_p[T * d + i] = pw[i]
                    end_ps[T * d + i] = vw[i]
            k = 1
            while k <= T and valid:
                bo = k * d
                ho = (k - 1) * d
                for i in range(d):
                    tmp[i] = R[i] - beg_R[bo + i]
                ok = no_uturn(beg_ps, bo, vw, 0, tmp, d)
                if ok:
                    for i in range(d):
                        tmp[i] = (beg_R[ho + i] - beg_R[bo + i]) + beg_p[ho + i]
                    ok = no_uturn(beg_ps, bo, beg_ps, ho, tmp, d)
                if ok:
                    for i in range(d):
                        tmp[i] = (R[i] - beg_R[ho + i]) + end_p[ho + i]
                    ok = no_uturn(end_ps, ho, vw, 0, tmp, d)
                valid = ok
                k += 1
            if not valid:
                break
        if not valid:
            break
        sub_depth = depth
        depth += 1
        take = lsw_sub > lsw or rng_uniform(s) < math.exp(lsw_sub - lsw)
        if take:
            for i in range(d):
                q[i] = qc[i]
                g[i] = gc[i]
            lp = lp_c
            h_sample = h_c
        lsw = log_add_exp(lsw, lsw_sub)
        f = 1 - e
        bo = sub_depth * d
        for i in range(d):
            tmp[i] = rho[i] + R[i]
        persist = no_uturn(ve, f * d, vw, 0, tmp, d)
        if persist:
            for i in range(d):
                tmp[i] = rho[i] + beg_p[bo + i]
            persist = no_uturn(ve, f * d, beg_ps, bo, tmp, d)
        if persist:
            for i in range(d):
                tmp[i] = R[i] + pe[e * d + i]
            persist = no_uturn(ve, e * d, vw, 0, tmp, d)
        for i in range(d):
            rho[i] += R[i]
            qe[e * d + i] = qw[i]
            pe[e * d + i] = pw[i]
            ge[e * d + i] = gw[i]
            ve[e * d + i] = vw[i]
        lpe[e] = lpw
        if not persist:
            break
    return lp, sum_metro / float(n_leap), h_sample, depth, n_leap, divergent
