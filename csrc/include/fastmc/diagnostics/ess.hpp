// Effective sample size (Geyer's initial monotone sequence over chain-averaged autocovariances,
// with the between-chain variance; Vehtari et al. 2021, eqs. 10-11) and the basic R-hat.
// Twin: fastmc/_numba/diagnostics/ess.py.  Inputs are (chains, draws) blocks; splitting, ranking and folding
// are done by the caller, so one kernel serves every ESS method.
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmc/diagnostics/autocov.hpp"
#include "fastmc/diagnostics/threads.hpp"

namespace fastmc {

constexpr double kNeedFFT = -1.0;  // returned when more lags than allowed would be needed

// acm[0..n_lags): chain-averaged autocovariances (divisor n).  Returns tau, or kNeedFFT when
// the truncation point lies beyond n_lags.  rho: scratch of n_lags + 2 doubles.
inline double geyer_tau(const double* acm, int64_t n_lags, int64_t n, double mean_var,
                        double var_plus, double* rho) {
    for (int64_t i = 0; i < n_lags + 2; ++i) rho[i] = 0.0;
    double even = 1.0;
    double odd = 1.0 - (mean_var - acm[1]) / var_plus;
    rho[0] = even;
    rho[1] = odd;
    int64_t t = 1;
    // initial positive sequence: sum pairs while their sum stays positive
    while (t < n - 3 && (even + odd) > 0.0) {
        if (t + 2 >= n_lags) return kNeedFFT;
        even = 1.0 - (mean_var - acm[t + 1]) / var_plus;
        odd = 1.0 - (mean_var - acm[t + 2]) / var_plus;
        if ((even + odd) >= 0.0) {
            rho[t + 1] = even;
            rho[t + 2] = odd;
        }
        t += 2;
    }
    const int64_t max_t = t - 2;
    if (even > 0.0) rho[max_t + 1] = even;  // the last positive even lag still carries information
    // initial monotone sequence: pair sums may not increase
    for (int64_t s = 1; s <= max_t - 2; s += 2) {
        if (rho[s + 1] + rho[s + 2] > rho[s - 1] + rho[s]) {
            rho[s + 1] = (rho[s - 1] + rho[s]) / 2.0;
            rho[s + 2] = rho[s + 1];
        }
    }
    double sum = 0.0;
    for (int64_t s = 0; s <= max_t; ++s) sum += rho[s];
    const double tail = (max_t + 1 < n) ? rho[max_t + 1] : 0.0;
    const int64_t last = (max_t + 1 > 1) ? max_t + 1 : 1;
    for (int64_t s = 0; s <= last; ++s)
        if (std::isnan(rho[s])) return NAN;
    return -1.0 + 2.0 * sum + tail;
}

// ESS from tau with the N log10 N cap.
inline double ess_from_tau(double tau, int64_t n_total, bool relative) {
    if (std::isnan(tau)) return NAN;
    const double N = static_cast<double>(n_total);
    const double floor_tau = 1.0 / std::log10(N);
    if (tau < floor_tau) tau = floor_tau;
    return (relative ? 1.0 : N) / tau;
}

// Variance terms shared by both paths.  chain_mean (m,), acm0 = chain-averaged lag-0 autocovariance.
inline void ess_variances(const double* chain_mean, int64_t m, int64_t n, double acm0,
                          double* mean_var, double* var_plus) {
    const double nd = static_cast<double>(n);
    *mean_var = acm0 * nd / (nd - 1.0);
    double vp = *mean_var * (nd - 1.0) / nd;
    if (m > 1) {
        double mu = 0.0;
        for (int64_t c = 0; c < m; ++c) mu += chain_mean[c];
        mu /= static_cast<double>(m);
        double ss = 0.0;
        for (int64_t c = 0; c < m; ++c) ss += (chain_mean[c] - mu) * (chain_mean[c] - mu);
        vp += ss / static_cast<double>(m - 1);
    }
    *var_plus = vp;
}

// FFT path: acm (n,) chain-averaged autocovariances computed by the caller.
inline double ess_from_autocov(const double* acm, const double* chain_mean, int64_t m, int64_t n,
                               bool relative, double* rho /* n + 2 */) {
    double mean_var, var_plus;
    ess_variances(chain_mean, m, n, acm[0], &mean_var, &var_plus);
    return ess_from_tau(geyer_tau(acm, n, n, mean_var, var_plus, rho), m * n, relative);
}

// What the ESS is of: g(x) for kind 0 identity, 1 indicator x <= a, 2 (x - a)^2, 3 |x - a|,
// 4 indicator a <= x <= b.  Transforming while copying saves the caller a pass over the draws.
enum EssKind : int { kIdentity = 0, kBelow = 1, kSquareDev = 2, kAbsDev = 3, kInside = 4 };

inline double ess_transform(double v, int kind, double a, double b) {
    switch (kind) {
        case kBelow: return v <= a ? 1.0 : 0.0;
        case kSquareDev: return (v - a) * (v - a);
        case kAbsDev: return std::fabs(v - a);
        case kInside: return (a <= v && v <= b) ? 1.0 : 0.0;
        default: return v;
    }
}

// Per chain of the direct path: cc[i] = g(xc[i]) - mean, and the chain's statistics st[0..3) =
// (any NaN draw, min g, max g) and *mean.
inline void ess_prepare_chain(const double* xc, int64_t n, int kind, double a, double b, double* cc,
                              double* st, double* mean) {
    bool has_nan = false;
    double lo = ess_transform(xc[0], kind, a, b), hi = lo, s = 0.0;
    for (int64_t i = 0; i < n; ++i) {  // one pass: NaN check, transform, range, sum
        if (std::isnan(xc[i])) has_nan = true;
        const double v = ess_transform(xc[i], kind, a, b);
        cc[i] = v;
        s += v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    const double mu = s / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) cc[i] = cc[i] - mu;
    st[0] = has_nan ? 1.0 : 0.0;
    st[1] = lo;
    st[2] = hi;
    *mean = mu;
}

constexpr double kNotDegenerate = -2.0;

// From the chains' statistics st (m, 3): NaN if a chain has a NaN draw, the constant-variable ESS
// if the range of g is below 1e-15, else kNotDegenerate.
inline double ess_degenerate(const double* st, int64_t m, int64_t N, bool relative) {
    bool has_nan = false;
    double lo = st[1], hi = st[2];
    for (int64_t c = 0; c < m; ++c) {
        if (st[3 * c] != 0.0) has_nan = true;
        if (st[3 * c + 1] < lo) lo = st[3 * c + 1];
        if (st[3 * c + 2] > hi) hi = st[3 * c + 2];
    }
    if (has_nan) return NAN;
    if (hi - lo < 1e-15) return relative ? 1.0 : static_cast<double>(N);  // constant: every draw counts
    return kNotDegenerate;
}

// acm[have, want) = chain average of cov[c * stride + t - have] / n, summed in chain order.
inline void ess_add_lags(const double* cov, int64_t stride, int64_t m, int64_t n, int64_t have,
                         int64_t want, double* acm) {
    for (int64_t t = have; t < want; ++t) acm[t] = 0.0;
    for (int64_t c = 0; c < m; ++c)
        for (int64_t t = have; t < want; ++t) acm[t] += cov[c * stride + t - have] / static_cast<double>(n);
    for (int64_t t = have; t < want; ++t) acm[t] /= static_cast<double>(m);
}

// Direct path for one (m, n) block, n >= 2, its chains spread over T workers (a single variable
// uses every core; per-chain sums are combined in chain order, so T never changes the result; the
// Numba twin has this as a separate kernel, ess_direct_one_chains).  Computes lags a block of
// kLagBlock at a time until Geyer's sequence truncates (fixed blocks rather than doubling the lag
// count: a doubled count overshoots the truncation by up to half its lags); returns kNeedFFT if
// that needs more than max_lag lags.
// Scratch: centred (m*n), acm (max_lag + 3), rho (max_lag + 3), cov (m * (max_lag + 3)),
// chain_mean (m), st (3 m).
inline double ess_direct_one(const double* x, int64_t m, int64_t n, int64_t max_lag, bool relative,
                             int kind, double a, double b, double* centred, double* acm, double* rho,
                             double* cov, double* chain_mean, double* st, int T) {
    const int64_t N = m * n, stride = max_lag + 3;
    dynamic_parallel(m, T, [&](int, int64_t c) {
        ess_prepare_chain(x + c * n, n, kind, a, b, centred + c * n, st + 3 * c, chain_mean + c);
    });
    const double d = ess_degenerate(st, m, N, relative);
    if (d != kNotDegenerate) return d;
    const int64_t lag_cap = (max_lag + 1 < n) ? max_lag + 1 : n;  // lags 0 .. lag_cap-1
    int64_t have = 0;
    int64_t want = (kLagBlock < lag_cap) ? kLagBlock : lag_cap;
    double mean_var = 0.0, var_plus = 0.0;
    for (;;) {
        dynamic_parallel(m, T, [&](int, int64_t c) {
            autocov_lags_centered(centred + c * n, n, have, want, cov + c * stride);
        });
        ess_add_lags(cov, stride, m, n, have, want, acm);
        if (have == 0) ess_variances(chain_mean, m, n, acm[0], &mean_var, &var_plus);
        have = want;
        const double tau = geyer_tau(acm, have, n, mean_var, var_plus, rho);
        if (tau != kNeedFFT) return ess_from_tau(tau, N, relative);
        if (have >= lag_cap) return kNeedFFT;
        want = (have + kLagBlock < lag_cap) ? have + kLagBlock : lag_cap;
    }
}

// Doubles of scratch per worker of ess_direct (without the copy of the draws when in place).
inline int64_t ess_scratch_per_worker(int64_t m, int64_t n, int64_t max_lag, bool in_place = false) {
    return (in_place ? 0 : m * n) + (m + 2) * (max_lag + 3) + 4 * m;
}

constexpr int64_t kChainParallelMin = int64_t(1) << 16;  // draws per variable worth the thread starts

// Fewer variables than threads and enough draws: the chains of each variable are spread instead.
inline bool ess_by_chain(int64_t n_var, int64_t m, int64_t n, int n_threads) {
    return n_var < n_threads && m * n >= kChainParallelMin;
}

// Copies of the per-worker scratch ess_direct needs.
inline int64_t ess_scratch_copies(int64_t n_var, int64_t m, int64_t n, int n_threads) {
    if (ess_by_chain(n_var, m, n, n_threads)) return 1;
    const int64_t T = n_threads < 1 ? 1 : n_threads;
    return n_var < T ? (n_var < 1 ? 1 : n_var) : T;
}

// After an in-place ESS that needs the FFT: add the chain means back, so that the caller's fallback
// sees g(x) again (to within an ulp).
inline void ess_restore(double* centred, int64_t m, int64_t n, const double* chain_mean) {
    for (int64_t c = 0; c < m; ++c)
        for (int64_t i = 0; i < n; ++i) centred[c * n + i] += chain_mean[c];
}

// Batch: x (n_var, m, n), a and b (n_var,) transform parameters.  out[v] = ESS of g(x[v]), NaN when
// a draw is NaN, kNeedFFT when the caller must finish variable v with an FFT.  One worker per
// variable, or (ess_by_chain) the variables in turn, each with its chains on all n_threads
// workers.  x_in_place: x itself (writable) when the caller lets the kernel overwrite the draws
// with g(x) - chain mean, which saves their copy (for temporaries such as rank-normalised
// draws); a variable left to the FFT gets g(x) back (ess_restore).
// scratch: ess_scratch_copies * ess_scratch_per_worker(..., x_in_place != null) doubles.
inline void ess_direct(const double* x, int64_t n_var, int64_t m, int64_t n, int64_t max_lag,
                       bool relative, int kind, const double* a, const double* b, double* out,
                       double* scratch, int n_threads, double* x_in_place = nullptr) {
    const int64_t per = ess_scratch_per_worker(m, n, max_lag, x_in_place != nullptr), L = max_lag + 3;
    auto one = [&](double* s, int64_t v, int T) {
        double* centred = x_in_place ? x_in_place + v * m * n : s;
        double* acm = x_in_place ? s : centred + m * n;
        double* rho = acm + L;
        double* cov = rho + L;
        double* mean = cov + m * L;
        double* st = mean + m;
        out[v] = ess_direct_one(x + v * m * n, m, n, max_lag, relative, kind, a[v], b[v], centred,
                                acm, rho, cov, mean, st, T);
        if (x_in_place && out[v] == kNeedFFT) ess_restore(centred, m, n, mean);
    };
    if (ess_by_chain(n_var, m, n, n_threads)) {
        for (int64_t v = 0; v < n_var; ++v) one(scratch, v, n_threads);
        return;
    }
    dynamic_parallel(n_var, n_threads, [&](int w, int64_t v) { one(scratch + w * per, v, 1); });
}

// Moments for the summary, x (n_var, N): out[v] = (mean, sum (x - mean)^2, sum (x - mean)^4).
inline void moments(const double* x, int64_t n_var, int64_t N, double* out, int n_threads) {
    dynamic_parallel(n_var, n_threads, [&](int, int64_t v) {
        const double* xv = x + v * N;
        double s = 0.0;
        for (int64_t i = 0; i < N; ++i) s += xv[i];
        const double mu = s / static_cast<double>(N);
        double s2 = 0.0, s4 = 0.0;
        for (int64_t i = 0; i < N; ++i) {
            const double c2 = (xv[i] - mu) * (xv[i] - mu);
            s2 += c2;
            s4 += c2 * c2;
        }
        out[3 * v] = mu;
        out[3 * v + 1] = s2;
        out[3 * v + 2] = s4;
    });
}

// Basic R-hat of one (m, n) block (Gelman-Rubin with the (n-1)/n weighting); NaN when m < 2.
inline double rhat_one(const double* x, int64_t m, int64_t n, double* chain_mean, double* chain_var) {
    const double nd = static_cast<double>(n);
    for (int64_t c = 0; c < m; ++c) {
        const double* xc = x + c * n;
        double s = 0.0;
        for (int64_t i = 0; i < n; ++i) s += xc[i];
        const double mu = s / nd;
        double ss = 0.0;
        for (int64_t i = 0; i < n; ++i) ss += (xc[i] - mu) * (xc[i] - mu);
        chain_mean[c] = mu;
        chain_var[c] = ss / (nd - 1.0);
    }
    double mu = 0.0, w = 0.0;
    for (int64_t c = 0; c < m; ++c) {
        mu += chain_mean[c];
        w += chain_var[c];
    }
    mu /= static_cast<double>(m);
    w /= static_cast<double>(m);
    double ss = 0.0;
    for (int64_t c = 0; c < m; ++c) ss += (chain_mean[c] - mu) * (chain_mean[c] - mu);
    const double b = nd * ss / static_cast<double>(m - 1);
    return std::sqrt((b / w + nd - 1.0) / nd);
}

inline void rhat(const double* x, int64_t n_var, int64_t m, int64_t n, double* out,
                 double* scratch /* T * 2m */, int n_threads) {
    dynamic_parallel(n_var, n_threads, [&](int w, int64_t v) {
        double* s = scratch + w * 2 * m;
        out[v] = rhat_one(x + v * m * n, m, n, s, s + m);
    });
}

}  // namespace fastmc
