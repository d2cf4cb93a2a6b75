// The one HMC engine: runs n_warmup + n_samples transitions (NUTS or static HMC) of one chain,
// adapting during the first n_warmup as Stan does: dual averaging of the step size every
// iteration, Welford (co)variance of the draws inside the metric windows, and at each window's
// end a new inverse metric, a fresh step-size search and a restarted dual averaging. Without
// warm-up it samples with the given step size and metric. hmc_run runs it over all chains.
// Twin: fastmc/_numba/adapt/warmup.py. The window schedule comes from fastmc/adaptation.py as one
// flag byte per warm-up iteration (bit 0: add this draw, bit 1: the window ends here).
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmc/adapt/dual_averaging.hpp"
#include "fastmc/adapt/step_size.hpp"
#include "fastmc/adapt/welford.hpp"
#include "fastmc/core/records.hpp"
#include "fastmc/core/rng.hpp"
#include "fastmc/core/scratch.hpp"
#include "fastmc/core/threads.hpp"
#include "fastmc/hmc/metric.hpp"
#include "fastmc/hmc/nuts.hpp"
#include "fastmc/hmc/static_hmc.hpp"

namespace fastmc {

constexpr int kTransitionNuts = 0;
constexpr int kTransitionStatic = 1;

inline int64_t hmc_work_size(int64_t d, int kind, int64_t max_depth) {
    const int64_t m = kind == kMetricDiag ? d : d * d;
    return 6 * pad4(d) + 3 * pad4(m) + metric_layout_size(kind, d) + nuts_work_size(d, max_depth) +
           static_hmc_work_size(d);
}

// The metric the transitions run with (run_kind, Ar, Fr): A (a dense one in its product layout
// Ap), or ones while a dense A is the identity.
inline void run_metric(int kind, int64_t d, const double* A, const double* F, const double* ones, double* Ap,
                       int& run_kind, const double*& Ar, const double*& Fr) {
    const bool unit = metric_is_identity(kind, d, A);
    run_kind = unit ? kMetricDiag : kind;
    Ar = unit ? ones : kind == kMetricDiag ? A : metric_product_layout(d, A, Ap);
    Fr = unit ? ones : F;
}

// One chain. A_io (d,) or (d, d) in/out: the inverse metric. rng_state (4,) in/out.
// phase (n_warmup,). draws (n_warmup + n_samples, d) and stats (n_warmup + n_samples,): warm-up
// first. work: hmc_work_size, 64-byte aligned (Scratch), as is twork.
template <class Target>
void hmc_chain(const Target& target, const HmcConfig& cfg, const double* x0, const uint8_t* phase, double step0,
               double* A_io, uint64_t* rng_state, double* draws, HmcDraw* stats, ChainInfo& info, double* work,
               double* twork) {
    const int64_t d = target.dim();
    const int kind = static_cast<int>(cfg.metric_kind);
    const int64_t m = kind == kMetricDiag ? d : d * d;
    const int64_t n_warmup = cfg.n_warmup;
    const bool adapt_step = cfg.adapt_step != 0;
    Rng rng(rng_state);
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
    // a dense A is the identity. Plain locals, assigned at window ends: the transitions read
    // run_kind in every leapfrog step, and a variable whose address a lambda holds lives in memory.
    int run_kind = kind;
    const double *Ar = A, *Fr = F;
    for (int64_t i = 0; i < d; ++i) q[i] = x0[i];
    double lp = target.logp_grad(q, g, twork);
    int64_t n_grad = 1, n_w = 0;
    metric_factor(kind, d, A, F);  // validated positive definite in Python
    run_metric(kind, d, A, F, ones, Ap, run_kind, Ar, Fr);
    welford_reset(kind, d, mean, m2, n_w);
    double eps = step0;
    DualAveraging da{cfg.delta, cfg.gamma, cfg.kappa, cfg.t0};
    if (n_warmup > 0 && adapt_step) {
        eps = init_step_size(target, rng, q, g, lp, eps, run_kind, Ar, Fr, tw, twork, n_grad);
        da.restart(std::log(10.0 * eps));
    }
    const int64_t n_total = n_warmup + cfg.n_samples;
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
        const double* prev = t == 0 ? x0 : draws + (t - 1) * d;
        bool moved = false;
        for (int64_t i = 0; i < d; ++i) {
            draws[t * d + i] = q[i];
            moved = moved || q[i] != prev[i];
        }
        HmcDraw& rec = stats[t];
        rec.log_density = lp;
        rec.accept_stat = st.accept_stat;
        rec.energy = st.energy;
        rec.step_size = eps_t;
        rec.tree_depth = st.depth;
        rec.n_leapfrog = st.n_leapfrog;
        rec.divergent = st.divergent ? 1 : 0;
        rec.nonfinite = st.nonfinite ? 1 : 0;
        rec.moved = moved ? 1 : 0;
        publish(&info.n_done, t + 1);
        if (t >= n_warmup) continue;
        if (adapt_step) eps = da.update(st.accept_stat);
        if (phase[t] & 1) welford_add(kind, d, q, mean, m2, n_w, delta);
        if ((phase[t] & 2) && n_w >= 2) {
            welford_metric(kind, d, m2, n_w, A);
            metric_factor(kind, d, A, F);  // regularised sample covariance: positive definite
            run_metric(kind, d, A, F, ones, Ap, run_kind, Ar, Fr);
            welford_reset(kind, d, mean, m2, n_w);
            if (adapt_step) {
                eps = init_step_size(target, rng, q, g, lp, eps, run_kind, Ar, Fr, tw, twork, n_grad);
                da.restart(std::log(10.0 * eps));
            }
        }
        if (t == n_warmup - 1 && adapt_step) eps = da.final_step();
    }
    for (int64_t i = 0; i < m; ++i) A_io[i] = A[i];
    publish(&info.n_done, t);
    info.final_step = eps;
    info.n_grad = n_grad;
    rng.save(rng_state);
}

// All chains on up to n_threads threads: chain c reads x0[c], step0[c], phase, and updates
// A[c] (m,), rng_state[c] (4,), draws[c], stats[c] and info[c].
template <class Target>
void hmc_run(const Target& target, const HmcConfig& cfg, int64_t chains, const double* x0, const uint8_t* phase,
             const double* step0, double* A, uint64_t* rng_state, double* draws, HmcDraw* stats, ChainInfo* info,
             int64_t n_threads) {
    const int64_t d = target.dim(), n = cfg.n_warmup + cfg.n_samples;
    const int kind = static_cast<int>(cfg.metric_kind);
    const int64_t m = kind == kMetricDiag ? d : d * d;
    parallel_chains(chains, n_threads, [&](int64_t c) {
        Scratch work(hmc_work_size(d, kind, cfg.max_depth));
        Scratch twork(target.work_size());
        hmc_chain(target, cfg, x0 + c * d, phase, step0[c], A + c * m, rng_state + 4 * c, draws + c * n * d,
                  stats + c * n, info[c], work.data(), twork.data());
    });
}

}  // namespace fastmc
