// Rank normalisation (Vehtari et al. 2021): average ranks over all draws of one variable, mapped to
// normal scores z = Phi^-1((r - 3/8) / (N + 1/4)).  Twin: fastmc/_numba/diagnostics/rank.py.
//
// A radix sort of order-preserving 64-bit keys per variable gives ranks, ties and the sorted values
// (reused by the caller for medians, quantiles and intervals) and, by a merge about the median, the
// folded ranks.  The LSD passes skip the low bytes that the number and spread of the keys leave
// almost surely distinct (skip_bytes()), and an insertion sort of the rare equal runs finishes.
// N < 2^18: one such sort of the whole variable per worker.  Larger N: rank_large() on all
// workers: one MSD pass on the top 16 bits (per-worker histograms), then each bin, small enough
// for the cache, is sorted and scored while in cache.  Scores of integer ranks come from a
// caller-supplied table (normal_score_table() in normal_quantile.hpp); half-integer ranks of ties
// call normal_quantile() directly.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "fastmc/diagnostics/threads.hpp"
#include "fastmc/diagnostics/normal_quantile.hpp"

namespace fastmc {

// Order-preserving map double -> uint64 (sign flip for positives, bitwise not for negatives).
// Adding 0.0 first maps -0.0 to +0.0 so that the two zeros tie, as they compare equal; every NaN
// (whatever its sign bit) maps to the largest key, so NaNs sort last.
inline uint64_t double_to_key(double v) {
    v = v + 0.0;
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    // branch-free (the sign of autocorrelated draws defeats the branch predictor): ~b if negative
    const uint64_t flip = static_cast<uint64_t>(static_cast<int64_t>(b) >> 63) | 0x8000000000000000ULL;
    return std::isnan(v) ? ~uint64_t(0) : (b ^ flip);
}

inline double key_to_double(uint64_t k) {
    const uint64_t flip = static_cast<uint64_t>(static_cast<int64_t>(~k) >> 63) | 0x8000000000000000ULL;
    const uint64_t b = k ^ flip;  // k with the sign bit cleared if set, ~k otherwise (branch-free)
    double v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}

// LSD radix sort of keys (with their original positions) on the low n_passes bytes, 8 bits per pass
// (256 scatter streams stay in the write-combining buffers, 2048 of 11-bit digits do not);
// passes in which every key has the same digit are skipped.  Returns true when the result is in
// (ka, ia), false when it is in (kb, ib).
inline bool radix_sort_keys(int64_t n, int first_pass, int n_passes, uint64_t* ka, uint32_t* ia,
                            uint64_t* kb, uint32_t* ib, int64_t* hist /* 8 * 256 */) {
    std::memset(hist, 0, sizeof(int64_t) * n_passes * 256);
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t k = ka[i];
        for (int p = first_pass; p < n_passes; ++p) ++hist[p * 256 + ((k >> (8 * p)) & 255)];
    }
    bool in_a = true;
    for (int p = first_pass; p < n_passes; ++p) {
        int64_t* h = hist + p * 256;
        const uint64_t first = in_a ? ka[0] : kb[0];
        if (h[(first >> (8 * p)) & 255] == n) continue;  // digit constant
        int64_t sum = 0;
        for (int b = 0; b < 256; ++b) {
            const int64_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        const uint64_t* ks = in_a ? ka : kb;
        const uint32_t* is = in_a ? ia : ib;
        uint64_t* kd = in_a ? kb : ka;
        uint32_t* id = in_a ? ib : ia;
        for (int64_t i = 0; i < n; ++i) {
            const uint64_t k = ks[i];
            const int64_t dst = h[(k >> (8 * p)) & 255]++;
            kd[dst] = k;
            id[dst] = is[i];
        }
        in_a = !in_a;
    }
    return in_a;
}

// Insertion sort of keys k[lo, hi) with their positions (short runs only).
inline void insertion_sort_keys(uint64_t* k, uint32_t* idx, int64_t lo, int64_t hi) {
    for (int64_t a = lo + 1; a < hi; ++a) {
        const uint64_t key = k[a];
        const uint32_t x = idx[a];
        int64_t b = a - 1;
        while (b >= lo && k[b] > key) {
            k[b + 1] = k[b];
            idx[b + 1] = idx[b];
            --b;
        }
        k[b + 1] = key;
        idx[b + 1] = x;
    }
}

// Keys sorted on all but their low `skip` bytes: keys equal above those bytes are rare and
// adjacent, so an insertion sort over each such run completes the order (a run of equal keys, a
// tie, needs none).  A run of unequal keys longer than kMaxRun (data crowded far more than
// skip_bytes() expects) returns false: the caller sorts fully.
constexpr int64_t kMaxRun = 64;

inline bool finish_low_bits(int64_t n, int skip, uint64_t* k, uint32_t* idx) {
    const int shift = 8 * skip;
    int64_t i = 0;
    while (i + 1 < n) {
        if ((k[i + 1] >> shift) != (k[i] >> shift)) {
            ++i;
            continue;
        }
        int64_t j = i + 1;
        bool same = k[j] == k[i];
        while (j + 1 < n && (k[j + 1] >> shift) == (k[i] >> shift)) {
            ++j;
            same = same && k[j] == k[i];
        }
        if (!same) {
            if (j - i + 1 > kMaxRun) return false;
            insertion_sort_keys(k, idx, i, j + 1);
        }
        i = j + 1;
    }
    return true;
}

constexpr int kMarginBits = 4;

// Low bytes a sort of n keys between kmin and kmax can leave to the fix-up.  The keys spread over
// kmax - kmin < 2^(top + 1) key values, fairly evenly for a smooth density, so sorting on the
// ceil(log2 n) + kMarginBits bits from `top` down leaves about n / 32 adjacent pairs (most in
// distinct cells) to the insertion sort.  Keys spanning several octaves are treated as if all were
// in one (2^52 key values): top is capped at 51.  Measured on normal, uniform, exponential, Cauchy,
// log-normal, AR(1) and 1000 + 0.001 N(0, 1) draws of 300 to 200 000: no fallback; N(0, 1) at
// 40 000 draws sorts 4 bytes instead of 6, an MSD bin of 2^16 keys 3 instead of 4.
inline int skip_bytes(int64_t n, uint64_t kmin, uint64_t kmax) {
    const uint64_t d = kmax - kmin;
    if (d == 0) return 0;
    int top = 63;
    while ((d >> top) == 0) --top;
    if (top > 51) top = 51;
    int bits = 0;
    while ((int64_t(1) << bits) < n) ++bits;
    const int low = top + 1 - bits - kMarginBits;  // lowest bit that must be sorted on
    return low > 0 ? low / 8 : 0;
}

// Full sort of (ka, ia) on bytes 0..n_passes-1 (higher bytes equal): radix passes on bytes
// skip_bytes()..n_passes-1, then the low-bit fix-up; true if the result is in (ka, ia).
inline bool sort_keys(int64_t n, int n_passes, uint64_t* ka, uint32_t* ia, uint64_t* kb, uint32_t* ib,
                      int64_t* hist) {
    uint64_t kmin = ka[0], kmax = ka[0];
    for (int64_t i = 0; i < n; ++i) {
        kmin = ka[i] < kmin ? ka[i] : kmin;
        kmax = ka[i] > kmax ? ka[i] : kmax;
    }
    int skip = skip_bytes(n, kmin, kmax);
    if (skip > n_passes) skip = n_passes;
    const bool in_a = radix_sort_keys(n, skip, n_passes, ka, ia, kb, ib, hist);
    if (skip == 0 || (in_a ? finish_low_bits(n, skip, ka, ia) : finish_low_bits(n, skip, kb, ib)))
        return in_a;
    // crowded keys: a full LSD sort of the current order (correct for any input order)
    const bool again = in_a ? radix_sort_keys(n, 0, n_passes, ka, ia, kb, ib, hist)
                            : radix_sort_keys(n, 0, n_passes, kb, ib, ka, ia, hist);
    return in_a ? again : !again;
}

constexpr int kMsdBits = 16;
constexpr int64_t kMsdBins = int64_t(1) << kMsdBits;
constexpr int kMsdShift = 64 - kMsdBits;
constexpr int64_t kMsdMin = int64_t(1) << 18;  // below this the whole-variable LSD sort is faster
constexpr int64_t kChunksPerWorker = 16;        // shares of the sorted positions, taken dynamically

// Key of draw v: of |v - center| when folding.
inline uint64_t draw_key(double v, bool fold, double center) {
    return double_to_key(fold ? std::fabs(v - center) : v);
}

// Keys of x[lo, hi) (of |x - center| with fold) and their positions.
inline void make_keys(const double* x, int64_t lo, int64_t hi, bool fold, double center, uint64_t* ka,
                      uint32_t* ia) {
    for (int64_t i = lo; i < hi; ++i) {
        ka[i] = draw_key(x[i], fold, center);
        ia[i] = static_cast<uint32_t>(i);
    }
}

// Scores for positions [lo, hi) of the sorted keys k (n,) with positions idx, a range made of
// whole tie groups (a bin, or everything): z[idx[q]] = normal score of the group's average rank,
// sorted[q] = the value (sorted may be null when the caller does not need the sorted draws).
// Only k[lo, hi) is read, so workers may score disjoint ranges while others still sort theirs.
inline int64_t assign_scores(const uint64_t* k, const uint32_t* idx, int64_t n, int64_t lo, int64_t hi,
                             const double* ztab, double* z, double* sorted) {
    const double denom = static_cast<double>(n) + 0.25;
    int64_t n_tied = 0;
    int64_t i = lo;
    while (i < hi) {
        if (i + 1 == hi || k[i + 1] != k[i]) {  // no tie (the common case): rank i + 1
            z[idx[i]] = ztab[i];
            if (sorted) sorted[i] = key_to_double(k[i]);
            ++i;
            continue;
        }
        int64_t j = i + 1;
        while (j + 1 < hi && k[j + 1] == k[i]) ++j;
        const int64_t s = i + j;  // average rank = (s + 2) / 2
        const double zv = (s & 1) == 0 ? ztab[s / 2]
                                       : normal_quantile((0.5 * static_cast<double>(s + 2) - 0.375) / denom);
        n_tied += j - i + 1;
        for (int64_t q = i; q <= j; ++q) z[idx[q]] = zv;
        if (sorted) {
            const double v = key_to_double(k[i]);
            for (int64_t q = i; q <= j; ++q) sorted[q] = v;
        }
        i = j + 1;
    }
    return n_tied;
}

// Folded scores without a second sort: the ranks of |x - median| follow from merging the two
// monotone halves of the sorted keys k (below the median read downwards, above it upwards).
// zf[idx[q]] = scores as ArviZ's z_scale(|x - median(x)|); fk, fi: scratch of n.  All draws finite.
// The distances are first written as keys into zf (free until the scores), so that the merge is a
// branch-free loop on integers (which side comes next is a coin flip a branch would mispredict).
inline int64_t fold_scores(const uint64_t* k, const uint32_t* idx, int64_t n, const double* ztab,
                           double* zf, uint64_t* fk, uint32_t* fi) {
    const double a = key_to_double(k[(n - 1) / 2]), b = key_to_double(k[n / 2]);
    const double med = (n % 2) ? a : (a + b) / 2.0;
    int64_t lo = 0, hi = n;  // first position whose value exceeds the median
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (key_to_double(k[mid]) > med) hi = mid; else lo = mid + 1;
    }
    const int64_t nl = lo, nr = n - lo;
    // d[j], j < nl: key of the j-th distance leftwards; d[nl + j], j < nr: rightwards
    uint64_t* d = reinterpret_cast<uint64_t*>(zf);
    for (int64_t j = 0; j < nl; ++j) d[j] = double_to_key(std::fabs(key_to_double(k[lo - 1 - j]) - med));
    for (int64_t j = 0; j < nr; ++j) d[nl + j] = double_to_key(std::fabs(key_to_double(k[lo + j]) - med));
    int64_t L = 0, R = 0;  // taken from each side; an exhausted side reads as the largest key
    for (int64_t o = 0; o < n; ++o) {
        const uint64_t kl = d[L < nl ? L : 0] | (0 - static_cast<uint64_t>(L >= nl));
        const uint64_t kr = d[R < nr ? nl + R : 0] | (0 - static_cast<uint64_t>(R >= nr));
        const uint64_t left = kl <= kr, mask = 0 - left;  // ties: the left side first
        fk[o] = (kl & mask) | (kr & ~mask);
        const uint32_t il = idx[L < nl ? lo - 1 - L : 0], ir = idx[R < nr ? lo + R : 0];
        fi[o] = (il & static_cast<uint32_t>(mask)) | (ir & ~static_cast<uint32_t>(mask));
        L += static_cast<int64_t>(left);
        R += static_cast<int64_t>(1 - left);
    }
    return assign_scores(fk, fi, n, 0, n, ztab, zf, nullptr);
}

// One variable, n < kMsdMin, on one worker: x (n,) -> z (n,) normal scores of average ranks,
// sorted (n,) the values in ascending order.  With fold, the values ranked are |x - center|
// (folding about the median).  With zf (not null; finite draws only), also the scores of
// |x - median(x)| from the same sort.  Returns the number of draws that share their value with
// another draw.
inline int64_t rank_normalize_one(const double* x, int64_t n, bool fold, double center,
                                  const double* ztab, double* z, double* sorted, uint64_t* ka,
                                  uint32_t* ia, uint64_t* kb, uint32_t* ib, int64_t* hist,
                                  double* zf = nullptr) {
    if (n <= 0) return 0;
    make_keys(x, 0, n, fold, center, ka, ia);
    const bool in_a = sort_keys(n, 8, ka, ia, kb, ib, hist);
    const int64_t tied = in_a ? assign_scores(ka, ia, n, 0, n, ztab, z, sorted)
                              : assign_scores(kb, ib, n, 0, n, ztab, z, sorted);
    if (zf) {
        if (in_a)
            fold_scores(ka, ia, n, ztab, zf, kb, ib);
        else
            fold_scores(kb, ib, n, ztab, zf, ka, ia);
    }
    return tied;
}

// First MSD bin starting at or after position lo, given the bin ends (non-decreasing).
inline int64_t first_bin_from(const int64_t* end, int64_t lo) {
    int64_t a = 0, b = kMsdBins;  // bin x starts at end[x - 1] (0 for x = 0)
    while (a < b) {
        const int64_t mid = a + (b - a) / 2;
        if ((mid > 0 ? end[mid - 1] : 0) >= lo) b = mid; else a = mid + 1;
    }
    return a;
}

// One variable, n >= kMsdMin, on T workers (same outputs as rank_normalize_one).  Worker w owns
// the draws [n w / T, n (w + 1) / T): it counts their top-16-bit digits into bins + w * kMsdBins,
// and once the offsets are laid out (bin-major, worker-minor) scatters their keys into (kb, ib)
// without locks.  Then the positions are cut into kChunksPerWorker * T chunks, taken dynamically;
// a worker sorts and scores every bin that starts in its chunk while the bin is in its cache, with
// a ping-pong buffer as large as the largest bin (typically 1-2% of n); bins are whole tie groups,
// so the chunks are independent.
// Scratch: bins T * kMsdBins, hist T * 8 * 256, tied T; (fk, fi) of n when zf is wanted.
inline int64_t rank_large(const double* x, int64_t n, bool fold, double center, const double* ztab,
                          double* z, double* sorted, uint64_t* kb, uint32_t* ib, uint64_t* fk,
                          uint32_t* fi, int64_t* bins, int64_t* hist, int64_t* tied, int T,
                          double* zf = nullptr) {
    strided_parallel(T, T, [&](int, int64_t w) {
        int64_t* h = bins + w * kMsdBins;
        std::memset(h, 0, sizeof(int64_t) * kMsdBins);
        const int64_t i1 = n * (w + 1) / T;
        for (int64_t i = n * w / T; i < i1; ++i) ++h[draw_key(x[i], fold, center) >> kMsdShift];
    });
    int64_t sum = 0, c_max = 0;
    for (int64_t b = 0; b < kMsdBins; ++b) {
        const int64_t start = sum;
        for (int w = 0; w < T; ++w) {
            const int64_t c = bins[w * kMsdBins + b];
            bins[w * kMsdBins + b] = sum;
            sum += c;
        }
        if (sum - start > c_max) c_max = sum - start;
    }
    strided_parallel(T, T, [&](int, int64_t w) {
        int64_t* h = bins + w * kMsdBins;
        const int64_t i1 = n * (w + 1) / T;
        for (int64_t i = n * w / T; i < i1; ++i) {
            const uint64_t k = draw_key(x[i], fold, center);
            const int64_t dst = h[k >> kMsdShift]++;
            kb[dst] = k;
            ib[dst] = static_cast<uint32_t>(i);
        }
    });
    // now the last worker's offsets are the ends of the bins
    const int64_t* end = bins + int64_t(T - 1) * kMsdBins;
    std::vector<std::unique_ptr<uint64_t[]>> bk(static_cast<size_t>(T));  // ping-pong, per worker
    std::vector<std::unique_ptr<uint32_t[]>> bi(static_cast<size_t>(T));
    for (int w = 0; w < T; ++w) tied[w] = 0;
    const int64_t chunks = T > 1 ? kChunksPerWorker * T : 1;
    dynamic_parallel(chunks, T, [&](int w, int64_t j) {
        const int64_t lo = n * j / chunks, hi = n * (j + 1) / chunks;
        if (!bk[w]) {
            bk[w].reset(new uint64_t[size_t(c_max)]);
            bi[w].reset(new uint32_t[size_t(c_max)]);
        }
        int64_t* hw = hist + w * 8 * 256;
        int64_t t = 0;
        for (int64_t b = first_bin_from(end, lo); b < kMsdBins; ++b) {
            const int64_t st = b > 0 ? end[b - 1] : 0, en = end[b], c = en - st;
            if (st >= hi) break;
            if (c == 0) continue;
            if (c <= kMaxRun) {
                insertion_sort_keys(kb, ib, st, en);
            } else if (!sort_keys(c, kMsdShift / 8, kb + st, ib + st, bk[w].get(), bi[w].get(), hw)) {
                std::memcpy(kb + st, bk[w].get(), sizeof(uint64_t) * c);
                std::memcpy(ib + st, bi[w].get(), sizeof(uint32_t) * c);
            }
            t += assign_scores(kb, ib, n, st, en, ztab, z, sorted);
        }
        tied[w] += t;
    });
    if (zf) fold_scores(kb, ib, n, ztab, zf, fk, fi);
    int64_t total = 0;
    for (int w = 0; w < T; ++w) total += tied[w];
    return total;
}

// Batch: x (n_var, n) C-contiguous; center (n_var,) used when fold; sorted and zf may be null.
// n < kMsdMin: one worker per variable, T = min(n_threads, n_var); scratch keys and idx 2 T n.
// Otherwise the variables in turn, each on T = n_threads workers (rank_large); keys and idx n,
// 2 n when zf is wanted.
// Both: hist T * 8 * 256, tied T, bins T * kMsdBins (unused, may be 1, when n < kMsdMin).
inline void rank_normalize(const double* x, int64_t n_var, int64_t n, bool fold,
                           const double* center, const double* ztab, double* z,
                           double* sorted, int64_t* n_tied, uint64_t* keys, uint32_t* idx,
                           int64_t* bins, int64_t* hist, int64_t* tied, int n_threads,
                           double* zf = nullptr) {
    if (n >= kMsdMin) {
        const int T = n_threads < 1 ? 1 : n_threads;
        for (int64_t v = 0; v < n_var; ++v)
            n_tied[v] = rank_large(x + v * n, n, fold, center[v], ztab, z + v * n,
                                   sorted ? sorted + v * n : nullptr, keys, idx,
                                   zf ? keys + n : nullptr, zf ? idx + n : nullptr, bins, hist, tied,
                                   T, zf ? zf + v * n : nullptr);
        return;
    }
    dynamic_parallel(n_var, n_threads, [&](int w, int64_t v) {
        uint64_t* ka = keys + int64_t(2) * w * n;
        uint32_t* ia = idx + int64_t(2) * w * n;
        n_tied[v] = rank_normalize_one(x + v * n, n, fold, center[v], ztab, z + v * n,
                                       sorted ? sorted + v * n : nullptr, ka, ia, ka + n, ia + n,
                                       hist + int64_t(w) * 8 * 256, zf ? zf + v * n : nullptr);
    });
}

}  // namespace fastmc
