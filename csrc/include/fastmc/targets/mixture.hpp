// Gaussian mixture log density and gradient. Twin: fastmc/_numba/targets/mixture.py.
// p(x) = sum_k exp(a_k), a_k = logc_k - 0.5 (x - mu_k)^T P_k (x - mu_k), with P_k the symmetric
// precision and logc_k = log w_k - 0.5 log det(2 pi Sigma_k) precomputed in Python.
// D > 0 fixes the dimension at compile time (small d), D = 0 reads it at run time; the
// arithmetic, and so every result, is the same either way.
#pragma once
#include "fastmc/core/inline.hpp"
#include <cmath>
#include <cstdint>

#include "fastmc/core/linalg.hpp"
#include "fastmc/core/scratch.hpp"

namespace fastmc {

template <int D = 0>
struct Mixture {
    int64_t K, d_rt;
    const double* logc;   // (K,)
    const double* means;  // (K, d)
    const double* prec;   // (K, d, d), symmetric
    const double* panels; // (K, sym_panel_size(d)): prec in the panel layout, used for d >= kSymPanelMinDim

    int64_t dim() const { return D > 0 ? D : d_rt; }
    // A mixture never fails; the sampler's check compiles away.
    static constexpr bool failed(const double*) { return false; }
    static constexpr int64_t failure(const double*, double*) { return 0; }
    // work (64-byte aligned, Scratch): K arrays z_k = P_k delta_k, delta, the K component terms;
    // arrays start every s = pad4(d) doubles
    int64_t work_size() const { return (K + 1) * pad4(dim()) + K; }

    // a_k into work[(K + 1) s + k], z_k = P_k (x - mu_k) into work[k s ...]. x, grad and work are
    // never the same memory (restrict): without that promise the compiler guards every loop with
    // run-time overlap checks, in whatever context the target is inlined into.
    inline void components(const double* __restrict x, double* __restrict work) const {
        const int64_t d = dim(), s = pad4(d);
        double* delta = work + K * s;
        double* a = delta + s;
        for (int64_t k = 0; k < K; ++k) {
            const double* mu = means + k * d;
            double* zk = work + k * s;
            for (int64_t i = 0; i < d; ++i) delta[i] = x[i] - mu[i];
            if (D == 0 && d >= kSymPanelMinDim)
                symv_panel(panels + k * sym_panel_size(d), delta, zk, d);
            else
                symv<D>(prec + k * d * d, delta, zk, d);
            a[k] = logc[k] - 0.5 * dot4(delta, zk, d);
        }
    }

    double* terms(double* work) const { return work + (K + 1) * pad4(dim()); }
    const double* terms(const double* work) const { return work + (K + 1) * pad4(dim()); }

    // a_k -> exp(a_k - max) in place (the max term is exactly 1, so its exp is skipped);
    // returns the sum, and the max through m.
    inline double exp_shifted(double* a, double& m) const {
        m = a[0];
        for (int64_t k = 1; k < K; ++k) m = a[k] > m ? a[k] : m;
        double s = 0.0;
        for (int64_t k = 0; k < K; ++k) {
            a[k] = a[k] == m ? 1.0 : std::exp(a[k] - m);
            s += a[k];
        }
        return s;
    }

    // grad = -sum_k r_k z_k with r_k = e_k / s.
    inline void gather_grad(const double* __restrict work, double s, double* __restrict grad) const {
        const int64_t d = dim(), st = pad4(d);
        const double* e = terms(work);
        for (int64_t i = 0; i < d; ++i) grad[i] = 0.0;
        for (int64_t k = 0; k < K; ++k) {
            const double nr = -(e[k] / s);
            const double* zk = work + k * st;
            for (int64_t i = 0; i < d; ++i) grad[i] = std::fma(nr, zk[i], grad[i]);
        }
    }

    inline double logp(const double* x, double* work) const {
        components(x, work);
        double m;
        const double s = exp_shifted(terms(work), m);
        return m + std::log(s);
    }

    inline double logp_grad(const double* x, double* grad, double* work) const {
        double m;
        const double s = grad_terms(x, grad, work, m);
        return m + std::log(s);
    }

    // Gradient only: the leapfrog's inner steps need no log density.
    inline void grad(const double* x, double* grad, double* work) const {
        double m;
        grad_terms(x, grad, work, m);
    }

    // The gradient; returns the sum s of exp(a_k - m) and the max m, whose m + log(s) is log p.
    inline double grad_terms(const double* x, double* grad, double* work, double& m) const {
        components(x, work);
        if (K == 1) single_grad(work, grad);
        const double s = exp_shifted(terms(work), m);
        if (K != 1 || !(s == 1.0)) gather_grad(work, s, grad);
        return s;
    }

    // A single component (any Gaussian): s is exactly 1 unless the quadratic form is NaN, and
    // gather_grad then writes fma(-(1 / 1), z, 0). Writing fma(-1, z, 0) before the quadratic form
    // is known takes its fma chain (25 deep at d = 100) off every gradient's critical path;
    // grad_terms falls back to gather_grad when s is not 1, so the bits
    // are always gather_grad's, as in the Numba twin.
    inline void single_grad(const double* work, double* grad) const {
        const int64_t d = dim();
        for (int64_t i = 0; i < d; ++i) grad[i] = std::fma(-1.0, work[i], 0.0);
    }
};

}  // namespace fastmc
