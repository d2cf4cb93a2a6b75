// Welford's streaming mean and (co)variance of the warm-up draws, and Stan's regularised
// inverse metric from them. Twin: fastmc/_numba/adapt/welford.py.
#pragma once
#include <cstdint>

#include "fastmc/hmc/metric.hpp"

namespace fastmc {

// mean (d,), m2 (d,) or (d, d); n counts the samples added since the last reset.
inline void welford_reset(int kind, int64_t d, double* mean, double* m2, int64_t& n) {
    n = 0;
    for (int64_t i = 0; i < d; ++i) mean[i] = 0.0;
    const int64_t m = kind == kMetricDiag ? d : d * d;
    for (int64_t i = 0; i < m; ++i) m2[i] = 0.0;
}

// delta (d,) is scratch.
inline void welford_add(int kind, int64_t d, const double* x, double* mean, double* m2, int64_t& n,
                        double* delta) {
    ++n;
    const double dn = static_cast<double>(n);
    for (int64_t i = 0; i < d; ++i) {
        delta[i] = x[i] - mean[i];
        mean[i] += delta[i] / dn;
    }
    if (kind == kMetricDiag) {
        for (int64_t i = 0; i < d; ++i) m2[i] += (x[i] - mean[i]) * delta[i];
        return;
    }
    for (int64_t i = 0; i < d; ++i) {
        const double a = x[i] - mean[i];
        for (int64_t j = 0; j < d; ++j) m2[i * d + j] += a * delta[j];
    }
}

// A = n/(n+5) * S + 1e-3 * 5/(n+5) * I with S the sample (co)variance (Stan's shrinkage toward
// a small multiple of the identity; it keeps A positive definite for short windows). The dense
// S is symmetrised exactly, so A[i, j] == A[j, i] bit for bit. Requires n >= 2.
inline void welford_metric(int kind, int64_t d, const double* m2, int64_t n, double* A) {
    const double dn = static_cast<double>(n);
    const double w = dn / (dn + 5.0);
    const double r = 1e-3 * (5.0 / (dn + 5.0));
    if (kind == kMetricDiag) {
        for (int64_t i = 0; i < d; ++i) A[i] = w * (m2[i] / (dn - 1.0)) + r;
        return;
    }
    for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) {
            const double s = 0.5 * (m2[i * d + j] + m2[j * d + i]) / (dn - 1.0);
            A[i * d + j] = i == j ? w * s + r : w * s;
        }
}

}  // namespace fastmc
