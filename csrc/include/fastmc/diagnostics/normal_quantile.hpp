// Standard normal quantile Phi^-1 by Wichura's AS241 (PPND16, Applied Statistics 37, 1988): a
// rational approximation in three regions with relative error about 1e-16.  Measured against
// scipy.special.ndtri (what ArviZ calls) on every Blom probability of N = 4e6 draws, on the
// half-integer ranks and on random p down to 1e-300: at most 1.3e-15 relative, 3e-14 absolute.
// Twin: fastmc/_numba/diagnostics/normal_quantile.py.
//
// normal_scores() fills the table of normal scores of the integer ranks, the most expensive part
// of rank normalisation after the sort: the central region (85% of the ranks) is a branch-free loop
// that the compiler vectorises (a per-rank call to normal_quantile() branches and does not), the
// two tails call normal_quantile() (a logarithm each).  Both give bit-identical values.
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmc/diagnostics/threads.hpp"

namespace fastmc {

// Central region, |q| <= 0.425 with q = p - 0.5.
inline double as241_central(double q) {
    const double r = 0.180625 - q * q;
    const double num = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r +
                             6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r +
                           1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r +
                         1.3314166789178437745e+2) * r + 3.3871328727963666080e+0);
    const double den = (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
                             3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r +
                           5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
                         4.2313330701600911252e+1) * r + 1.0);
    return q * num / den;
}

inline double normal_quantile(double p) {
    if (!(p > 0.0 && p < 1.0)) {
        if (p == 0.0) return -INFINITY;
        if (p == 1.0) return INFINITY;
        return NAN;
    }
    const double q = p - 0.5;
    if (std::fabs(q) <= 0.425) return as241_central(q);
    double r = std::sqrt(-std::log(q < 0.0 ? p : 1.0 - p));  // 1 - p is exact for p > 0.5
    double v;
    if (r <= 5.0) {
        r -= 1.6;
        v = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r +
                  2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r +
                3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r +
              4.63033784615654529590e+0) * r + 1.42343711074968357734e+0) /
            (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r +
                  1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r +
                6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r +
              2.05319162663775882187e+0) * r + 1.0);
    } else {
        r -= 5.0;
        v = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
                  1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
                2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r +
              5.46378491116411436990e+0) * r + 6.65790464350110377720e+0) /
            (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r +
                  1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r +
                1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
              5.99832206555887937690e-1) * r + 1.0);
    }
    return q < 0.0 ? -v : v;
}

// Blom probability of rank r (1-based) among n: (r - 3/8) / (n + 1/4), as ArviZ computes it.
inline double blom_p(int64_t r, int64_t n) {
    return (static_cast<double>(r) - 0.375) / (static_cast<double>(n) + 0.25);
}

// First i in [lo, hi) whose q = blom_p(i + 1, n) - 0.5 exceeds t (q > t if strict, else q >= t);
// q increases with i, so this is a bisection.  Finds the edges of the central region.
inline int64_t first_beyond(int64_t n, int64_t lo, int64_t hi, double t, bool strict) {
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        const double q = blom_p(mid + 1, n) - 0.5;
        if (strict ? q > t : q >= t) hi = mid; else lo = mid + 1;
    }
    return lo;
}

// z[i - lo] = normal_quantile(blom_p(i + 1, n)) for i in [lo, hi).
inline void normal_scores(int64_t n, int64_t lo, int64_t hi, double* z) {
    // the central region is the contiguous range of ranks with |p - 0.5| <= 0.425
    const int64_t c0 = first_beyond(n, lo, hi, -0.425, false);
    const int64_t c1 = first_beyond(n, c0, hi, 0.425, true);
    for (int64_t i = lo; i < c0; ++i) z[i - lo] = normal_quantile(blom_p(i + 1, n));
    const double denom = static_cast<double>(n) + 0.25;
    for (int64_t i = c0; i < c1; ++i)  // blom_p and as241_central inlined: vectorised
        z[i - lo] = as241_central((static_cast<double>(i + 1) - 0.375) / denom - 0.5);
    for (int64_t i = c1; i < hi; ++i) z[i - lo] = normal_quantile(blom_p(i + 1, n));
}

constexpr int64_t kScoresPartMin = int64_t(1) << 16;  // smaller tables: one part, one thread

// The whole table z (n,) on up to n_threads threads, in contiguous parts (up to 8 per thread,
// taken dynamically: the costly tails are at both ends).
inline void normal_score_table(int64_t n, double* z, int n_threads) {
    int64_t parts = n / kScoresPartMin;
    if (parts > 8 * int64_t(n_threads)) parts = 8 * int64_t(n_threads);
    if (parts < 1) parts = 1;
    dynamic_parallel(parts, n_threads, [&](int, int64_t c) {
        const int64_t lo = n * c / parts, hi = n * (c + 1) / parts;
        normal_scores(n, lo, hi, z + lo);
    });
}

}  // namespace fastmc
