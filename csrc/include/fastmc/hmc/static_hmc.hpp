// One static HMC transition (a fixed number of leapfrog steps and a Metropolis correction) under
// a diagonal or dense metric, and the number of steps for a fixed integration time.
// Twin: fastmc/_numba/hmc/static_hmc.py.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "fastmc/core/inline.hpp"
#include "fastmc/core/rng.hpp"
#include "fastmc/core/scratch.hpp"
#include "fastmc/hmc/integrator.hpp"
#include "fastmc/hmc/metric.hpp"
#include "fastmc/hmc/transition.hpp"

namespace fastmc {

inline int64_t static_hmc_work_size(int64_t d) { return 5 * pad4(d); }

// Stan's static HMC with integration time T: L = floor(T / eps) leapfrog steps at step size eps,
// at least 1 and at most max_leapfrog (the step-size search can shrink eps a lot, and T / eps is
// unbounded). Compared as doubles before the cast, which then never overflows; a NaN ratio gives 1.
inline int64_t static_hmc_steps(double integration_time, double eps, int64_t max_leapfrog) {
    const double r = integration_time / eps;
    if (r >= static_cast<double>(max_leapfrog)) return max_leapfrog;
    return r >= 1.0 ? static_cast<int64_t>(r) : 1;
}

// q, g, lp: the current state (updated in place when the proposal is accepted). A: the inverse
// metric in its product layout, F its factor (metric.hpp). w: static_hmc_work_size doubles.
// Inlined into the chain loop: a call per transition (twelve arguments, the state through
// memory) costs a quarter of a one-step transition on a cheap target (bench/ab_builds.py).
template <class Target>
FASTMC_INLINE TransitionStats static_hmc_transition(const Target& target, Rng& rng, double* q, double* g, double& lp,
                                      double eps, int kind, const double* A, const double* F,
                                      int64_t n_leapfrog, double* w, double* twork) {
    const int64_t d = target.dim();
    const int64_t s = pad4(d);  // array stride
    double* qn = w;
    double* p = w + s;
    double* gn = w + 2 * s;
    double* v = w + 3 * s;
    double* u = w + 4 * s;
    metric_momentum(rng, kind, d, F, p);
    const double h0 = -lp + metric_start(kind, d, A, p, g, v, u);
    for (int64_t i = 0; i < d; ++i) {
        qn[i] = q[i];
        gn[i] = g[i];
    }
    double kin = 0.0;
    const double lpn = leapfrog_steps(target, qn, p, gn, v, u, eps, n_leapfrog, kind, A, twork, kin);
    double h1 = -lpn + kin;
    // a non-finite log density or gradient makes the energy non-finite: rejected and counted
    const bool nonfinite = !std::isfinite(h1);
    if (nonfinite) h1 = std::numeric_limits<double>::infinity();
    const double u01 = rng.uniform();
    const double dh = h1 - h0;
    const double a = dh <= 0.0 ? 1.0 : std::exp(-dh);  // 0 for an infinite energy
    const bool acc = u01 < a;
    if (acc) {
        for (int64_t i = 0; i < d; ++i) {
            q[i] = qn[i];
            g[i] = gn[i];
        }
        lp = lpn;
    }
    return {a, acc ? h1 : h0, dh, dh, 0, n_leapfrog, dh > kMaxEnergyError, nonfinite};
}

}  // namespace fastmc
