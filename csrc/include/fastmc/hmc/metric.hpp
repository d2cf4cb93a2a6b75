// Euclidean metrics for HMC and NUTS: the inverse metric A = M^-1 is diagonal (d,) or dense
// (d, d) row-major, symmetric. Twin: fastmc/_numba/hmc/metric.py. The leapfrog integrator that
// moves under a metric is integrator.hpp. The transitions take a dense A
// in its product layout (metric_product_layout): the panels of linalg.hpp for d >= 64, where
// the leapfrog's product A g reads half the bytes, else the matrix itself.
// The factor F is 1/sqrt(A_i) (diagonal) or the lower Cholesky factor of A (dense): momentum
// p ~ N(0, M) is p = F z (diagonal) or the solution of L^T p = z (dense), whose covariance is
// L^-T L^-1 = A^-1 = M. Kinetic energy p^T A p / 2; the velocity A p is "p sharp".
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmc/core/inline.hpp"
#include "fastmc/core/linalg.hpp"
#include "fastmc/core/rng.hpp"
#include "fastmc/core/scratch.hpp"

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

// True for a dense A that is exactly the identity, as at the start of a dense warm-up (Stan's
// initial buffer, about a third of T3's gradients). Such a run may use the diagonal kind with
// ones instead: the Cholesky factor of I, A p and A g are then exact, so the draws are the same
// (up to the sign of exact zeros) without a d x d product per leapfrog step.
inline bool metric_is_identity(int kind, int64_t d, const double* A) {
    if (kind != kMetricDense) return false;
    for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j)
            if (A[i * d + j] != (i == j ? 1.0 : 0.0)) return false;
    return true;
}

// p ~ N(0, M): d standard normals in index order, then scaled (diagonal) or back-substituted
// from L^T p = z. The substitution goes by columns of L^T (rows of L, contiguous): once p_j is
// known, every p_i with i < j gets -L[j, i] p_j, so each p_i sums its terms in decreasing j. This
// order runs four lanes wide with a dependency chain of d divisions; the row-by-row order would be
// one dependent fma chain of d^2 / 2 links.
FASTMC_INLINE void metric_momentum(Rng& rng, int kind, int64_t d, const double* F, double* p) {
    if (kind == kMetricDiag) {
        for (int64_t i = 0; i < d; ++i) p[i] = F[i] * rng.normal();
        return;
    }
    for (int64_t i = 0; i < d; ++i) p[i] = rng.normal();
    for (int64_t j = d - 1; j >= 0; --j) {
        const double pj = p[j] / F[j * d + j];
        p[j] = pj;
        const double* row = F + j * d;
        const D4 m4 = splat4(-pj);
        int64_t i = 0;
        for (; i + 4 <= j; i += 4) store4(p + i, fma4(load4(row + i), m4, load4(p + i)));
        for (; i < j; ++i) p[i] = std::fma(row[i], -pj, p[i]);
    }
}

// Doubles of Ap for metric_product_layout: the panels of a dense A with d >= kSymPanelMinDim,
// rounded up to whole 4-lane arrays; none otherwise.
inline int64_t metric_layout_size(int kind, int64_t d) {
    return kind == kMetricDense && d >= kSymPanelMinDim ? pad4(sym_panel_size(d)) : 0;
}

// The dense A the transitions take: A itself, or its panels written into Ap
// (metric_layout_size doubles) for d >= kSymPanelMinDim.
inline const double* metric_product_layout(int64_t d, const double* A, double* Ap) {
    if (d < kSymPanelMinDim) return A;
    sym_panel_pack(A, Ap, d);
    return Ap;
}

// v = A p for a dense A in its product layout.
FASTMC_INLINE void dense_mul(const double* A, const double* p, double* v, int64_t d) {
    if (d >= kSymPanelMinDim)
        symv_panel(A, p, v, d);
    else
        symv<0>(A, p, v, d);
}

// v = A p (dense A in its product layout).
inline void metric_mul(int kind, int64_t d, const double* A, const double* p, double* v) {
    if (kind == kMetricDiag) {
        for (int64_t i = 0; i < d; ++i) v[i] = A[i] * p[i];
        return;
    }
    dense_mul(A, p, v, d);
}

}  // namespace fastmc
