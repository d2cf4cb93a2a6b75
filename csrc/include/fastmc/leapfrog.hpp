// Leapfrog (velocity Verlet) for H(q, p) = U(q)/T + p^T M^-1 p / 2 with diagonal M^-1.
// Twin: fastmc/_numba/leapfrog.py. grad holds grad log pi at q on entry and at the end point on
// exit; the return value is log pi at the end point. A non-finite value propagates to the end
// point, where the sampler rejects it, so the loop has no branches.
#pragma once
#include <cstdint>

namespace fastmc {

template <class Target>
double leapfrog(const Target& target, double* q, double* p, double* grad, int64_t d_rt, double step,
                int64_t n_steps, const double* inv_mass, double inv_temp, double* twork) {
    const int64_t d = target.dim();  // == d_rt; a constant for small fixed-size targets
    (void)d_rt;
    const double half = 0.5 * step * inv_temp;  // -dU/dq = grad log pi / T
    const double full = step * inv_temp;
    double lp = 0.0;
    for (int64_t i = 0; i < d; ++i) p[i] += half * grad[i];
    for (int64_t l = 0; l < n_steps; ++l) {
        for (int64_t i = 0; i < d; ++i) q[i] += step * inv_mass[i] * p[i];
        if (l + 1 < n_steps) {
            target.grad(q, grad, twork);  // inner steps need no log density
            for (int64_t i = 0; i < d; ++i) p[i] += full * grad[i];
        } else {
            lp = target.logp_grad(q, grad, twork);
            for (int64_t i = 0; i < d; ++i) p[i] += half * grad[i];
        }
    }
    return lp;
}

}  // namespace fastmc
