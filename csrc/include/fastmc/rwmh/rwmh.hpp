// Random-walk Metropolis-Hastings, one chain, with optional warm-up. Twin: fastmc/_numba/rwmh/rwmh.py.
// Proposal y = x + lambda * S^(1/2) eps, eps ~ N(0, I): S^(1/2) is a per-dimension scale
// (prop_kind 0) or the lower Cholesky factor of a full proposal covariance, passed transposed
// (prop_kind 1). Target pi(x)^(1/T): accept when u < exp((log pi(y) - log pi(x)) / T).
// Warm-up (the first n_warmup iterations, written before the kept ones): Robbins-Monro on
// log lambda toward the target acceptance with gain m^-0.6 (m counts iterations of the current
// phase); with adapt_cov, at half of the warm-up the proposal becomes the Cholesky factor of the
// regularised covariance of the draws of the second quarter, lambda restarts at 2.38/sqrt(d).
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastmc/adapt/welford.hpp"
#include "fastmc/core/inline.hpp"
#include "fastmc/core/records.hpp"
#include "fastmc/core/rng.hpp"
#include "fastmc/core/scratch.hpp"
#include "fastmc/core/threads.hpp"
#include "fastmc/hmc/metric.hpp"

namespace fastmc {

inline int64_t rwmh_work_size(int64_t d) { return 6 * d + 4 * d * d; }

// One chain. prop (d,) or (d, d) as prop_kind says; rng_state (4,) in/out; draws (n_total, d) and
// stats (n_total,), warm-up first; adapted (d * d): the final proposal factor, scaled by lambda,
// in the layout of info.adapted_kind. interrupt and stop_point (d,) as in hmc_chain (warmup.hpp).
// work: rwmh_work_size(d) + target.work_size(), zeroed.
template <class Target>
void rwmh_chain(const Target& target, const RwmhConfig& cfg, const int64_t* interrupt, const double* x0,
                const double* prop, uint64_t* rng_state, double* draws, RwmhDraw* stats, double* adapted,
                ChainInfo& info, double* stop_point, double* work) {
    const int64_t d = target.dim();
    const int64_t n_warmup = cfg.n_warmup, n = cfg.n_samples;
    const double inv_temp = cfg.inv_temp;
    Rng rng(rng_state);
    double* x = work;
    double* y = x + d;
    double* eps = y + d;
    double* s = eps + d;
    double* mean = s + d;
    double* delta = mean + d;
    double* L = delta + d;      // current proposal factor (d or d*d used)
    double* m2 = L + d * d;
    double* A = m2 + d * d;
    double* F = A + d * d;
    double* twork = F + d * d;
    int kind = static_cast<int>(cfg.prop_kind);
    for (int64_t i = 0; i < (kind == 0 ? d : d * d); ++i) L[i] = prop[i];
    for (int64_t i = 0; i < d; ++i) x[i] = x0[i];
    double lp = target.logp(x, twork);
    double log_lam = 0.0, lam = 1.0;
    int64_t m = 0, wn = 0;  // iterations in the adaptation phase; Welford count
    const int64_t half = n_warmup / 2, quarter = n_warmup / 4;
    if (cfg.adapt_cov) welford_reset(kMetricDense, d, mean, m2, wn);
    int64_t nonfinite = 0, t = 0, status = kChainDone;
    const int64_t total = n_warmup + n;
    // One iteration; Warm selects the adaptation at compile time, so the sampling loop carries
    // none of the warm-up's code. Returns false when the chain stops (status says why) without
    // recording the iteration.
    auto iterate = [&](auto warm) FASTMC_LAMBDA_INLINE -> bool {
        constexpr bool Warm = decltype(warm)::value;
        if (interrupted(interrupt)) {
            status = kChainInterrupted;
            return false;
        }
        for (int64_t i = 0; i < d; ++i) eps[i] = rng.normal();
        if (kind == 0) {
            if (lam == 1.0) {  // no warm-up: 1.0 * s == s, so this only skips a multiply
                for (int64_t i = 0; i < d; ++i) y[i] = x[i] + L[i] * eps[i];
            } else {
                for (int64_t i = 0; i < d; ++i) y[i] = x[i] + lam * (L[i] * eps[i]);
            }
        } else {
            for (int64_t i = 0; i < d; ++i) s[i] = 0.0;
            for (int64_t j = 0; j < d; ++j) {
                const double ej = eps[j];
                const double* col = L + j * d;  // column j of the lower factor, zero above the diagonal
                for (int64_t i = j; i < d; ++i) s[i] = std::fma(col[i], ej, s[i]);
            }
            for (int64_t i = 0; i < d; ++i) y[i] = x[i] + lam * s[i];
        }
        const double lpy = target.logp(y, twork);
        if (target.failed(twork)) {
            status = kChainTargetStop;
            return false;
        }
        const double u = rng.uniform();
        bool acc = false;
        double alpha = 0.0;
        if (std::isfinite(lpy)) {
            const double dl = (lpy - lp) * inv_temp;
            alpha = dl >= 0.0 ? 1.0 : std::exp(dl);
            acc = dl >= 0.0 || u < alpha;
        } else {
            ++nonfinite;
        }
        if (acc) {
            for (int64_t i = 0; i < d; ++i) x[i] = y[i];
            lp = lpy;
        }
        double* row = draws + t * d;
        for (int64_t i = 0; i < d; ++i) row[i] = x[i];
        stats[t].log_density = lp;
        stats[t].accepted = acc ? 1 : 0;
        publish(&info.n_done, t + 1);
        if constexpr (Warm) {
            if (cfg.adapt_scale) {
                ++m;
                log_lam += (alpha - cfg.target_accept) / std::pow(static_cast<double>(m), 0.6);
                lam = std::exp(log_lam);
            }
            if (cfg.adapt_cov && t >= quarter && t < half) welford_add(kMetricDense, d, x, mean, m2, wn, delta);
            if (cfg.adapt_cov && t + 1 == half && wn >= 2) {
                welford_metric(kMetricDense, d, m2, wn, A);
                if (metric_factor(kMetricDense, d, A, F)) {
                    for (int64_t j = 0; j < d; ++j)
                        for (int64_t i = 0; i < d; ++i) L[j * d + i] = F[i * d + j];  // transposed
                    kind = 1;
                    log_lam = std::log(2.38 / std::sqrt(static_cast<double>(d)));
                    lam = std::exp(log_lam);
                    m = 0;
                }
            }
        }
        return true;
    };
    bool running = true;
    for (; running && t < n_warmup; ++t) running = iterate(std::true_type{});
    for (; running && t < total; ++t) running = iterate(std::false_type{});
    if (!running) --t;  // the iteration that stopped did not complete
    for (int64_t i = 0; i < (kind == 0 ? d : d * d); ++i) adapted[i] = lam * L[i];
    info.adapted_kind = kind;
    info.n_nonfinite = nonfinite;
    info.status = status;
    info.target_code = target.failure(twork, stop_point);
    publish(&info.n_done, t);
    rng.save(rng_state);
}

// All chains on up to n_threads threads: chain c reads x0[c] and updates rng_state[c] (4,),
// draws[c], stats[c], adapted[c] (d * d), info[c] and stop_point[c] (d,).
template <class Target>
void rwmh_run(const Target& target, const RwmhConfig& cfg, const int64_t* interrupt, int64_t chains,
              const double* x0, const double* prop, uint64_t* rng_state, double* draws, RwmhDraw* stats,
              double* adapted, ChainInfo* info, double* stop_point, int64_t n_threads) {
    const int64_t d = target.dim(), n = cfg.n_warmup + cfg.n_samples;
    parallel_chains(chains, n_threads, [&](int64_t c) {
        Scratch work(rwmh_work_size(d) + target.work_size());
        rwmh_chain(target, cfg, interrupt, x0 + c * d, prop, rng_state + 4 * c, draws + c * n * d, stats + c * n,
                   adapted + c * d * d, info[c], stop_point + c * d, work.data());
    });
}

}  // namespace fastmc
