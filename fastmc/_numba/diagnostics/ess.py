"""Geyer ESS and basic R-hat: Numba twin of ``csrc/include/fastmc/diagnostics/ess.hpp`` (same
names, same order).

Inputs are (chains, draws) blocks; splitting, ranking and folding are done by the caller.
"""
import math

import numpy as np
from numba import prange

from .._jit import njit, njit_parallel

from .autocov import LAG_BLOCK, autocov_lags_centered

NEED_FFT = -1.0


@njit
def geyer_tau(acm, n_lags, n, mean_var, var_plus, rho):
    """tau from chain-averaged autocovariances acm[:n_lags]; NEED_FFT if more lags are needed."""
    for i in range(n_lags + 2):
        rho[i] = 0.0
    even = 1.0
    odd = 1.0 - (mean_var - acm[1]) / var_plus
    rho[0] = even
    rho[1] = odd
    t = 1
    while t < n - 3 and (even + odd) > 0.0:
        if t + 2 >= n_lags:
            return NEED_FFT
        even = 1.0 - (mean_var - acm[t + 1]) / var_plus
        odd = 1.0 - (mean_var - acm[t + 2]) / var_plus
        if (even + odd) >= 0.0:
            rho[t + 1] = even
            rho[t + 2] = odd
        t += 2
    max_t = t - 2
    if even > 0.0:
        rho[max_t + 1] = even
    s = 1
    while s <= max_t - 2:
        if rho[s + 1] + rho[s + 2] > rho[s - 1] + rho[s]:
            rho[s + 1] = (rho[s - 1] + rho[s]) / 2.0
            rho[s + 2] = rho[s + 1]
        s += 2
    total = 0.0
    for s in range(max_t + 1):
        total += rho[s]
    tail = rho[max_t + 1] if max_t + 1 < n else 0.0
    last = max(max_t + 1, 1)
    for s in range(last + 1):
        if math.isnan(rho[s]):
            return np.nan
    return -1.0 + 2.0 * total + tail


@njit
def ess_from_tau(tau, n_total, relative):
    if math.isnan(tau):
        return np.nan
    N = float(n_total)
    floor_tau = 1.0 / math.log10(N)
    if tau < floor_tau:
        tau = floor_tau
    return (1.0 if relative else N) / tau


@njit
def ess_variances(chain_mean, m, n, acm0):
    nd = float(n)
    mean_var = acm0 * nd / (nd - 1.0)
    vp = mean_var * (nd - 1.0) / nd
    if m > 1:
        mu = 0.0
        for c in range(m):
            mu += chain_mean[c]
        mu /= float(m)
        ss = 0.0
        for c in range(m):
            ss += (chain_mean[c] - mu) * (chain_mean[c] - mu)
        vp += ss / float(m - 1)
    return mean_var, vp


@njit
def ess_from_autocov(acm, chain_mean, relative, rho):
    """FFT path: acm (n,) chain-averaged autocovariances; rho scratch (n + 2,)."""
    n = acm.shape[0]
    m = chain_mean.shape[0]
    mean_var, var_plus = ess_variances(chain_mean, m, n, acm[0])
    return ess_from_tau(geyer_tau(acm, n, n, mean_var, var_plus, rho), m * n, relative)


IDENTITY, BELOW, SQUARE_DEV, ABS_DEV, INSIDE = 0, 1, 2, 3, 4


@njit
def ess_transform(v, kind, a, b):
    """g(x): 0 identity, 1 x <= a, 2 (x - a)^2, 3 |x - a|, 4 a <= x <= b (see ess.hpp)."""
    if kind == BELOW:
        return 1.0 if v <= a else 0.0
    if kind == SQUARE_DEV:
        return (v - a) * (v - a)
    if kind == ABS_DEV:
        return abs(v - a)
    if kind == INSIDE:
        return 1.0 if (a <= v and v <= b) else 0.0
    return v


@njit
def ess_prepare_chain(xc, kind, a, b, cc, st):
    """Per chain: cc = g(xc) - mean; st[0:3] = (any NaN draw, min g, max g); returns the mean."""
    n = xc.shape[0]
    has_nan = False
    lo = ess_transform(xc[0], kind, a, b)
    hi = lo
    s = 0.0
    for i in range(n):  # one pass: NaN check, transform, range, sum
        if math.isnan(xc[i]):
            has_nan = True
        v = ess_transform(xc[i], kind, a, b)
        cc[i] = v
        s += v
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    mu = s / float(n)
    for i in range(n):
        cc[i] = cc[i] - mu
    st[0] = 1.0 if has_nan else 0.0
    st[1] = lo
    st[2] = hi
    return mu


NOT_DEGENERATE = -2.0


@njit
def ess_degenerate(st, m, N, relative):
    """NaN if a chain has a NaN draw, the constant-variable ESS if the range is below 1e-15,
    else NOT_DEGENERATE."""
    has_nan = False
    lo = st[0, 1]
    hi = st[0, 2]
    for c in range(m):
        if st[c, 0] != 0.0:
            has_nan = True
        if st[c, 1] < lo:
            lo = st[c, 1]
        if st[c, 2] > hi:
            hi = st[c, 2]
    if has_nan:
        return np.nan
    if hi - lo < 1e-15:
        return 1.0 if relative else float(N)  # constant: every draw counts
    return NOT_DEGENERATE


@njit
def ess_add_lags(cov, m, n, have, want, acm):
    """acm[have:want] = chain average of cov[c, :want - have] / n, summed in chain order."""
    for t in range(have, want):
        acm[t] = 0.0
    for c in range(m):
        for t in range(have, want):
            acm[t] += cov[c, t - have] / float(n)
    for t in range(have, want):
        acm[t] /= float(m)


MORE_LAGS = -3.0


@njit
def ess_lag_block(cov, m, n, have, want, acm, chain_mean, var, rho, relative, lag_cap):
    """With the chains' autocovariances of lags [have, want) in cov: adds them to acm and runs
    Geyer's sequence. Returns the ESS, NEED_FFT (more than lag_cap lags needed) or MORE_LAGS.
    var (2,) holds the between/within variances, computed with the first block."""
    ess_add_lags(cov, m, n, have, want, acm)
    if have == 0:
        var[0], var[1] = ess_variances(chain_mean, m, n, acm[0])
    tau = geyer_tau(acm, want, n, var[0], var[1], rho)
    if tau != NEED_FFT:
        return ess_from_tau(tau, m * n, relative)
    if want >= lag_cap:
        return NEED_FFT
    return MORE_LAGS


@njit
def ess_direct_one(x, max_lag, relative, kind, a, b, centred, acm, rho, cov, chain_mean, st):
    """Direct path for one (m, n) block of g(x) on one worker; NEED_FFT if more than max_lag lags
    are needed. cov (m, max_lag + 3), st (m, 3). Same steps as :func:`ess_direct_one_chains`."""
    m, n = x.shape
    for c in range(m):
        chain_mean[c] = ess_prepare_chain(x[c], kind, a, b, centred[c], st[c])
    d = ess_degenerate(st, m, m * n, relative)
    if d != NOT_DEGENERATE:
        return d
    lag_cap = min(max_lag + 1, n)
    var = np.empty(2)
    have = 0
    want = min(LAG_BLOCK, lag_cap)  # a block of lags at a time
    while True:
        for c in range(m):
            autocov_lags_centered(centred[c], n, have, want, cov[c])
        r = ess_lag_block(cov, m, n, have, want, acm, chain_mean, var, rho, relative, lag_cap)
        if r != MORE_LAGS:
            return r
        have = want
        want = min(have + LAG_BLOCK, lag_cap)


@njit_parallel
def ess_direct_one_chains(x, max_lag, relative, kind, a, b, centred, acm, rho, cov, chain_mean, st):
    """:func:`ess_direct_one` with the chains spread over all threads (C++: ess_direct_one with
    T > 1; a separate kernel here because a parallel kernel may not run inside another's prange).
    Per-chain sums are combined in chain order: the result is the same."""
    m, n = x.shape
    for c in prange(m):
        chain_mean[c] = ess_prepare_chain(x[c], kind, a, b, centred[c], st[c])
    d = ess_degenerate(st, m, m * n, relative)
    if d != NOT_DEGENERATE:
        return d
    lag_cap = min(max_lag + 1, n)
    var = np.empty(2)
    have = 0
    want = min(LAG_BLOCK, lag_cap)
    while True:
        for c in prange(m):
            autocov_lags_centered(centred[c], n, have, want, cov[c])
        r = ess_lag_block(cov, m, n, have, want, acm, chain_mean, var, rho, relative, lag_cap)
        if r != MORE_LAGS:
            return r
        have = want
        want = min(have + LAG_BLOCK, lag_cap)


CHAIN_PARALLEL_MIN = 1 << 16


@njit
def ess_by_chain(n_var, m, n, n_threads):
    """Fewer variables than threads and enough draws: spread each variable's chains instead."""
    return n_var < n_threads and m * n >= CHAIN_PARALLEL_MIN


@njit
def ess_restore(centred, chain_mean):
    """After an in-place ESS that needs the FFT: add the chain means back (g(x) to within an ulp)."""
    m, n = centred.shape
    for c in range(m):
        for i in range(n):
            centred[c, i] += chain_mean[c]


@njit_parallel
def ess_direct(x, max_lag, relative, kind, a, b, out, n_threads, overwrite):
    """Batch: x (n_var, m, n), a, b (n_var,) -> out (n_var,): ESS of g(x), NaN if a draw is NaN,
    NEED_FFT where the caller must use an FFT. One worker per variable, or (ess_by_chain) the
    variables in turn with their chains on all threads. With overwrite, x[v] receives
    g(x) - chain mean instead of a scratch copy (g(x) again where the FFT is needed). Scratch is
    allocated once per worker."""
    n_var, m, n = x.shape
    L = max_lag + 3
    if ess_by_chain(n_var, m, n, n_threads):
        centred = np.empty((0 if overwrite else m, n))
        acm = np.empty(L)
        rho = np.empty(L)
        cov = np.empty((m, L))
        chain_mean = np.empty(m)
        st = np.empty((m, 3))
        for v in range(n_var):
            cv = x[v] if overwrite else centred
            out[v] = ess_direct_one_chains(x[v], max_lag, relative, kind, a[v], b[v], cv, acm,
                                           rho, cov, chain_mean, st)
            if overwrite and out[v] == NEED_FFT:
                ess_restore(cv, chain_mean)
        return
    T = max(1, min(n_threads, n_var))
    for w in prange(T):
        centred = np.empty((0 if overwrite else m, n))
        acm = np.empty(L)
        rho = np.empty(L)
        cov = np.empty((m, L))
        chain_mean = np.empty(m)
        st = np.empty((m, 3))
        for v in range(w, n_var, T):
            cv = x[v] if overwrite else centred
            out[v] = ess_direct_one(x[v], max_lag, relative, kind, a[v], b[v], cv, acm, rho,
                                    cov, chain_mean, st)
            if overwrite and out[v] == NEED_FFT:
                ess_restore(cv, chain_mean)


@njit_parallel
def moments(x, out, n_threads):
    """Per row of x (n_var, N): out[v] = (mean, sum (x - mean)^2, sum (x - mean)^4)."""
    n_var, N = x.shape
    T = max(1, min(n_threads, n_var))
    for w in prange(T):
        for v in range(w, n_var, T):
            s = 0.0
            for i in range(N):
                s += x[v, i]
            mu = s / float(N)
            s2 = 0.0
            s4 = 0.0
            for i in range(N):
                c2 = (x[v, i] - mu) * (x[v, i] - mu)
                s2 += c2
                s4 += c2 * c2
            out[v, 0] = mu
            out[v, 1] = s2
            out[v, 2] = s4


@njit
def rhat_one(x, chain_mean, chain_var):
    """Basic R-hat of one (m, n) block; NaN when m < 2."""
    m, n = x.shape
    nd = float(n)
    for c in range(m):
        s = 0.0
        for i in range(n):
            s += x[c, i]
        mu = s / nd
        ss = 0.0
        for i in range(n):
            ss += (x[c, i] - mu) * (x[c, i] - mu)
        chain_mean[c] = mu
        chain_var[c] = ss / (nd - 1.0)
    mu = 0.0
    w = 0.0
    for c in range(m):
        mu += chain_mean[c]
        w += chain_var[c]
    mu /= float(m)
    w /= float(m)
    ss = 0.0
    for c in range(m):
        ss += (chain_mean[c] - mu) * (chain_mean[c] - mu)
    b = nd * ss / float(m - 1) if m > 1 else np.nan
    return math.sqrt((b / w + nd - 1.0) / nd)


@njit_parallel
def rhat(x, out, n_threads):
    """Batch: x (n_var, m, n) -> out (n_var,)."""
    n_var, m, n = x.shape
    T = max(1, min(n_threads, n_var))
    for w in prange(T):
        cm = np.empty(m)
        cv = np.empty(m)
        for v in range(w, n_var, T):
            out[v] = rhat_one(x[v], cm, cv)
