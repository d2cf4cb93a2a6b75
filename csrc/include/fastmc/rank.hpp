// Rank normalisation (Vehtari et al. 2021): average ranks over all draws of one variable, mapped to
// normal scores z = Phi^-1((r - 3/8) / (N + 1/4)).  Twin: fastmc/_numba/rank.py.
//
// One radix sort of order-preserving 64-bit keys per variable (8 LSD passes; for N >= 2^18 one MSD
// pass then in-cache LSD per bin) gives ranks, ties and the sorted values (reused by the caller
// for medians, quantiles and intervals) and, by a merge about the median, the folded ranks.  Scores of integer ranks come
// from a caller-supplied table (computed once per N with scipy.special.ndtri, so that the values equal
// ArviZ's bit for bit); only the half-integer ranks of ties use normal_quantile() below.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastmc/diag_threads.hpp"

namespace fastmc {

// Order-preserving map double -> uint64 (sign flip for positives, bitwise not for negatives).
// Adding 0.0 first maps -0.0 to +0.0 so that the two zeros tie, as they compare equal; every NaN
// (whatever its sign bit) maps to the largest key, so NaNs sort last.
inline uint64_t double_to_key(double v) {
    if (std::isnan(v)) return ~uint64_t(0);
    v = v + 0.0;
    uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ULL);
}

inline double key_to_double(uint64_t k) {
    uint64_t b = (k >> 63) ? (k & 0x7FFFFFFFFFFFFFFFULL) : ~k;
    double v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}

// Standard normal quantile, used only for half-integer ranks (ties).  A crude rational start
// (Abramowitz & Stegun 26.2.23, |error| < 4.5e-4) polished by three Halley steps on erfc, which is
// accurate to a few ulp: far below what moves an ESS or R-hat at 1e-12.
inline double normal_quantile(double p) {
    if (!(p > 0.0 && p < 1.0)) {
        if (p == 0.0) return -INFINITY;
        if (p == 1.0) return INFINITY;
        return NAN;
    }
    if (p == 0.5) return 0.0;
    const bool upper = p > 0.5;
    const double q = upper ? 1.0 - p : p;  // exact for p >= 0.5 (Sterbenz)
    const double t = std::sqrt(-2.0 * std::log(q));
    double z = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
                         (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))));
    const double sqrt2pi = 2.5066282746310002;
    for (int it = 0; it < 3; ++it) {
        const double e = 0.5 * std::erfc(-z / 1.4142135623730951) - q;
        const double u = e * sqrt2pi * std::exp(0.5 * z * z);
        z = z - u / (1.0 + 0.5 * z * u);
    }
    return upper ? -z : z;
}

// LSD radix sort of keys (with their original positions) on the low n_passes bytes, 8 bits per pass
// (measured twice as fast here as 11-bit digits: 256 scatter streams stay in the write buffers);
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

// Keys sorted on all but their low 16 bits: keys equal above bit 16 are rare and adjacent, so an
// insertion sort over each such run completes the order.  Saves two of the eight passes.  A run
// longer than kMaxRun (data crowded within 2^16 ulps) returns false: the caller sorts fully.
constexpr int kSkipBytes = 2;
constexpr int64_t kMaxRun = 64;

inline bool finish_low_bits(int64_t n, uint64_t* k, uint32_t* idx) {
    int64_t i = 0;
    while (i + 1 < n) {
        if ((k[i + 1] >> 16) != (k[i] >> 16)) {
            ++i;
            continue;
        }
        int64_t j = i + 1;
        while (j + 1 < n && (k[j + 1] >> 16) == (k[i] >> 16)) ++j;
        if (j - i + 1 > kMaxRun) return false;
        for (int64_t a = i + 1; a <= j; ++a) {
            const uint64_t key = k[a];
            const uint32_t x = idx[a];
            int64_t b = a - 1;
            while (b >= i && k[b] > key) {
                k[b + 1] = k[b];
                idx[b + 1] = idx[b];
                --b;
            }
            k[b + 1] = key;
            idx[b + 1] = x;
        }
        i = j + 1;
    }
    return true;
}

// Full sort of (ka, ia): radix passes on bytes 2..7, then the low-bit fix-up; true if the result
// is in (ka, ia).
inline bool sort_keys(int64_t n, int n_passes, uint64_t* ka, uint32_t* ia, uint64_t* kb, uint32_t* ib,
                      int64_t* hist) {
    const bool in_a = radix_sort_keys(n, kSkipBytes, n_passes, ka, ia, kb, ib, hist);
    if (in_a ? finish_low_bits(n, ka, ia) : finish_low_bits(n, kb, ib)) return in_a;
    // crowded keys: a full LSD sort of the current order (correct for any input order)
    const bool again = in_a ? radix_sort_keys(n, 0, n_passes, ka, ia, kb, ib, hist)
                            : radix_sort_keys(n, 0, n_passes, kb, ib, ka, ia, hist);
    return in_a ? again : !again;
}

constexpr int kMsdBits = 16;
constexpr int64_t kMsdBins = int64_t(1) << kMsdBits;
constexpr int64_t kMsdMin = int64_t(1) << 18;  // below this the plain LSD sort is faster

// Large n: one MSD pass on the top 16 bits (sign, exponent, 4 mantissa bits) into (kb, ib), then
// each bin, now small enough for the cache, is sorted on its low 48 bits (insertion sort up to 64
// keys, LSD otherwise).  1.5x faster than 8 LSD passes through memory at 4M draws.  The result is
// in (kb, ib).
inline void radix_sort_msd(int64_t n, uint64_t* ka, uint32_t* ia, uint64_t* kb, uint32_t* ib,
                           int64_t* bins /* kMsdBins + 1 */, int64_t* hist /* 8 * 256 */) {
    constexpr int shift = 64 - kMsdBits;
    std::memset(bins, 0, sizeof(int64_t) * (kMsdBins + 1));
    for (int64_t i = 0; i < n; ++i) ++bins[(ka[i] >> shift) + 1];
    for (int64_t b = 0; b < kMsdBins; ++b) bins[b + 1] += bins[b];  // bins[b]: start of bin b
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t k = ka[i];
        const int64_t dst = bins[k >> shift]++;  // afterwards bins[b]: end of bin b
        kb[dst] = k;
        ib[dst] = ia[i];
    }
    int64_t start = 0;
    for (int64_t b = 0; b < kMsdBins; ++b) {
        const int64_t end = bins[b], c = end - start;
        if (c > 64) {
            if (!sort_keys(c, shift / 8, kb + start, ib + start, ka + start, ia + start, hist)) {
                std::memcpy(kb + start, ka + start, sizeof(uint64_t) * c);
                std::memcpy(ib + start, ia + start, sizeof(uint32_t) * c);
            }
        } else {
            for (int64_t i = start + 1; i < end; ++i) {
                const uint64_t k = kb[i];
                const uint32_t x = ib[i];
                int64_t j = i - 1;
                while (j >= start && kb[j] > k) {
                    kb[j + 1] = kb[j];
                    ib[j + 1] = ib[j];
                    --j;
                }
                kb[j + 1] = k;
                ib[j + 1] = x;
            }
        }
        start = end;
    }
}

// Keys of x[lo, hi) (of |x - center| with fold) and their positions.
inline void make_keys(const double* x, int64_t lo, int64_t hi, bool fold, double center, uint64_t* ka,
                      uint32_t* ia) {
    for (int64_t i = lo; i < hi; ++i) {
        ka[i] = double_to_key(fold ? std::fabs(x[i] - center) : x[i]);
        ia[i] = static_cast<uint32_t>(i);
    }
}

// Scores for the tie groups that start in [lo, hi) of the sorted keys k (n,) with positions idx:
// z[idx[q]] = normal score of the group's average rank, sorted[q] = the value (sorted may be
// null when the caller does not need the sorted draws).  A group starting
// before lo belongs to the previous range, so ranges can be processed independently.
inline int64_t assign_scores(const uint64_t* k, const uint32_t* idx, int64_t n, int64_t lo, int64_t hi,
                             const double* ztab, double* z, double* sorted) {
    while (lo < hi && lo > 0 && k[lo] == k[lo - 1]) ++lo;
    const double denom = static_cast<double>(n) + 0.25;
    int64_t n_tied = 0;
    int64_t i = lo;
    while (i < hi) {
        int64_t j = i;
        while (j + 1 < n && k[j + 1] == k[i]) ++j;
        const int64_t s = i + j;  // average rank = (s + 2) / 2
        double zv;
        if ((s & 1) == 0) {
            zv = ztab[s / 2];
        } else {
            const double r = 0.5 * static_cast<double>(s + 2);
            zv = normal_quantile((r - 0.375) / denom);
        }
        if (j > i) n_tied += j - i + 1;
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
inline int64_t fold_scores(const uint64_t* k, const uint32_t* idx, int64_t n, const double* ztab,
                           double* zf, uint64_t* fk, uint32_t* fi) {
    const double a = key_to_double(k[(n - 1) / 2]), b = key_to_double(k[n / 2]);
    const double med = (n % 2) ? a : (a + b) / 2.0;
    int64_t lo = 0, hi = n;  // p = first position whose value exceeds the median
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (key_to_double(k[mid]) > med) hi = mid; else lo = mid + 1;
    }
    int64_t L = lo - 1, R = lo, o = 0;
    while (L >= 0 || R < n) {
        const double fl = L >= 0 ? std::fabs(key_to_double(k[L]) - med) : INFINITY;
        const double fr = R < n ? std::fabs(key_to_double(k[R]) - med) : INFINITY;
        if (R >= n || (L >= 0 && fl <= fr)) {
            fk[o] = double_to_key(fl);
            fi[o++] = idx[L--];
        } else {
            fk[o] = double_to_key(fr);
            fi[o++] = idx[R++];
        }
    }
    return assign_scores(fk, fi, n, 0, n, ztab, zf, nullptr);
}

// One variable: x (n,) -> z (n,) normal scores of average ranks, sorted (n,) the values in
// ascending order.  With fold, the values ranked are |x - center| (folding about the median).
// With zf (not null; finite draws only), also the scores of |x - median(x)| from the same sort.
// Returns the number of draws that share their value with another draw.
inline int64_t rank_normalize_one(const double* x, int64_t n, bool fold, double center,
                                  const double* ztab, double* z, double* sorted, uint64_t* ka,
                                  uint32_t* ia, uint64_t* kb, uint32_t* ib, int64_t* bins,
                                  int64_t* hist, double* zf = nullptr) {
    if (n <= 0) return 0;
    make_keys(x, 0, n, fold, center, ka, ia);
    bool in_a = false;
    if (n >= kMsdMin)
        radix_sort_msd(n, ka, ia, kb, ib, bins, hist);
    else
        in_a = sort_keys(n, 8, ka, ia, kb, ib, hist);
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

// Batch over variables (one worker thread per variable): x (n_var, n) C-contiguous; center
// (n_var,) used when fold; sorted may be null.  Scratch per worker w < T = min(n_threads, n_var):
// keys and idx 2 * T * n, hist T * 8 * 256, bins T * (kMsdBins + 1) (just 1 when n < kMsdMin).
// (Sorting one large variable in chunks on two threads
// and merging was measured slower on the shared two-core machine, so one variable = one thread.)
inline void rank_normalize(const double* x, int64_t n_var, int64_t n, bool fold,
                           const double* center, const double* ztab, double* z,
                           double* sorted, int64_t* n_tied, uint64_t* keys /* 2 * T * n */,
                           uint32_t* idx /* 2 * T * n */, int64_t* bins, int64_t* hist,
                           int n_threads, double* zf = nullptr) {
    strided_parallel(n_var, n_threads, [&](int w, int64_t v) {
        uint64_t* ka = keys + int64_t(2) * w * n;
        uint32_t* ia = idx + int64_t(2) * w * n;
        n_tied[v] = rank_normalize_one(x + v * n, n, fold, center[v], ztab, z + v * n,
                                       sorted ? sorted + v * n : nullptr, ka, ia, ka + n, ia + n,
                                       bins + (n >= kMsdMin ? w * (kMsdBins + 1) : 0),
                                       hist + int64_t(w) * 8 * 256, zf ? zf + v * n : nullptr);
    });
}

}  // namespace fastmc
