// The warm-up engine: runs n_warmup + n_samples transitions (NUTS or static HMC) of one chain,
// adapting during the first n_warmup as Stan does: dual averaging of the step size every
// iteration, Welford (co)variance of the draws inside the metric windows, and at each window's
// end a new inverse metric, a fresh step-size search and a restarted dual averaging.
// Twin: fastmc/_numba/adapt.py. The window schedule comes from fastmc/adaptation.py as one flag
// byte per warm-up iteration (bit 0: add this draw, bit 1: the window ends here).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "dual_averaging.hpp"
#include "metric.hpp"
#include "nuts.hpp"
#include "rng.hpp"
#include "scratch.hpp"
#include "static_hmc.hpp"
#include "welford.hpp"

namespace fastmc {

constexpr int kTransitionNuts = 0;
constexpr int kTransitionStatic = 1;

struct AdaptConfig {
    int transition;           // kTransitionNuts or kTransitionStatic
    int64_t max_depth;        // NUTS
    int64_t n_leapfrog;       // static HMC: leapfrog steps per transition, unless integration_time > 0
    double integration_time;  // static HMC: > 0 for static_hmc_steps(integration_time, eps, max_leapfrog)
                              // steps at each transition's eps; 0 for n_leapfrog steps
    int64_t max_leapfrog;     // static HMC with integration_time: the cap on the steps
    double jitter;            // Stan's stepsize_jitter in [0, 1]: each transition runs at
                              // eps (1 + jitter (2u - 1)), u uniform; 0 draws nothing
    int metric_kind;          // kMetricDiag or kMetricDense
    bool adapt_step;          // dual averaging during warm-up
    double delta, gamma, kappa, t0;
};

struct AdaptOut {
    double* draws;       // (n_total, d), warm-up first
    double* log_density; // (n_total,)
    double* accept_stat; // (n_total,)
    double* energy;      // (n_total,)
    double* step_size;   // (n_total,) step size used by each transition
    int64_t* depth;      // (n_total,)
    int64_t* n_leapfrog; // (n_total,)
    uint8_t* divergent;  // (n_total,)
    uint8_t* nonfinite;  // (n_total,) the trajectory reached a non-finite energy
    uint8_t* moved;      // (n_total,) the draw differs from the previous one (x0 before the first)
    double* final_step;  // scalar
    int64_t* n_grad;     // scalar: all gradient evaluations, step-size searches included
    int64_t* n_done;     // scalar: transitions completed (n_total unless the target asked to stop)
};

inline int64_t adapt_work_size(int64_t d, int kind, int64_t max_depth) {
    const int64_t m = kind == kMetricDiag ? d : d * d;
    return 6 * pad4(d) + 3 * pad4(m) + metric_layout_size(kind, d) + nuts_work_size(d, max_depth) +
           static_hmc_work_size(d);
}

// Stan's heuristic: double (halve) eps while one leapfrog step from q with fresh momentum keeps
// (fails to keep) the acceptance probability above 0.8; returns the first eps that crosses.
template <class Target>
double init_step_size(const Target& target, Rng& rng, const double* q, const double* g, double lp, double eps,
                      int kind, const double* A, const double* F, double* w, double* twork, int64_t& n_grad) {
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

// A_io (d,) or (d, d) in/out: the inverse metric. rng_state (4,) in/out. phase (n_warmup,).
// work: adapt_work_size, 64-byte aligned (Scratch), as is twork.
template <class Target>
void adaptive_chain(const Target& target, const double* x0, int64_t n_warmup, int64_t n_samples,
                    const uint8_t* phase, double step0, const AdaptConfig& cfg, double* A_io, uint64_t* rng_state,
                    AdaptOut out, double* work, double* twork) {
    const int64_t d = target.dim();
    const int kind = cfg.metric_kind;
    const int64_t m = kind == kMetricDiag ? d : d * d;
    Rng rng(0, 0);
    for (int i = 0; i < 4; ++i) rng.s[i] = rng_state[i];
    const int64_t s = pad4(d), ms = pad4(m);  // array strides
    double* q = work;
    double* g = work + s;
    double* delta = work + 2 * s;
    double* F = work + 3 * s;
    double* m2 = F + ms;
    double* A = m2 + ms;  // the inverse metric, aligned: the leaves load it 4 lanes at a time
    double* mean = A + ms;
    double* ones = mean + 2 * s;
    double* Ap = ones + s;  // a dense A in its product layout (metric.hpp)
    double* tw = Ap + metric_layout_size(kind, d);  // transition scratch
    for (int64_t i = 0; i < m; ++i) A[i] = A_io[i];
    for (int64_t i = 0; i < d; ++i) ones[i] = 1.0;
    // the metric the transitions run with: A (a dense one in its product layout), or ones while
    // a dense A is the identity
    int run_kind = kind;
    const double *Ar = A, *Fr = F;
    auto set_run_metric = [&]() {
        const bool unit = metric_is_identity(kind, d, A);
        run_kind = unit ? kMetricDiag : kind;
        Ar = unit ? ones : kind == kMetricDiag ? A : metric_product_layout(d, A, Ap);
        Fr = unit ? ones : F;
    };
    for (int64_t i = 0; i < d; ++i) q[i] = x0[i];
    double lp = target.logp_grad(q, g, twork);
    int64_t n_grad = 1, n_w = 0;
    metric_factor(kind, d, A, F);  // validated positive definite in Python
    set_run_metric();
    welford_reset(kind, d, mean, m2, n_w);
    double eps = step0;
    DualAveraging da{cfg.delta, cfg.gamma, cfg.kappa, cfg.t0};
    if (n_warmup > 0 && cfg.adapt_step) {
        eps = init_step_size(target, rng, q, g, lp, eps, run_kind, Ar, Fr, tw, twork, n_grad);
        da.restart(std::log(10.0 * eps));
    }
    const int64_t n_total = n_warmup + n_samples;
    // a target that asks to stop (a C function's negative return, a Python exception) ends the
    // chain before the transition it interrupted is recorded: draws [0, t) stay valid
    int64_t t = 0;
    for (; t < n_total && !target.stop_requested(); ++t) {
        // static HMC with an integration time: the steps for this transition's step size
        // (as Stan: L from the nominal step size, so a jittered step also jitters the time)
        const int64_t n_leap = cfg.integration_time > 0.0
                                   ? static_hmc_steps(cfg.integration_time, eps, cfg.max_leapfrog)
                                   : cfg.n_leapfrog;
        // the step this transition runs with: jittered around the nominal (adapted) one, whose
        // dual averaging is unaffected
        const double eps_t = cfg.jitter > 0.0 ? eps * (1.0 + cfg.jitter * (2.0 * rng.uniform() - 1.0)) : eps;
        const TransitionStats st =
            cfg.transition == kTransitionNuts
                ? nuts_transition(target, rng, q, g, lp, eps_t, run_kind, Ar, Fr, cfg.max_depth, tw, twork)
                : static_hmc_transition(target, rng, q, g, lp, eps_t, run_kind, Ar, Fr, n_leap, tw, twork);
        n_grad += st.n_leapfrog;
        if (target.stop_requested()) break;
        const double* prev = t == 0 ? x0 : out.draws + (t - 1) * d;
        bool moved = false;
        for (int64_t i = 0; i < d; ++i) {
            out.draws[t * d + i] = q[i];
            moved = moved || q[i] != prev[i];
        }
        out.moved[t] = moved ? 1 : 0;
        out.log_density[t] = lp;
        out.accept_stat[t] = st.accept_stat;
        out.energy[t] = st.energy;
        out.step_size[t] = eps_t;
        out.depth[t] = st.depth;
        out.n_leapfrog[t] = st.n_leapfrog;
        out.divergent[t] = st.divergent ? 1 : 0;
        out.nonfinite[t] = st.nonfinite ? 1 : 0;
        if (t >= n_warmup) continue;
        if (cfg.adapt_step) eps = da.update(st.accept_stat);
        if (phase[t] & 1) welford_add(kind, d, q, mean, m2, n_w, delta);
        if ((phase[t] & 2) && n_w >= 2) {
            welford_metric(kind, d, m2, n_w, A);
            metric_factor(kind, d, A, F);  // regularised sample covariance: positive definite
            set_run_metric();
            welford_reset(kind, d, mean, m2, n_w);
            if (cfg.adapt_step) {
                eps = init_step_size(target, rng, q, g, lp, eps, run_kind, Ar, Fr, tw, twork, n_grad);
                da.restart(std::log(10.0 * eps));
            }
        }
        if (t == n_warmup - 1 && cfg.adapt_step) eps = da.final_step();
    }
    for (int64_t i = 0; i < m; ++i) A_io[i] = A[i];
    *out.n_done = t;
    *out.final_step = eps;
    *out.n_grad = n_grad;
    for (int i = 0; i < 4; ++i) rng_state[i] = rng.s[i];
}

}  // namespace fastmc
