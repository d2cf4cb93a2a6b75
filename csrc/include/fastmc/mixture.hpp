// Gaussian mixture log density and gradient. Twin: fastmc/_numba/mixture.py.
// p(x) = sum_k exp(logc_k - 0.5 (x - mu_k)^T P_k (x - mu_k)), with P_k the (symmetric)
// precision and logc_k = log w_k - 0.5 log det(2 pi Sigma_k) precomputed in Python.
#pragma once
#include <cmath>
#include <cstdint>

namespace fastmc {

struct Mixture {
    int64_t K, d;
    const double* logc;   // (K,)
    const double* means;  // (K, d)
    const double* prec;   // (K, d, d), symmetric
    // work: K*d (P_k delta_k) + d (delta) + K (component log terms)
    int64_t work_size() const { return K * d + d + K; }

    // Fills a_k (log weight times component density) and z_k = P_k (x - mu_k). The matrix-vector
    // product is a sum of scaled rows (P symmetric), so every element sees the same order of
    // additions in both twins and the loop still vectorises without reassociation.
    inline void components(const double* x, double* work) const {
        double* z = work;
        double* delta = work + K * d;
        double* a = delta + d;
        for (int64_t k = 0; k < K; ++k) {
            const double* mu = means + k * d;
            const double* P = prec + k * d * d;
            double* zk = z + k * d;
            for (int64_t i = 0; i < d; ++i) {
                delta[i] = x[i] - mu[i];
                zk[i] = 0.0;
            }
            for (int64_t j = 0; j < d; ++j) {
                const double dj = delta[j];
                const double* row = P + j * d;
                for (int64_t i = 0; i < d; ++i) zk[i] += row[i] * dj;
            }
            double q = 0.0;
            for (int64_t i = 0; i < d; ++i) q += delta[i] * zk[i];
            a[k] = logc[k] - 0.5 * q;
        }
    }

    // Softmax weights r_k into a (in place); returns the log-sum-exp.
    inline double responsibilities(double* a) const {
        double m = a[0];
        for (int64_t k = 1; k < K; ++k) m = a[k] > m ? a[k] : m;
        double s = 0.0;
        for (int64_t k = 0; k < K; ++k) {
            a[k] = std::exp(a[k] - m);
            s += a[k];
        }
        for (int64_t k = 0; k < K; ++k) a[k] /= s;
        return m + std::log(s);
    }

    inline void gather_grad(const double* work, double* grad) const {
        const double* z = work;
        const double* r = work + K * d + d;
        for (int64_t i = 0; i < d; ++i) grad[i] = 0.0;
        for (int64_t k = 0; k < K; ++k) {
            const double rk = r[k];
            const double* zk = z + k * d;
            for (int64_t i = 0; i < d; ++i) grad[i] -= rk * zk[i];
        }
    }

    inline double logp(const double* x, double* work) const {
        components(x, work);
        double* a = work + K * d + d;
        double m = a[0];
        for (int64_t k = 1; k < K; ++k) m = a[k] > m ? a[k] : m;
        double s = 0.0;
        for (int64_t k = 0; k < K; ++k) s += std::exp(a[k] - m);
        return m + std::log(s);
    }

    inline double logp_grad(const double* x, double* grad, double* work) const {
        components(x, work);
        const double lp = responsibilities(work + K * d + d);
        gather_grad(work, grad);
        return lp;
    }
};

}  // namespace fastmc
