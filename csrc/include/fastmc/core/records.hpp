// The settings and outputs of the samplers as named records, shared with the Python layer: each
// struct has a NumPy twin in fastmc/_schema.py (same fields, same order, aligned as C lays them
// out), which allocates the outputs once; the bindings check the item sizes and cast. The Numba
// twins read and write the same records by field name. A new per-draw statistic is one field
// here, one in _schema.py, and the line of each twin that fills it.
#pragma once
#include <cstdint>

namespace fastmc {

// One HMC run (static or NUTS, with or without warm-up); NumPy twin: HMC_CONFIG.
struct HmcConfig {
    int64_t n_warmup, n_samples;
    int64_t transition;    // kTransitionNuts or kTransitionStatic
    int64_t max_depth;     // NUTS
    int64_t n_leapfrog;    // static HMC: leapfrog steps per transition, unless integration_time > 0
    int64_t max_leapfrog;  // static HMC with integration_time: the cap on the steps
    int64_t metric_kind;   // kMetricDiag or kMetricDense
    int64_t adapt_step;    // dual averaging of the step size during warm-up (0 or 1)
    double integration_time;  // static HMC: > 0 for static_hmc_steps(integration_time, eps, max_leapfrog)
                              // steps at each transition's eps; 0 for n_leapfrog steps
    double jitter;            // Stan's stepsize_jitter in [0, 1]: each transition runs at
                              // eps (1 + jitter (2u - 1)), u uniform; 0 draws nothing
    double delta, gamma, kappa, t0;  // dual averaging: target acceptance and the three constants
    double inv_temp;                 // sample pi^inv_temp (the binding wraps the target in Tempered)
    int64_t checkpoint_every;        // save the chain's state every this many iterations (0: never)
    int64_t adapt_metric;  // kAdaptStan: Welford windows of the draws; kAdaptFisher: the diagonal from
                           // draws and gradients (adapt/fisher.hpp)
    int64_t metric_from_grad;  // kAdaptFisher: the first metric from the start point's gradient (0 or 1)
};

// One HMC iteration; NumPy twin: HMC_DRAW.
struct HmcDraw {
    double log_density;  // of the (tempered) target the chain runs on
    double accept_stat;
    double energy;
    double energy_error;      // TransitionStats
    double max_energy_error;
    double step_size;    // the step this transition used
    double step_size_bar;  // warm-up: dual averaging's averaged step so far; then the step kept
    int64_t tree_depth;
    int64_t n_leapfrog;
    uint8_t divergent;
    uint8_t nonfinite;   // the trajectory reached a non-finite energy
    uint8_t moved;       // the draw differs from the previous one (x0 before the first)
};

// One RWMH run; NumPy twin: RWMH_CONFIG.
struct RwmhConfig {
    int64_t n_warmup, n_samples;
    int64_t prop_kind;    // 0: per-dimension scales, 1: transposed lower Cholesky factor
    int64_t adapt_scale;  // Robbins-Monro on the proposal scale during warm-up (0 or 1)
    int64_t adapt_cov;    // the proposal covariance from the warm-up's draws (0 or 1)
    double target_accept;
    double inv_temp;
};

// One RWMH iteration; NumPy twin: RWMH_DRAW.
struct RwmhDraw {
    double log_density;
    uint8_t accepted;
};

// How a chain ended (ChainInfo.status).
constexpr int64_t kChainDone = 0;         // every iteration ran
constexpr int64_t kChainInterrupted = 1;  // the run was asked to stop (Ctrl-C, a time limit)
constexpr int64_t kChainTargetStop = 2;   // the target asked to stop or failed (target_code says how)

// One chain's totals, every sampler; NumPy twin: CHAIN_INFO. n_done, n_divergent and step_size
// are published after every iteration (relaxed stores), so another thread can show a run's progress.
struct ChainInfo {
    int64_t n_done;        // iterations completed (all unless the chain was stopped)
    int64_t n_grad;        // gradient evaluations, step-size searches included (HMC)
    int64_t n_nonfinite;   // proposals rejected for a non-finite log density (RWMH)
    int64_t adapted_kind;  // RWMH: the kind of the final proposal factor
    int64_t n_divergent;   // HMC: divergent transitions so far, warm-up included
    int64_t status;        // kChainDone, kChainInterrupted or kChainTargetStop
    int64_t target_code;   // the target's negative return code that stopped the chain (0 if none)
    int64_t n_checkpoints; // chain states saved so far (published with release order after each)
    double final_step;     // HMC: the step size after warm-up
    double step_size;      // HMC: the step size of the latest transition
};

}  // namespace fastmc
