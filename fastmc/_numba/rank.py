"""Rank normalisation: Numba twin of ``csrc/include/fastmc/rank.hpp`` (same names, same order).

One radix sort of order-preserving 64-bit keys per variable (8 LSD passes; for N >= 2^18 one MSD
pass then LSD per bin) gives average ranks, ties, the sorted values and, by a merge about the
median, the folded ranks; integer ranks read their normal score from a caller-supplied table,
half-integer ranks (ties) use :func:`normal_quantile`.
"""
import math

import numpy as np
from numba import njit, prange

_SIGN = np.uint64(0x8000000000000000)
_LOW63 = np.uint64(0x7FFFFFFFFFFFFFFF)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_U63 = np.uint64(63)
_MASK = np.uint64(255)


@njit(cache=True, nogil=True, error_model="numpy")
def normal_quantile(p):
    """Standard normal quantile: A&S 26.2.23 start, three Halley steps on erfc (see rank.hpp)."""
    if not (p > 0.0 and p < 1.0):
        if p == 0.0:
            return -np.inf
        if p == 1.0:
            return np.inf
        return np.nan
    if p == 0.5:
        return 0.0
    upper = p > 0.5
    q = 1.0 - p if upper else p
    t = math.sqrt(-2.0 * math.log(q))
    z = -(t - (2.515517 + t * (0.802853 + t * 0.010328))
          / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
    sqrt2pi = 2.5066282746310002
    for _ in range(3):
        e = 0.5 * math.erfc(-z / 1.4142135623730951) - q
        u = e * sqrt2pi * math.exp(0.5 * z * z)
        z = z - u / (1.0 + 0.5 * z * u)
    return -z if upper else z


@njit(cache=True, nogil=True, error_model="numpy")
def radix_sort_keys(n, first_pass, n_passes, ka, ia, kb, ib, hist):
    """LSD sort of ka (positions ia) on bytes first_pass..n_passes-1; True if the result is in
    (ka, ia)."""
    for p in range(n_passes):
        for b in range(256):
            hist[p, b] = 0
    for i in range(n):
        k = ka[i]
        for p in range(first_pass, n_passes):
            hist[p, int((k >> np.uint64(8 * p)) & _MASK)] += 1
    in_a = True
    for p in range(first_pass, n_passes):
        shift = np.uint64(8 * p)
        first = ka[0] if in_a else kb[0]
        if hist[p, int((first >> shift) & _MASK)] == n:
            continue  # digit constant
        s = 0
        for b in range(256):
            c = hist[p, b]
            hist[p, b] = s
            s += c
        if in_a:
            ks, is_, kd, id_ = ka, ia, kb, ib
        else:
            ks, is_, kd, id_ = kb, ib, ka, ia
        for i in range(n):
            k = ks[i]
            d = int((k >> shift) & _MASK)
            dst = hist[p, d]
            hist[p, d] = dst + 1
            kd[dst] = k
            id_[dst] = is_[i]
        in_a = not in_a
    return in_a


SKIP_BYTES = 2
MAX_RUN = 64
_U16 = np.uint64(16)


@njit(cache=True, nogil=True, error_model="numpy")
def finish_low_bits(n, k, idx):
    """Insertion-sort the (rare, adjacent) runs of keys equal above bit 16 (see rank.hpp); False
    at a run longer than MAX_RUN (the caller then sorts fully)."""
    i = 0
    while i + 1 < n:
        if (k[i + 1] >> _U16) != (k[i] >> _U16):
            i += 1
            continue
        j = i + 1
        while j + 1 < n and (k[j + 1] >> _U16) == (k[i] >> _U16):
            j += 1
        if j - i + 1 > MAX_RUN:
            return False
        for a in range(i + 1, j + 1):
            key = k[a]
            x = idx[a]
            b = a - 1
            while b >= i and k[b] > key:
                k[b + 1] = k[b]
                idx[b + 1] = idx[b]
                b -= 1
            k[b + 1] = key
            idx[b + 1] = x
        i = j + 1
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def sort_keys(n, n_passes, ka, ia, kb, ib, hist):
    """Radix passes on bytes 2..n_passes-1, then the low-bit fix-up; True if result in (ka, ia)."""
    in_a = radix_sort_keys(n, SKIP_BYTES, n_passes, ka, ia, kb, ib, hist)
    if in_a:
        if finish_low_bits(n, ka, ia):
            return in_a
        return radix_sort_keys(n, 0, n_passes, ka, ia, kb, ib, hist)
    if finish_low_bits(n, kb, ib):
        return in_a
    return not radix_sort_keys(n, 0, n_passes, kb, ib, ka, ia, hist)


MSD_BITS = 16
MSD_BINS = 1 << MSD_BITS
MSD_MIN = 1 << 18
_MSD_SHIFT = np.uint64(64 - MSD_BITS)


@njit(cache=True, nogil=True, error_model="numpy")
def radix_sort_msd(n, ka, ia, kb, ib, bins, hist):
    """MSD pass on the top 16 bits into (kb, ib), then each bin sorted on its low 48 bits."""
    bins[:] = 0
    for i in range(n):
        bins[int(ka[i] >> _MSD_SHIFT) + 1] += 1
    for b in range(MSD_BINS):
        bins[b + 1] += bins[b]
    for i in range(n):
        k = ka[i]
        bi = int(k >> _MSD_SHIFT)
        dst = bins[bi]
        bins[bi] = dst + 1
        kb[dst] = k
        ib[dst] = ia[i]
    start = 0
    for b in range(MSD_BINS):
        end = bins[b]
        c = end - start
        if c > 64:
            if not sort_keys(c, (64 - MSD_BITS) // 8, kb[start:end], ib[start:end],
                             ka[start:end], ia[start:end], hist):
                kb[start:end] = ka[start:end]
                ib[start:end] = ia[start:end]
        else:
            for i in range(start + 1, end):
                k = kb[i]
                x = ib[i]
                j = i - 1
                while j >= start and kb[j] > k:
                    kb[j + 1] = kb[j]
                    ib[j + 1] = ib[j]
                    j -= 1
                kb[j + 1] = k
                ib[j + 1] = x
        start = end


@njit(cache=True, nogil=True, error_model="numpy")
def make_keys(x, lo, hi, fold, center, ka, ia):
    """Keys of x[lo:hi] (of |x - center| with fold) and their positions."""
    kf = ka.view(np.float64)
    for i in range(lo, hi):
        v = abs(x[i] - center) if fold else x[i]
        kf[i] = v + 0.0  # -0.0 -> +0.0 so that the zeros tie
        ia[i] = np.uint32(i)
    for i in range(lo, hi):
        if math.isnan(kf[i]):
            ka[i] = _ALL  # every NaN sorts last
        else:
            b = ka[i]
            ka[i] = ~b if (b >> _U63) else (b | _SIGN)


@njit(cache=True, nogil=True, error_model="numpy")
def assign_scores(k, idx, n, lo, hi, ztab, z, sorted_):
    """Scores of the tie groups starting in [lo, hi) of the sorted keys (see rank.hpp)."""
    while lo < hi and lo > 0 and k[lo] == k[lo - 1]:
        lo += 1
    want_sorted = sorted_.shape[0] > 0  # an empty array: the caller needs no sorted draws
    su = sorted_.view(np.uint64)
    denom = float(n) + 0.25
    n_tied = 0
    i = lo
    while i < hi:
        j = i
        while j + 1 < n and k[j + 1] == k[i]:
            j += 1
        s = i + j  # average rank = (s + 2) / 2
        if (s & 1) == 0:
            zv = ztab[s // 2]
        else:
            r = 0.5 * float(s + 2)
            zv = normal_quantile((r - 0.375) / denom)
        if j > i:
            n_tied += j - i + 1
        for q in range(i, j + 1):
            z[idx[q]] = zv
        if want_sorted:
            kk = k[i]
            bits = (kk & _LOW63) if (kk >> _U63) else ~kk
            for q in range(i, j + 1):
                su[q] = bits
        i = j + 1
    return n_tied


@njit(cache=True, nogil=True, error_model="numpy")
def fold_scores(k, idx, n, ztab, zf, fk, fi):
    """Scores of |x - median| by merging the two monotone halves of the sorted keys (rank.hpp).

    Numba cannot bit-cast scalars cheaply, so the sorted values are first decoded into zf (free
    until the scores are written) and the folded values written through a float view of fk.
    """
    zu = zf.view(np.uint64)
    for q in range(n):
        kk = k[q]
        zu[q] = (kk & _LOW63) if (kk >> _U63) else ~kk
    a = zf[(n - 1) // 2]
    b = zf[n // 2]
    med = a if n % 2 else (a + b) / 2.0
    lo = 0
    hi = n
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if zf[mid] > med:
            hi = mid
        else:
            lo = mid + 1
    fv = fk.view(np.float64)
    L = lo - 1
    R = lo
    o = 0
    while L >= 0 or R < n:
        fl = abs(zf[L] - med) if L >= 0 else np.inf
        fr = abs(zf[R] - med) if R < n else np.inf
        if R >= n or (L >= 0 and fl <= fr):
            fv[o] = fl + 0.0
            fi[o] = idx[L]
            L -= 1
        else:
            fv[o] = fr + 0.0
            fi[o] = idx[R]
            R += 1
        o += 1
    for q in range(n):
        fk[q] = fk[q] | _SIGN  # key of a non-negative double
    return assign_scores(fk, fi, n, 0, n, ztab, zf, zf[:0])


@njit(cache=True, nogil=True, error_model="numpy")
def rank_normalize_one(x, fold, center, ztab, z, sorted_, ka, ia, kb, ib, bins, hist, zf):
    """One variable: normal scores z (n,) and sorted values (n,) of x, or of |x - center| with
    fold; returns the number of tied draws."""
    n = x.shape[0]
    if n <= 0:
        return 0
    make_keys(x, 0, n, fold, center, ka, ia)
    if n >= MSD_MIN:
        radix_sort_msd(n, ka, ia, kb, ib, bins, hist)
        in_a = False
    else:
        in_a = sort_keys(n, 8, ka, ia, kb, ib, hist)
    if in_a:
        tied = assign_scores(ka, ia, n, 0, n, ztab, z, sorted_)
        if zf.shape[0] > 0:
            fold_scores(ka, ia, n, ztab, zf, kb, ib)
    else:
        tied = assign_scores(kb, ib, n, 0, n, ztab, z, sorted_)
        if zf.shape[0] > 0:
            fold_scores(kb, ib, n, ztab, zf, ka, ia)
    return tied


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def rank_normalize(x, fold, center, ztab, z, sorted_, n_tied, keys, idx, bins, hist, n_threads, zf):
    """Batch: x (n_var, n) -> z (n_var, n), sorted_ (n_var, n) or (n_var, 0) when not wanted,
    n_tied (n_var,); center (n_var,) if fold.  One worker per variable; scratch per worker
    w < T = min(n_threads, n_var): keys (T, 2, n) uint64, idx (T, 2, n) uint32, hist (T, 8, 256),
    bins (T, MSD_BINS + 1) int64 (any (T, 1) when n < MSD_MIN).  zf (n_var, n) receives the
    scores of |x - median| from the same sort (finite rows only), or is (n_var, 0) when not wanted.
    """
    n_var = x.shape[0]
    T = max(1, min(n_threads, n_var))
    for w in prange(T):
        for v in range(w, n_var, T):
            n_tied[v] = rank_normalize_one(x[v], fold, center[v], ztab, z[v], sorted_[v], keys[w, 0],
                                           idx[w, 0], keys[w, 1], idx[w, 1], bins[w], hist[w], zf[v])
