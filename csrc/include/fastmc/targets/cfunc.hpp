// A target given as a C function pointer with the signature nutpie and walnutpie use:
//   int logp(size_t dim, const double* x, double* grad, double* lp, void* data)
// 0 is success; a positive return means "outside the support" (log density -inf: the proposal is
// rejected and counted); a negative return asks the sampler to stop (every chain ends after its
// current iteration, and the draws so far are kept). Called from every chain thread at once.
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
    volatile int64_t* stop;  // shared by all chains; set on a negative return

    int64_t dim() const { return d; }
    int64_t work_size() const { return d; }  // scratch gradient for logp()
    bool stop_requested() const { return *stop != 0; }

    inline double logp_grad(const double* x, double* grad, double*) const {
        double lp = 0.0;
        const int rc = fn(static_cast<size_t>(d), x, grad, &lp, data);
        if (rc == 0) return lp;
        if (rc < 0) *stop = 1;
        return -std::numeric_limits<double>::infinity();
    }
    inline double logp(const double* x, double* work) const { return logp_grad(x, work, nullptr); }
    inline void grad(const double* x, double* g, double* work) const { logp_grad(x, g, work); }
};

}  // namespace fastmc
