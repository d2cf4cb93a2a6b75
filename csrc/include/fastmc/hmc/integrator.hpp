// The leapfrog (velocity Verlet) integrator for H(q, p) = -log pi(q) + p^T A p / 2 under a
// diagonal or dense inverse metric A (metric.hpp). Twin: fastmc/_numba/hmc/integrator.py.
// Every HMC transition (static and NUTS) moves with these functions; a non-finite value
// propagates to the end point, where the transition rejects it, so the loops have no branches.
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmc/core/inline.hpp"
#include "fastmc/core/linalg.hpp"
#include "fastmc/hmc/metric.hpp"

namespace fastmc {

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

// The second half kick without the energy: p += half g, v = A p (diagonal: unused until the
// next drift recomputes it, so not stored) or v += half u (dense). Four lanes at a time like the
// drift that reads p next: a 4-lane load of values just stored one by one would wait for them.
FASTMC_INLINE void metric_kick(int kind, int64_t d, double* __restrict p, const double* __restrict g,
                               double* __restrict v, const double* __restrict u, double half) {
    const D4 h4 = splat4(half);
    int64_t i = 0;
    if (kind == kMetricDiag) {
        for (; i + 4 <= d; i += 4) store4(p + i, add4(load4(p + i), mul4(h4, load4(g + i))));
        for (; i < d; ++i) p[i] += half * g[i];
        return;
    }
    for (; i + 4 <= d; i += 4) {
        store4(p + i, add4(load4(p + i), mul4(h4, load4(g + i))));
        store4(v + i, add4(load4(v + i), mul4(h4, load4(u + i))));
    }
    for (; i < d; ++i) {
        p[i] += half * g[i];
        v[i] += half * u[i];
    }
}

// The energy's sum p^T v runs in two sets of four lanes (elements i % 8 < 4 and >= 4), added
// lane by lane after the last whole group of four, the tail into lane 0, then
// (s0 + s1) + (s2 + s3): two chains of d / 8 fmas instead of one of d / 4, since this sum is the
// last dependency between a gradient and the NUTS leaf weight.
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

// n_steps >= 1 leapfrog steps in place, for static HMC: the inner steps need neither the log
// density nor the kinetic energy, so they call target.grad and kick without the energy sum. Each
// step's kicks are the same two half kicks as metric_leapfrog's, so the end point has the same
// bits as n_steps calls of metric_leapfrog (grad and logp_grad give the same gradient).
template <class Target>
FASTMC_INLINE double leapfrog_steps(const Target& target, double* q, double* p, double* g, double* v, double* u,
                                    double eps, int64_t n_steps, int kind, const double* A, double* twork,
                                    double& kin) {
    const int64_t d = target.dim();
    const double half = 0.5 * eps;
    for (int64_t l = 1; l < n_steps; ++l) {
        metric_drift(kind, d, A, q, q, p, g, v, u, half, eps);
        target.grad(q, g, twork);
        if (kind != kMetricDiag) dense_mul(A, g, u, d);
        metric_kick(kind, d, p, g, v, u, half);
    }
    return metric_leapfrog(target, q, p, g, v, u, eps, kind, A, twork, kin);
}

}  // namespace fastmc
