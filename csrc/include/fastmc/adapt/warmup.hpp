// The one HMC engine: runs n_warmup + n_samples transitions (NUTS or static HMC) of one chain,
// adapting during the first n_warmup: dual averaging of the step size every iteration, and the
// metric either as Stan does (kAdaptStan: Welford (co)variance of the draws inside the metric
// windows, and at each window's end a new inverse metric, a fresh step-size search and a restarted
// dual averaging) or from draws and gradients (kAdaptFisher: adapt/fisher.hpp, the metric updated
// from a foreground estimate that a background one replaces at each switch). Without warm-up it
// samples with the given step size and metric. hmc_run runs it over all chains.
// Twin: fastmc/_numba/adapt/warmup.py. The schedule comes from fastmc/adaptation.py as one flag
// byte per warm-up iteration (the kPhase bits below).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastmc/adapt/dual_averaging.hpp"
#include "fastmc/adapt/fisher.hpp"
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
constexpr int kAdaptStan = 0;
constexpr int kAdaptFisher = 1;

// The warm-up schedule's bits. Both: the draw (and, kAdaptFisher, its gradient) enters the
// estimates. kAdaptStan: the window ends here (new metric, estimate reset, step-size search).
// kAdaptFisher: the background estimate becomes the foreground one (switch, before the update),
// the metric is set from the foreground estimate (update), the step size is searched anew and its
// dual averaging restarted (search).
constexpr uint8_t kPhaseAdd = 1;
constexpr uint8_t kPhaseWindowEnd = 2;
constexpr uint8_t kPhaseUpdate = 2;
constexpr uint8_t kPhaseSwitch = 4;
constexpr uint8_t kPhaseSearch = 8;

// A chain's whole state after an iteration, flat (doubles), so that a run can continue from it
// exactly: kStateScalars scalars (below), then q, g (d), A (m), the Welford mean (d) and m2 (m),
// and with kAdaptFisher the foreground and background estimates (2 kFisherBlocks d).
constexpr int64_t kStateScalars = 16;
enum StateSlot : int64_t {
    kStateT = 0,  // iterations completed (0: no state, start from x0)
    kStateLp, kStateEps, kStateNGrad, kStateNW, kStateNDiv,
    kStateDaMu, kStateDaSBar, kStateDaXBar, kStateDaCounter,
    kStateRng,  // four generator words, their bits stored as doubles
    kStateNFg = kStateRng + 4, kStateNBg,  // draws in the Fisher estimates
};

inline int64_t fisher_state_size(int64_t d, int adapt) { return adapt == kAdaptFisher ? 2 * kFisherBlocks * d : 0; }

inline int64_t hmc_state_size(int64_t d, int kind, int adapt) {
    const int64_t m = kind == kMetricDiag ? d : d * d;
    return kStateScalars + 3 * d + 2 * m + fisher_state_size(d, adapt);
}

// The state after iteration t - 1 into out (hmc_state_size doubles).
inline void save_state(double* out, int64_t d, int64_t m, int64_t t, double lp, double eps, int64_t n_grad,
                       int64_t n_w, int64_t n_div, const DualAveraging& da, const Rng& rng, const double* q,
                       const double* g, const double* A, const double* mean, const double* m2, const double* fish,
                       int64_t n_fish, int64_t n_fg, int64_t n_bg) {
    out[kStateT] = static_cast<double>(t);
    out[kStateLp] = lp, out[kStateEps] = eps;
    out[kStateNGrad] = static_cast<double>(n_grad), out[kStateNW] = static_cast<double>(n_w);
    out[kStateNDiv] = static_cast<double>(n_div);
    out[kStateDaMu] = da.mu, out[kStateDaSBar] = da.s_bar, out[kStateDaXBar] = da.x_bar;
    out[kStateDaCounter] = da.counter;
    std::memcpy(out + kStateRng, rng.s, sizeof(rng.s));
    out[kStateNFg] = static_cast<double>(n_fg), out[kStateNBg] = static_cast<double>(n_bg);
    double* o = out + kStateScalars;
    for (int64_t i = 0; i < d; ++i) o[i] = q[i], o[d + i] = g[i], o[2 * d + m + i] = mean[i];
    for (int64_t i = 0; i < m; ++i) o[2 * d + i] = A[i], o[3 * d + m + i] = m2[i];
    for (int64_t i = 0; i < n_fish; ++i) o[3 * d + 2 * m + i] = fish[i];
}

inline int64_t hmc_work_size(int64_t d, int kind, int64_t max_depth) {
    const int64_t m = kind == kMetricDiag ? d : d * d;
    return 6 * pad4(d) + 3 * pad4(m) + metric_layout_size(kind, d) + nuts_work_size(d, max_depth) +
           static_hmc_work_size(d) + 2 * kFisherBlocks * d;
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
// first. interrupt: the run's stop flag (threads.hpp). stop_point (d,): where the target failed,
// if it did. work: hmc_work_size, 64-byte aligned (Scratch), as is twork (zeroed: the target keeps
// its failure there).
// state_in (hmc_state_size): a saved state to continue from (state_in[kStateT] > 0; draws and
// stats then hold the rows before it), or zeros. ckpt (2, hmc_state_size): with
// cfg.checkpoint_every > 0, the state after every that many iterations and after the last one,
// alternately in the two rows; info.n_checkpoints counts them (state k in row k % 2), published
// after the row is written, so another thread reads a whole state from the row of the latest.
template <class Target>
void hmc_chain(const Target& target, const HmcConfig& cfg, const int64_t* interrupt, const double* x0,
               const uint8_t* phase, double step0, const double* state_in, double* A_io, uint64_t* rng_state,
               double* draws, HmcDraw* stats, ChainInfo& info, double* stop_point, double* ckpt, double* work,
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
    double* fg = tw + nuts_work_size(d, cfg.max_depth) + static_hmc_work_size(d);  // Fisher estimates
    double* bg = fg + kFisherBlocks * d;
    const bool fisher = cfg.adapt_metric == kAdaptFisher;
    const int64_t n_fish = fisher_state_size(d, static_cast<int>(cfg.adapt_metric));
    int64_t n_fg = 0, n_bg = 0;
    for (int64_t i = 0; i < d; ++i) ones[i] = 1.0;
    // the metric the transitions run with: A (a dense one in its product layout), or ones while
    // a dense A is the identity. Plain locals, assigned at window ends: the transitions read
    // run_kind in every leapfrog step, and a variable whose address a lambda holds lives in memory.
    int run_kind = kind;
    const double *Ar = A, *Fr = F;
    const int64_t ns = hmc_state_size(d, kind, static_cast<int>(cfg.adapt_metric));
    double lp, eps;
    int64_t n_grad, n_w, t, n_div;
    DualAveraging da{cfg.delta, cfg.gamma, cfg.kappa, cfg.t0};
    if (state_in[kStateT] > 0.0) {  // continue a saved run
        const double* in = state_in + kStateScalars;
        t = static_cast<int64_t>(state_in[kStateT]);
        lp = state_in[kStateLp], eps = state_in[kStateEps];
        n_grad = static_cast<int64_t>(state_in[kStateNGrad]), n_w = static_cast<int64_t>(state_in[kStateNW]);
        n_div = static_cast<int64_t>(state_in[kStateNDiv]);
        da.mu = state_in[kStateDaMu], da.s_bar = state_in[kStateDaSBar], da.x_bar = state_in[kStateDaXBar];
        da.counter = state_in[kStateDaCounter];
        std::memcpy(rng.s, state_in + kStateRng, sizeof(rng.s));
        for (int64_t i = 0; i < d; ++i) q[i] = in[i], g[i] = in[d + i], mean[i] = in[2 * d + m + i];
        for (int64_t i = 0; i < m; ++i) A[i] = in[2 * d + i], m2[i] = in[3 * d + m + i];
        n_fg = static_cast<int64_t>(state_in[kStateNFg]), n_bg = static_cast<int64_t>(state_in[kStateNBg]);
        for (int64_t i = 0; i < n_fish; ++i) fg[i] = in[3 * d + 2 * m + i];
        metric_factor(kind, d, A, F);
        run_metric(kind, d, A, F, ones, Ap, run_kind, Ar, Fr);
    } else {
        t = 0, n_div = 0, n_grad = 1, n_w = 0;
        for (int64_t i = 0; i < m; ++i) A[i] = A_io[i];
        for (int64_t i = 0; i < d; ++i) q[i] = x0[i];
        lp = target.logp_grad(q, g, twork);
        if (fisher && cfg.metric_from_grad) fisher_from_gradient(d, g, A);
        metric_factor(kind, d, A, F);  // validated positive definite in Python
        run_metric(kind, d, A, F, ones, Ap, run_kind, Ar, Fr);
        welford_reset(kind, d, mean, m2, n_w);
        fisher_reset(d, fg, n_fg);
        fisher_reset(d, bg, n_bg);
        eps = step0;
        if (n_warmup > 0 && adapt_step) {
            eps = init_step_size(target, rng, q, g, lp, eps, run_kind, Ar, Fr, tw, twork, n_grad);
            da.restart(std::log(10.0 * eps));
        }
    }
    const int64_t n_total = n_warmup + cfg.n_samples;
    int64_t n_ckpt = 0;
    // The chain ends before an iteration when the run is interrupted, and without recording the
    // transition in which its target failed (a C function's negative return, a Python exception):
    // draws [0, t) are always the first t of the full run.
    int64_t status = kChainDone;
    for (; t < n_total; ++t) {
        if (interrupted(interrupt)) {
            status = kChainInterrupted;
            break;
        }
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
        if (target.failed(twork)) {
            status = kChainTargetStop;
            break;
        }
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
        rec.energy_error = st.energy_error;
        rec.max_energy_error = st.max_energy_error;
        rec.step_size = eps_t;
        rec.step_size_bar = eps;  // the nominal step; replaced below while dual averaging adapts it
        rec.tree_depth = st.depth;
        rec.n_leapfrog = st.n_leapfrog;
        rec.divergent = st.divergent ? 1 : 0;
        rec.nonfinite = st.nonfinite ? 1 : 0;
        rec.moved = moved ? 1 : 0;
        if (st.divergent) publish(&info.n_divergent, ++n_div);
        publish(&info.step_size, eps_t);
        publish(&info.n_done, t + 1);
        if (t < n_warmup) {
            if (adapt_step) {
                eps = da.update(st.accept_stat);
                rec.step_size_bar = da.final_step();
            }
            if (fisher) {
                const uint8_t ph = phase[t];
                if (ph & kPhaseAdd) fisher_add(d, q, g, fg, n_fg), fisher_add(d, q, g, bg, n_bg);
                if (ph & kPhaseSwitch) {
                    for (int64_t i = 0; i < kFisherBlocks * d; ++i) fg[i] = bg[i];
                    n_fg = n_bg;
                    fisher_reset(d, bg, n_bg);
                }
                if ((ph & kPhaseUpdate) && n_fg >= 2) {
                    fisher_metric(d, fg, A);
                    metric_factor(kind, d, A, F);
                    run_metric(kind, d, A, F, ones, Ap, run_kind, Ar, Fr);
                }
                if (adapt_step && (ph & kPhaseSearch)) {
                    eps = init_step_size(target, rng, q, g, lp, eps, run_kind, Ar, Fr, tw, twork, n_grad);
                    da.restart(std::log(10.0 * eps));
                }
            } else if (phase[t] & kPhaseAdd) {
                welford_add(kind, d, q, mean, m2, n_w, delta);
            }
            if (!fisher && (phase[t] & kPhaseWindowEnd) && n_w >= 2) {
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
        if (cfg.checkpoint_every > 0 && ((t + 1) % cfg.checkpoint_every == 0 || t + 1 == n_total)) {
            save_state(ckpt + (n_ckpt % 2) * ns, d, m, t + 1, lp, eps, n_grad, n_w, n_div, da, rng, q, g, A, mean, m2, fg,
                       n_fish, n_fg, n_bg);
            __atomic_store_n(&info.n_checkpoints, ++n_ckpt, __ATOMIC_RELEASE);
        }
    }
    if (status == kChainInterrupted && cfg.checkpoint_every > 0 && t > 0) {  // resumable from here
        save_state(ckpt + (n_ckpt % 2) * ns, d, m, t, lp, eps, n_grad, n_w, n_div, da, rng, q, g, A, mean, m2, fg, n_fish,
                   n_fg, n_bg);
        __atomic_store_n(&info.n_checkpoints, ++n_ckpt, __ATOMIC_RELEASE);
    }
    for (int64_t i = 0; i < m; ++i) A_io[i] = A[i];
    publish(&info.n_done, t);
    info.status = status;
    info.target_code = target.failure(twork, stop_point);
    info.final_step = eps;
    info.n_grad = n_grad;
    rng.save(rng_state);
}

// All chains on up to n_threads threads: chain c reads x0[c], step0[c], state_in[c], phase, and
// updates A[c] (m,), rng_state[c] (4,), draws[c], stats[c], info[c], stop_point[c] (d,) and
// ckpt[c] (2, hmc_state_size).
template <class Target>
void hmc_run(const Target& target, const HmcConfig& cfg, const int64_t* interrupt, int64_t chains, const double* x0,
             const uint8_t* phase, const double* step0, const double* state_in, double* A, uint64_t* rng_state,
             double* draws, HmcDraw* stats, ChainInfo* info, double* stop_point, double* ckpt, int64_t n_threads) {
    const int64_t d = target.dim(), n = cfg.n_warmup + cfg.n_samples;
    const int kind = static_cast<int>(cfg.metric_kind);
    const int64_t m = kind == kMetricDiag ? d : d * d;
    parallel_chains(chains, n_threads, [&](int64_t c) {
        Scratch work(hmc_work_size(d, kind, cfg.max_depth));
        Scratch twork(target.work_size());
        const int64_t ns = hmc_state_size(d, kind, static_cast<int>(cfg.adapt_metric));
        hmc_chain(target, cfg, interrupt, x0 + c * d, phase, step0[c], state_in + c * ns, A + c * m, rng_state + 4 * c,
                  draws + c * n * d, stats + c * n, info[c], stop_point + c * d, ckpt + 2 * c * ns, work.data(),
                  twork.data());
    });
}

}  // namespace fastmc
