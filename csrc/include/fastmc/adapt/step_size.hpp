// Stan's initial step-size search, run at the start of warm-up and after each metric update.
// Twin: fastmc/_numba/adapt/step_size.py.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "fastmc/core/rng.hpp"
#include "fastmc/core/scratch.hpp"
#include "fastmc/hmc/integrator.hpp"
#include "fastmc/hmc/metric.hpp"

namespace fastmc {

// Stan's heuristic: double (halve) eps while one leapfrog step from q with fresh momentum keeps
// (fails to keep) the acceptance probability above 0.8; returns the first eps that crosses.
template <class Target>
double init_step_size(const Target& target, Rng& rng, const double* q, const double* g, double lp, double eps,
                      int kind, const double* A, const double* F, double* w, double* twork, int64_t& n_grad) {
    // w: static_hmc_work_size(d) doubles
    const int64_t d = target.dim();
    if (!(eps > 0.0) || eps > 1e7) return eps;
    const int64_t s = pad4(d);  // array stride
    double* qn = w;
    double* p = w + s;
    double* gn = w + 2 * s;
    double* v = w + 3 * s;
    double* u = w + 4 * s;
    const double log08 = std::log(0.8);
    int direction = 0;
    for (int it = 0; it < 100; ++it) {
        metric_momentum(rng, kind, d, F, p);
        const double h0 = -lp + metric_start(kind, d, A, p, g, v, u);
        for (int64_t i = 0; i < d; ++i) {
            qn[i] = q[i];
            gn[i] = g[i];
        }
        double kin;
        const double lpn = metric_leapfrog(target, qn, p, gn, v, u, eps, kind, A, twork, kin);
        ++n_grad;
        double h = -lpn + kin;
        if (std::isnan(h)) h = std::numeric_limits<double>::infinity();
        const double dh = h0 - h;
        if (direction == 0) {
            direction = dh > log08 ? 1 : -1;
        } else if ((direction == 1 && !(dh > log08)) || (direction == -1 && !(dh < log08))) {
            break;
        }
        const double next = direction == 1 ? 2.0 * eps : 0.5 * eps;
        if (next > 1e7 || next < 1e-10) break;  // improper target or no usable step: keep eps
        eps = next;
    }
    return eps;
}

}  // namespace fastmc
