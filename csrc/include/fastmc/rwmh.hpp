// Random-walk Metropolis-Hastings, one chain. Twin: fastmc/_numba/rwmh.py.
// Proposal y = x + S^(1/2) eps, eps ~ N(0, I): S^(1/2) is a per-dimension scale (prop_kind 0)
// or the lower Cholesky factor of a full proposal covariance, passed transposed (prop_kind 1).
// Target pi(x)^(1/T): accept when u < exp((log pi(y) - log pi(x)) / T).
#pragma once
#include <cmath>
#include <cstdint>

#include "rng.hpp"

namespace fastmc {

struct RwmhOut {
    double* draws;         // (n, d)
    double* log_density;   // (n,)
    uint8_t* accepted;     // (n,)
    int64_t* n_nonfinite;  // scalar: proposals rejected for a non-finite log density
    int64_t* n_done;       // scalar: iterations completed (n unless the target asked to stop)
};

// work: 3*d + target.work_size()
template <class Target>
void rwmh_chain(const Target& target, const double* x0, int64_t n, int64_t d_rt, const double* prop,
                int prop_kind, double inv_temp, uint64_t seed, uint64_t chain, RwmhOut out,
                double* work) {
    const int64_t d = target.dim();  // == d_rt; a constant for small fixed-size targets
    (void)d_rt;
    Rng rng(seed, chain);
    double* x = work;
    double* y = work + d;
    double* eps = work + 2 * d;
    double* twork = work + 3 * d;
    for (int64_t i = 0; i < d; ++i) x[i] = x0[i];
    double lp = target.logp(x, twork);
    int64_t nonfinite = 0, t = 0;
    for (; t < n; ++t) {
        for (int64_t i = 0; i < d; ++i) eps[i] = rng.normal();
        if (prop_kind == 0) {
            for (int64_t i = 0; i < d; ++i) y[i] = x[i] + prop[i] * eps[i];
        } else {
            for (int64_t i = 0; i < d; ++i) y[i] = x[i];
            for (int64_t j = 0; j < d; ++j) {
                const double ej = eps[j];
                const double* col = prop + j * d;  // column j of L, zero above the diagonal
                for (int64_t i = j; i < d; ++i) y[i] += col[i] * ej;
            }
        }
        const double lpy = target.logp(y, twork);
        if (target.stop_requested()) break;
        const double u = rng.uniform();
        bool acc = false;
        if (std::isfinite(lpy)) {
            const double delta = (lpy - lp) * inv_temp;
            acc = delta >= 0.0 || u < std::exp(delta);
        } else {
            ++nonfinite;
        }
        if (acc) {
            for (int64_t i = 0; i < d; ++i) x[i] = y[i];
            lp = lpy;
        }
        double* row = out.draws + t * d;
        for (int64_t i = 0; i < d; ++i) row[i] = x[i];
        out.log_density[t] = lp;
        out.accepted[t] = acc ? 1 : 0;
    }
    *out.n_nonfinite = nonfinite;
    *out.n_done = t;
}

}  // namespace fastmc
