// Euclidean metrics for HMC and NUTS: the inverse metric A = M^-1 is diagonal (d,) or dense
// (d, d) row-major, symmetric. Twin: fastmc/_numba/metric.py.
// The factor F is 1/sqrt(A_i) (diagonal) or the lower Cholesky factor of A (dense): momentum
// p ~ N(0, M) is p = F z (diagonal) or the solution of L^T p = z (dense), whose covariance is
// L^-T L^-1 = A^-1 = M. Kinetic energy p^T A p / 2; the velocity A p is "p sharp".
#pragma once
#include <cmath>
#include <cstdint>

#include "linalg.hpp"
#include "rng.hpp"

namespace fastmc {

constexpr int kMetricDiag = 0;
constexpr int kMetricDense = 1;

// F from A; false if the dense A is not numerically positive definite (F is then unusable).
inline bool metric_factor(int kind, int64_t d, const double* A, double* F) {
    if (kind == kMetricDiag) {
        for (int64_t i = 0; i < d; ++i) F[i] = 1.0 / std::sqrt(A[i]);
        return true;
    }
    for (int64_t j = 0; j < d; ++j) {
        double s = A[j * d + j];
        for (int64_t k = 0; k < j; ++k) s = std::fma(-F[j * d + k], F[j * d + k], s);
        if (!(s > 0.0)) return false;
        const double ljj = std::sqrt(s);
        F[j * d + j] = ljj;
        for (int64_t i = j + 1; i < d; ++i) {
            double t = A[i * d + j];
            for (int64_t k = 0; k < j; ++k) t = std::fma(-F[i * d + k], F[j * d + k], t);
            F[i * d + j] = t / ljj;
        }
        for (int64_t i = 0; i < j; ++i) F[i * d + j] = 0.0;  // upper triangle unused, kept defined
    }
    return true;
}

// p ~ N(0, M): d standard normals in index order, then scaled (diagonal) or back-substituted.
inline void metric_momentum(Rng& rng, int kind, int64_t d, const double* F, double* p) {
    if (kind == kMetricDiag) {
        for (int64_t i = 0; i < d; ++i) p[i] = F[i] * rng.normal();
        return;
    }
    for (int64_t i = 0; i < d; ++i) p[i] = rng.normal();
    for (int64_t i = d - 1; i >= 0; --i) {
        double s = p[i];
        for (int64_t j = i + 1; j < d; ++j) s = std::fma(-F[j * d + i], p[j], s);
        p[i] = s / F[i * d + i];
    }
}

// v = A p (for the dense metric the column-axpy order of symv, shared with the Numba twin).
inline void metric_mul(int kind, int64_t d, const double* A, const double* p, double* v) {
    if (kind == kMetricDiag) {
        for (int64_t i = 0; i < d; ++i) v[i] = A[i] * p[i];
        return;
    }
    symv<0>(A, p, v, d);
}

// One leapfrog step of signed size eps on (q, p) with v = A p kept current: grad and v hold
// their values at (q, p) on entry and at the end point on exit. Returns log pi at the end point.
template <class Target>
inline double metric_leapfrog(const Target& target, double* q, double* p, double* g, double* v, double eps,
                              int kind, const double* A, double* twork) {
    const int64_t d = target.dim();
    const double half = 0.5 * eps;
    for (int64_t i = 0; i < d; ++i) p[i] += half * g[i];
    metric_mul(kind, d, A, p, v);
    for (int64_t i = 0; i < d; ++i) q[i] += eps * v[i];
    const double lp = target.logp_grad(q, g, twork);
    for (int64_t i = 0; i < d; ++i) p[i] += half * g[i];
    metric_mul(kind, d, A, p, v);
    return lp;
}

inline double kinetic(const double* p, const double* v, int64_t d) { return 0.5 * dot4(p, v, d); }

}  // namespace fastmc
