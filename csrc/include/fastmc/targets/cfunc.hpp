// A target given as a C function pointer with the signature nutpie and walnutpie use:
//   int logp(size_t dim, const double* x, double* grad, double* lp, void* data)
// 0 is success; a positive return means "outside the support" (log density -inf: the proposal is
// rejected and counted); a negative return stops the chain that called it, after its current
// iteration (the draws so far are kept, and the code and the point are reported). Called from
// every chain thread at once.
//
// The failure is the chain's own: it lives in the chain's target scratch (work), so one chain's
// stop never ends another, and a run's result depends only on its seed.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace fastmc {

using LogpFn = int (*)(size_t dim, const double* x, double* grad, double* lp, void* data);

struct CFuncTarget {
    LogpFn fn;
    void* data;
    int64_t d;

    int64_t dim() const { return d; }
    // work: a scratch gradient for logp() (d), the negative code of the first failure (1, zero
    // until then: Scratch starts zeroed), and the point where it happened (d)
    int64_t work_size() const { return 2 * d + 1; }
    bool failed(const double* work) const { return work[d] != 0.0; }
    // The failure's code (0: none); its point into x (d,).
    int64_t failure(const double* work, double* x) const {
        for (int64_t i = 0; i < d; ++i) x[i] = work[d + 1 + i];
        return static_cast<int64_t>(work[d]);
    }

    inline double logp_grad(const double* x, double* grad, double* work) const {
        if (work[d] != 0.0) return std::numeric_limits<double>::quiet_NaN();  // stopped: no more calls
        double lp = 0.0;
        const int rc = fn(static_cast<size_t>(d), x, grad, &lp, data);
        if (rc == 0) return lp;
        if (rc < 0) {
            work[d] = static_cast<double>(rc);
            for (int64_t i = 0; i < d; ++i) work[d + 1 + i] = x[i];
        }
        return -std::numeric_limits<double>::infinity();
    }
    inline double logp(const double* x, double* work) const { return logp_grad(x, work, work); }
    inline void grad(const double* x, double* g, double* work) const { logp_grad(x, g, work); }
};

}  // namespace fastmc
