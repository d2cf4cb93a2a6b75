// Euclidean metrics for HMC and NUTS: the inverse metric A = M^-1 is diagonal (d,) or dense
// (d, d) row-major, symmetric. Twin: fastmc/_numba/metric.py. The transitions take a dense A
// in its product layout (metric_product_layout): the panels of linalg.hpp for d >= 64, where
// the leapfrog's product A g reads half the bytes, else the matrix itself.
// The factor F is 1/sqrt(A_i) (diagonal) or the lower Cholesky factor of A (dense): momentum
// p ~ N(0, M) is p = F z (diagonal) or the solution of L^T p = z (dense), whose covariance is
// L^-T L^-1 = A^-1 = M. Kinetic energy p^T A p / 2; the velocity A p is "p sharp".
#pragma once
#include <cmath>
#include <cstdint>

#include "inline.hpp"
#include "linalg.hpp"
#include "rng.hpp"
#include "scratch.hpp"

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
// known, every p_i with i < j gets -L[j, i] p_j, so each p_i sums its terms in decreasing j. The
// row-by-row order (increasing j) was one dependent fma chain of d^2 / 2 links, 5.5 us per
// transition at d = 100; this one is four lanes wide with a chain of d divisions.
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

inline double kinetic(const double* p, const double* v, int64_t d) { return 0.5 * dot4(p, v, d); }

// The state a leapfrog step needs besides (q, p, g): the velocity v = A p and, for the dense
// metric, u = A g. Call once where a trajectory starts (after drawing p); returns the kinetic energy.
FASTMC_INLINE double metric_start(int kind, int64_t d, const double* A, const double* p, const double* g, double* v,
                           double* u) {
    metric_mul(kind, d, A, p, v);
    if (kind != kMetricDiag) dense_mul(A, g, u, d);
    return kinetic(p, v, d);
}

// The two halves of a leapfrog step around the gradient. Both kick p += half g and update the
// velocity: v = A p for the diagonal metric (one multiply, exact), v += half u for the dense one
// (A p is linear in p, so a kick moves v by half A g: one product A g per step instead of two
// products A p; v then follows A p to rounding). metric_drift also moves q: qo = qi + eps v
// (diagonal: v is not stored there, the kick recomputes it; qo may be qi);
// metric_kick_energy returns p^T v / 2 (its own lane order, below).
FASTMC_INLINE void metric_drift(int kind, int64_t d, const double* __restrict A, const double* qi, double* qo,
                                double* __restrict p, const double* gi, double* __restrict v,
                                const double* __restrict u, double half, double eps) {
    const D4 h4 = splat4(half), e4 = splat4(eps);
    int64_t i = 0;
    if (kind == kMetricDiag) {
        for (; i + 4 <= d; i += 4) {  // v = A p is recomputed by the kick: not stored here
            const D4 pi = add4(load4(p + i), mul4(h4, load4(gi + i)));
            store4(p + i, pi);
            store4(qo + i, add4(load4(qi + i), mul4(e4, mul4(load4(A + i), pi))));
        }
        for (; i < d; ++i) {
            p[i] += half * gi[i];
            qo[i] = qi[i] + eps * (A[i] * p[i]);
        }
    } else {
        for (; i + 4 <= d; i += 4) {
            const D4 pi = add4(load4(p + i), mul4(h4, load4(gi + i)));
            const D4 vi = add4(load4(v + i), mul4(h4, load4(u + i)));
            store4(p + i, pi);
            store4(v + i, vi);
            store4(qo + i, add4(load4(qi + i), mul4(e4, vi)));
        }
        for (; i < d; ++i) {
            p[i] += half * gi[i];
            v[i] += half * u[i];
            qo[i] = qi[i] + eps * v[i];
        }
    }
}

// One kick of four elements at i: p += half g, v = A p (diagonal) or v += half u (dense);
// returns the new (p, v) for the energy.
template <bool Diag>
FASTMC_INLINE void kick4(const double* __restrict A, double* __restrict p, const double* __restrict g,
                         double* __restrict v, const double* __restrict u, D4 h4, int64_t i, D4& pi, D4& vi) {
    pi = add4(load4(p + i), mul4(h4, load4(g + i)));
    vi = Diag ? mul4(load4(A + i), pi) : add4(load4(v + i), mul4(h4, load4(u + i)));
    store4(p + i, pi);
    store4(v + i, vi);
}

// The energy's sum p^T v runs in two sets of four lanes (elements i % 8 < 4 and >= 4), added
// lane by lane after the last whole group of four, the tail into lane 0, then
// (s0 + s1) + (s2 + s3): one chain of d / 4 fmas was the longest dependency after each
// gradient (NUTS 2-3 ns per leaf faster on T2).
template <bool Diag>
FASTMC_INLINE double kick_energy(int64_t d, const double* __restrict A, double* __restrict p,
                                 const double* __restrict g, double* __restrict v, const double* __restrict u,
                                 double half) {
    const D4 h4 = splat4(half);
    D4 s4 = zero4(), t4 = zero4(), pi, vi;
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
        kick4<Diag>(A, p, g, v, u, h4, i, pi, vi);
        s4 = fma4(pi, vi, s4);
        kick4<Diag>(A, p, g, v, u, h4, i + 4, pi, vi);
        t4 = fma4(pi, vi, t4);
    }
    if (i + 4 <= d) {
        kick4<Diag>(A, p, g, v, u, h4, i, pi, vi);
        s4 = fma4(pi, vi, s4);
        i += 4;
    }
    s4 = add4(s4, t4);
    if (i == d) return 0.5 * hsum4(s4);  // no tail: (s0 + s1) + (s2 + s3) from the register
    alignas(32) double s[4];
    lanes4(s4, s);
    for (; i < d; ++i) {
        p[i] += half * g[i];
        v[i] = Diag ? A[i] * p[i] : v[i] + half * u[i];
        s[0] = std::fma(p[i], v[i], s[0]);
    }
    return 0.5 * ((s[0] + s[1]) + (s[2] + s[3]));
}

FASTMC_INLINE double metric_kick_energy(int kind, int64_t d, const double* __restrict A, double* __restrict p,
                                        const double* __restrict g, double* __restrict v,
                                        const double* __restrict u, double half) {
    return kind == kMetricDiag ? kick_energy<true>(d, A, p, g, v, u, half) : kick_energy<false>(d, A, p, g, v, u, half);
}

// One leapfrog step of signed size eps from (qi, p) with gradient gi to (qo, p) with gradient go,
// v (and u, dense) kept current: on entry they hold their values at (qi, p) (metric_start), on
// exit at the end point; u is unused by the diagonal metric. qo may be qi and go gi (in place),
// or other arrays (NUTS keeps the states of earlier leaves without copying them). Returns log pi
// at the end point; kin gets the kinetic energy there.
template <class Target>
FASTMC_INLINE double metric_leapfrog_to(const Target& target, const double* qi, double* qo, double* p,
                                        const double* gi, double* go, double* v, double* u, double eps, int kind,
                                        const double* A, double* twork, double& kin) {
    const int64_t d = target.dim();
    const double half = 0.5 * eps;
    metric_drift(kind, d, A, qi, qo, p, gi, v, u, half, eps);
    const double lp = target.logp_grad(qo, go, twork);
    if (kind != kMetricDiag) dense_mul(A, go, u, d);
    kin = metric_kick_energy(kind, d, A, p, go, v, u, half);
    return lp;
}

// The step in place: (q, p, g) at the end point on exit.
template <class Target>
FASTMC_INLINE double metric_leapfrog(const Target& target, double* q, double* p, double* g, double* v, double* u,
                                     double eps, int kind, const double* A, double* twork, double& kin) {
    return metric_leapfrog_to(target, q, q, p, g, g, v, u, eps, kind, A, twork, kin);
}

}  // namespace fastmc
