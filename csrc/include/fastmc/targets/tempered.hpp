// A target raised to the power beta = 1/T: log density beta log pi(x), gradient beta grad log pi.
// The HMC engine (adapt/warmup.hpp) samples pi^(1/T) with it; the engine's recorded log density
// is then the tempered one, which the Python layer divides by beta. Twin:
// fastmc/_numba/targets/tempered.py.
#pragma once
#include <cstdint>

#include "fastmc/core/inline.hpp"

namespace fastmc {

template <class Target>
struct Tempered {
    const Target& target;
    double beta;

    int64_t dim() const { return target.dim(); }
    bool failed(const double* work) const { return target.failed(work); }
    int64_t failure(const double* work, double* x) const { return target.failure(work, x); }
    int64_t work_size() const { return target.work_size(); }

    FASTMC_INLINE double logp_grad(const double* x, double* grad, double* work) const {
        const double lp = target.logp_grad(x, grad, work);
        const int64_t d = dim();
        for (int64_t i = 0; i < d; ++i) grad[i] = beta * grad[i];
        return beta * lp;
    }

    FASTMC_INLINE void grad(const double* x, double* grad, double* work) const {
        target.grad(x, grad, work);
        const int64_t d = dim();
        for (int64_t i = 0; i < d; ++i) grad[i] = beta * grad[i];
    }
};

}  // namespace fastmc
