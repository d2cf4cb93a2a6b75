"""Rank normalisation: Numba twin of ``csrc/include/fastmc/diagnostics/rank.hpp`` (same names,
same order).

A radix sort of order-preserving 64-bit keys per variable gives average ranks, ties, the sorted
values and, by a merge about the median, the folded ranks. The LSD passes skip the low bytes that
the number and spread of the keys leave almost surely distinct (:func:`skip_bytes`); an insertion
sort of the rare equal runs finishes. N < 2^18: one such sort of the whole variable per worker.
Larger N: :func:`rank_large` on all workers (one MSD pass on the top 16 bits with per-worker
histograms, then each bin sorted and scored while in cache). Integer ranks read their normal score
from a caller-supplied table, half-integer ranks (ties) call :func:`normal_quantile`.
"""
import numpy as np
from numba import prange

from .._jit import njit, njit_parallel

from .normal_quantile import normal_quantile  # noqa: F401  (re-exported: ties use it)

_SIGN = np.uint64(0x8000000000000000)
_LOW63 = np.uint64(0x7FFFFFFFFFFFFFFF)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_U63 = np.uint64(63)
_MASK = np.uint64(255)


@njit
def double_to_key(v):
    """Order-preserving key of v: -0.0 ties with 0.0, every NaN maps to the largest key."""
    v = v + 0.0
    b = np.float64(v).view(np.uint64)
    flip = _ALL if (b >> _U63) else _SIGN  # a select, not a branch
    return _ALL if v != v else (b ^ flip)


@njit
def key_to_double(k):
    b = (k & _LOW63) if (k >> _U63) else ~k
    return np.uint64(b).view(np.float64)


@njit
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


@njit
def insertion_sort_keys(k, idx, lo, hi):
    """Insertion sort of keys k[lo:hi] with their positions (short runs only)."""
    for a in range(lo + 1, hi):
        key = k[a]
        x = idx[a]
        b = a - 1
        while b >= lo and k[b] > key:
            k[b + 1] = k[b]
            idx[b + 1] = idx[b]
            b -= 1
        k[b + 1] = key
        idx[b + 1] = x


MAX_RUN = 64


@njit
def finish_low_bits(n, skip, k, idx):
    """Insertion-sort the (rare, adjacent) runs of keys equal above their low `skip` bytes; runs
    of equal keys (ties) need nothing. False at a run of unequal keys longer than MAX_RUN (the
    caller then sorts fully)."""
    shift = np.uint64(8 * skip)
    i = 0
    while i + 1 < n:
        if (k[i + 1] >> shift) != (k[i] >> shift):
            i += 1
            continue
        j = i + 1
        same = k[j] == k[i]
        while j + 1 < n and (k[j + 1] >> shift) == (k[i] >> shift):
            j += 1
            same = same and k[j] == k[i]
        if not same:
            if j - i + 1 > MAX_RUN:
                return False
            insertion_sort_keys(k, idx, i, j + 1)
        i = j + 1
    return True


MARGIN_BITS = 4


@njit
def skip_bytes(n, kmin, kmax):
    """Low bytes a sort of n keys between kmin and kmax can leave to the fix-up (see rank.hpp):
    the ceil(log2 n) + MARGIN_BITS bits below the top bit of kmax - kmin (capped at 51) are sorted."""
    d = kmax - kmin
    if d == 0:
        return 0
    top = 63
    while (d >> np.uint64(top)) == 0:
        top -= 1
    top = min(top, 51)
    bits = 0
    while (1 << bits) < n:
        bits += 1
    low = top + 1 - bits - MARGIN_BITS
    return low // 8 if low > 0 else 0


@njit
def sort_keys(n, n_passes, ka, ia, kb, ib, hist):
    """Full sort of (ka, ia) on bytes 0..n_passes-1: radix passes on bytes
    skip_bytes()..n_passes-1, then the low-bit fix-up; True if the result is in (ka, ia)."""
    kmin = ka[0]
    kmax = ka[0]
    for i in range(n):
        kmin = ka[i] if ka[i] < kmin else kmin
        kmax = ka[i] if ka[i] > kmax else kmax
    skip = min(skip_bytes(n, kmin, kmax), n_passes)
    in_a = radix_sort_keys(n, skip, n_passes, ka, ia, kb, ib, hist)
    if skip == 0:
        return in_a
    if in_a:
        if finish_low_bits(n, skip, ka, ia):
            return in_a
        return radix_sort_keys(n, 0, n_passes, ka, ia, kb, ib, hist)
    if finish_low_bits(n, skip, kb, ib):
        return in_a
    return not radix_sort_keys(n, 0, n_passes, kb, ib, ka, ia, hist)


MSD_BITS = 16
MSD_BINS = 1 << MSD_BITS
MSD_SHIFT = 64 - MSD_BITS
MSD_MIN = 1 << 18
_MSD_SHIFT = np.uint64(MSD_SHIFT)


@njit
def draw_key(v, fold, center):
    """Key of draw v: of |v - center| when folding."""
    return double_to_key(abs(v - center) if fold else v)


@njit
def make_keys(x, lo, hi, fold, center, ka, ia):
    """Keys of x[lo:hi] (of |x - center| with fold) and their positions."""
    for i in range(lo, hi):
        ka[i] = draw_key(x[i], fold, center)
        ia[i] = np.uint32(i)


@njit
def assign_scores(k, idx, n, lo, hi, ztab, z, sorted_):
    """Scores for positions [lo, hi) of the sorted keys, a range of whole tie groups (rank.hpp);
    sorted_ of length 0 when the caller needs no sorted draws. Reads only k[lo:hi]."""
    want_sorted = sorted_.shape[0] > 0
    denom = float(n) + 0.25
    n_tied = 0
    i = lo
    while i < hi:
        if i + 1 == hi or k[i + 1] != k[i]:  # no tie (the common case): rank i + 1
            z[idx[i]] = ztab[i]
            if want_sorted:
                sorted_[i] = key_to_double(k[i])
            i += 1
            continue
        j = i + 1
        while j + 1 < hi and k[j + 1] == k[i]:
            j += 1
        s = i + j  # average rank = (s + 2) / 2
        if (s & 1) == 0:
            zv = ztab[s // 2]
        else:
            zv = normal_quantile((0.5 * float(s + 2) - 0.375) / denom)
        n_tied += j - i + 1
        for q in range(i, j + 1):
            z[idx[q]] = zv
        if want_sorted:
            v = key_to_double(k[i])
            for q in range(i, j + 1):
                sorted_[q] = v
        i = j + 1
    return n_tied


@njit
def fold_scores(k, idx, n, ztab, zf, fk, fi):
    """Scores of |x - median| by merging the two monotone halves of the sorted keys (rank.hpp):
    the distances are first written as keys into zf, then merged in a branch-free loop."""
    a = key_to_double(k[(n - 1) // 2])
    b = key_to_double(k[n // 2])
    med = a if n % 2 else (a + b) / 2.0
    lo = 0
    hi = n
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if key_to_double(k[mid]) > med:
            hi = mid
        else:
            lo = mid + 1
    nl = lo
    nr = n - lo
    d = zf.view(np.uint64)  # d[j], j < nl: leftwards; d[nl + j], j < nr: rightwards
    for j in range(nl):
        d[j] = double_to_key(abs(key_to_double(k[lo - 1 - j]) - med))
    for j in range(nr):
        d[nl + j] = double_to_key(abs(key_to_double(k[lo + j]) - med))
    L = 0
    R = 0
    for o in range(n):
        kl = d[L] if L < nl else d[0]
        kl = _ALL if L >= nl else kl
        kr = d[nl + R] if R < nr else d[0]
        kr = _ALL if R >= nr else kr
        left = kl <= kr  # ties: the left side first
        il = idx[lo - 1 - L] if L < nl else idx[0]
        ir = idx[lo + R] if R < nr else idx[0]
        fk[o] = kl if left else kr
        fi[o] = il if left else ir
        L += 1 if left else 0
        R += 0 if left else 1
    return assign_scores(fk, fi, n, 0, n, ztab, zf, zf[:0])


@njit
def rank_normalize_one(x, fold, center, ztab, z, sorted_, ka, ia, kb, ib, hist, zf):
    """One variable, n < MSD_MIN, on one worker: normal scores z (n,) and sorted values (n,) of
    x, or of |x - center| with fold; zf (n,) the scores of |x - median| (or length 0: not
    wanted); returns the number of tied draws."""
    n = x.shape[0]
    if n <= 0:
        return 0
    make_keys(x, 0, n, fold, center, ka, ia)
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


CHUNKS_PER_WORKER = 16


@njit
def first_bin_from(end, lo):
    """First MSD bin starting at or after position lo, given the bin ends (non-decreasing)."""
    a = 0
    b = MSD_BINS
    while a < b:
        mid = a + (b - a) // 2
        if (end[mid - 1] if mid > 0 else 0) >= lo:
            b = mid
        else:
            a = mid + 1
    return a


@njit_parallel
def rank_large(x, fold, center, ztab, z, sorted_, kb, ib, fk, fi, bins, hist, tied, T, zf):
    """One variable, n >= MSD_MIN, on T workers (see rank.hpp): per-worker MSD histograms and
    lock-free scatter into (kb, ib), then the positions are cut into CHUNKS_PER_WORKER * T chunks
    and the bins starting in each are sorted and scored, with a ping-pong buffer as large as the
    largest bin. bins (T, MSD_BINS); tied (T,) receives the count in tied[0]; hist is unused here
    (each chunk has its own: a prange iteration does not know its worker); (fk, fi) of n when zf
    is wanted (else any)."""
    n = x.shape[0]
    for w in prange(T):
        h = bins[w]
        h[:] = 0
        for i in range(n * w // T, n * (w + 1) // T):
            h[int(draw_key(x[i], fold, center) >> _MSD_SHIFT)] += 1
    total = 0
    c_max = 0
    for b in range(MSD_BINS):
        start = total
        for w in range(T):
            c = bins[w, b]
            bins[w, b] = total
            total += c
        c_max = max(c_max, total - start)
    for w in prange(T):
        h = bins[w]
        for i in range(n * w // T, n * (w + 1) // T):
            k = draw_key(x[i], fold, center)
            d = int(k >> _MSD_SHIFT)
            dst = h[d]
            h[d] = dst + 1
            kb[dst] = k
            ib[dst] = np.uint32(i)
    end = bins[T - 1]  # the last worker's offsets are the ends of the bins
    chunks = CHUNKS_PER_WORKER * T if T > 1 else 1
    tc = np.zeros(chunks, dtype=np.int64)
    for j in prange(chunks):  # shares of the sorted positions (taken dynamically in C++)
        lo = n * j // chunks
        hi = n * (j + 1) // chunks
        bk = np.empty(c_max, dtype=np.uint64)
        bi = np.empty(c_max, dtype=np.uint32)
        hw = np.empty((8, 256), dtype=np.int64)
        t = 0
        for b in range(first_bin_from(end, lo), MSD_BINS):
            st = end[b - 1] if b > 0 else 0
            en = end[b]
            c = en - st
            if st >= hi:
                break
            if c == 0:
                continue
            if c <= MAX_RUN:
                insertion_sort_keys(kb, ib, st, en)
            elif not sort_keys(c, MSD_SHIFT // 8, kb[st:en], ib[st:en], bk, bi, hw):
                kb[st:en] = bk[:c]
                ib[st:en] = bi[:c]
            t += assign_scores(kb, ib, n, st, en, ztab, z, sorted_)
        tc[j] = t
    if zf.shape[0] > 0:
        fold_scores(kb, ib, n, ztab, zf, fk, fi)
    tied[0] = tc.sum()
    return tied[0]


@njit_parallel
def rank_normalize(x, fold, center, ztab, z, sorted_, n_tied, keys, idx, bins, hist, tied, n_threads,
                   zf):
    """Batch: x (n_var, n) -> z (n_var, n), sorted_ (n_var, n) or (n_var, 0) when not wanted,
    n_tied (n_var,); center (n_var,) if fold; zf (n_var, n) the scores of |x - median| from the
    same sort (finite rows only) or (n_var, 0). n < MSD_MIN: one worker per variable,
    T = min(n_threads, n_var), keys (T, 2, n) uint64 and idx (T, 2, n) uint32. Otherwise the
    variables in turn on T = n_threads workers (rank_large), keys and idx (1, 2 if zf is wanted
    else 1, n), bins (T, MSD_BINS). Both: hist (T, 8, 256), tied (T,).
    """
    n_var, n = x.shape
    if n >= MSD_MIN:
        T = max(1, n_threads)
        for v in range(n_var):
            n_tied[v] = rank_large(x[v], fold, center[v], ztab, z[v], sorted_[v], keys[0, 0],
                                   idx[0, 0], keys[0, -1], idx[0, -1], bins, hist, tied, T, zf[v])
        return
    T = max(1, min(n_threads, n_var))
    for w in prange(T):
        for v in range(w, n_var, T):
            n_tied[v] = rank_normalize_one(x[v], fold, center[v], ztab, z[v], sorted_[v], keys[w, 0],
                                           idx[w, 0], keys[w, 1], idx[w, 1], hist[w], zf[v])
