// The diagonal inverse metric that minimises the Fisher divergence between the target and a
// Gaussian, from the warm-up's draws and gradients: A_i = sqrt(var(x_i) / var(g_i)) (for a
// Gaussian, exactly its variance, even from two draws). The warm-up keeps two running estimates,
// a foreground one that sets the metric and a background one that replaces it at a switch
// (adaptation.py's schedule says when). Twin: fastmc/_numba/adapt/fisher.py.
#pragma once
#include <cmath>
#include <cstdint>

namespace fastmc {

// One estimate: (4, d) doubles, the Welford mean and m2 of the draws, then those of the gradients.
constexpr int64_t kFisherBlocks = 4;
// The metric stays inside [kFisherMin, kFisherMax] (a gradient that never varies in a direction
// would make it infinite); a coordinate whose ratio is not a number keeps its value.
constexpr double kFisherMin = 1e-20;
constexpr double kFisherMax = 1e20;

inline void fisher_reset(int64_t d, double* est, int64_t& n) {
    n = 0;
    for (int64_t i = 0; i < kFisherBlocks * d; ++i) est[i] = 0.0;
}

// Welford's update of both moments with the draw x and its gradient g.
inline void fisher_add(int64_t d, const double* x, const double* g, double* est, int64_t& n) {
    ++n;
    const double dn = static_cast<double>(n);
    double *mx = est, *sx = est + d, *mg = est + 2 * d, *sg = est + 3 * d;
    for (int64_t i = 0; i < d; ++i) {
        const double dx = x[i] - mx[i];
        mx[i] += dx / dn;
        sx[i] += (x[i] - mx[i]) * dx;
        const double dg = g[i] - mg[i];
        mg[i] += dg / dn;
        sg[i] += (g[i] - mg[i]) * dg;
    }
}

// A from an estimate of n >= 2 draws: the ratio of the two variances (their 1/n cancels).
inline void fisher_metric(int64_t d, const double* est, double* A) {
    const double *sx = est + d, *sg = est + 3 * d;
    for (int64_t i = 0; i < d; ++i) {
        const double a = std::sqrt(sx[i] / sg[i]);
        if (a == a) A[i] = a < kFisherMin ? kFisherMin : a > kFisherMax ? kFisherMax : a;
    }
}

// The first metric, from the gradient at the start point alone: A_i = 1 / |g_i| (for a
// Gaussian a point one standard deviation out gives the standard deviation), 1 where g_i is 0.
inline void fisher_from_gradient(int64_t d, const double* g, double* A) {
    for (int64_t i = 0; i < d; ++i) {
        const double a = 1.0 / std::fabs(g[i]);
        A[i] = !(a <= kFisherMax) ? 1.0 : a < kFisherMin ? kFisherMin : a;
    }
}

}  // namespace fastmc
