// Hamiltonian Monte Carlo with a fixed number of leapfrog steps, one chain.
// Twin: fastmc/_numba/hmc.py. Momentum p ~ N(0, M), M = diag(1 / inv_mass); Metropolis
// correction on H = -log pi(q)/T + p^T M^-1 p / 2, so the chain targets pi^(1/T).
// A non-finite end point is a rejection (counted, flagged divergent); an energy error above
// 1000 is flagged divergent as in Stan.
#pragma once
#include <cmath>
#include <cstdint>

#include "leapfrog.hpp"
#include "rng.hpp"
#include "scratch.hpp"

namespace fastmc {

struct HmcOut {
    double* draws;         // (n, d)
    double* log_density;   // (n,)
    uint8_t* accepted;     // (n,)
    double* accept_prob;   // (n,)
    double* energy;        // (n,) Hamiltonian of the kept state
    uint8_t* divergent;    // (n,)
    int64_t* n_grad;       // scalar
    int64_t* n_nonfinite;  // scalar
    int64_t* n_done;       // scalar: iterations completed (n unless the target asked to stop)
};

constexpr double kMaxEnergyError = 1000.0;

// work: hmc_work_size(d) + target.work_size(), 64-byte aligned (Scratch)
inline int64_t hmc_work_size(int64_t d) { return 7 * pad4(d); }

template <class Target>
void hmc_chain(const Target& target, const double* x0, int64_t n, int64_t d_rt, double step,
               int64_t n_leapfrog, const double* inv_mass, double inv_temp, uint64_t seed,
               uint64_t chain, HmcOut out, double* work) {
    const int64_t d = target.dim();  // == d_rt; a constant for small fixed-size targets
    (void)d_rt;
    Rng rng(seed, chain);
    const int64_t s = pad4(d);  // array stride
    double* q = work;
    double* g = work + s;
    double* qn = work + 2 * s;
    double* gn = work + 3 * s;
    double* p = work + 4 * s;
    double* sd = work + 5 * s;
    double* im = work + 6 * s;  // inv_mass, aligned for the leapfrog's vector loads
    double* twork = work + 7 * s;
    for (int64_t i = 0; i < d; ++i) {
        q[i] = x0[i];
        sd[i] = 1.0 / std::sqrt(inv_mass[i]);
        im[i] = inv_mass[i];
    }
    inv_mass = im;
    double lp = target.logp_grad(q, g, twork);
    int64_t n_grad = 1, nonfinite = 0, t = 0;
    for (; t < n; ++t) {
        double kin0 = 0.0;
        for (int64_t i = 0; i < d; ++i) {
            p[i] = sd[i] * rng.normal();
            kin0 += inv_mass[i] * p[i] * p[i];
        }
        const double h0 = -lp * inv_temp + 0.5 * kin0;
        for (int64_t i = 0; i < d; ++i) {
            qn[i] = q[i];
            gn[i] = g[i];
        }
        const double lpn = leapfrog(target, qn, p, gn, d, step, n_leapfrog, inv_mass, inv_temp, twork);
        n_grad += n_leapfrog;
        if (target.stop_requested()) break;
        double kin1 = 0.0;
        for (int64_t i = 0; i < d; ++i) kin1 += inv_mass[i] * p[i] * p[i];
        const double h1 = -lpn * inv_temp + 0.5 * kin1;
        const double u = rng.uniform();
        bool acc = false, div = false;
        double a = 0.0;
        bool finite = std::isfinite(h1);
        for (int64_t i = 0; finite && i < d; ++i) finite = std::isfinite(gn[i]);
        if (!finite) {
            ++nonfinite;
            div = true;
        } else {
            const double dh = h1 - h0;
            div = dh > kMaxEnergyError;
            a = dh <= 0.0 ? 1.0 : std::exp(-dh);
            acc = u < a;
        }
        if (acc) {
            for (int64_t i = 0; i < d; ++i) {
                q[i] = qn[i];
                g[i] = gn[i];
            }
            lp = lpn;
        }
        double* row = out.draws + t * d;
        for (int64_t i = 0; i < d; ++i) row[i] = q[i];
        out.log_density[t] = lp;
        out.accepted[t] = acc ? 1 : 0;
        out.accept_prob[t] = a;
        out.energy[t] = acc ? h1 : h0;
        out.divergent[t] = div ? 1 : 0;
    }
    *out.n_grad = n_grad;
    *out.n_nonfinite = nonfinite;
    *out.n_done = t;
}

}  // namespace fastmc
