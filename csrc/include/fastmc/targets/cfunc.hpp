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

// The checked mode's failures (codes no C function of the users' returns by accident): the
// function wrote past grad[d - 1], returned NaN or +inf as a log density, or a non-finite
// gradient where the log density is finite. The Python layer finds the coordinate and says which.
constexpr int kCheckOutOfBounds = -2147483647 + 1;
constexpr int kCheckLogp = -2147483647 + 2;
constexpr int kCheckGrad = -2147483647 + 3;
constexpr int64_t kCanaries = 8;  // doubles past the gradient that a checked call guards
constexpr double kCanary = -1.2345678901234567e-300;

struct CFuncTarget {
    LogpFn fn;
    void* data;
    int64_t d;
    bool checked = false;  // every call through a guarded gradient buffer (check=True)

    int64_t dim() const { return d; }
    // work: a scratch gradient for logp() (d), the negative code of the first failure (1, zero
    // until then: Scratch starts zeroed), the point where it happened (d), and in checked mode
    // the guarded gradient buffer (d + kCanaries)
    int64_t work_size() const { return 2 * d + 1 + (checked ? d + kCanaries : 0); }
    bool failed(const double* work) const { return work[d] != 0.0; }
    // The failure's code (0: none); its point into x (d,).
    int64_t failure(const double* work, double* x) const {
        for (int64_t i = 0; i < d; ++i) x[i] = work[d + 1 + i];
        return static_cast<int64_t>(work[d]);
    }

    inline double logp_grad(const double* x, double* grad, double* work) const {
        if (work[d] != 0.0) return std::numeric_limits<double>::quiet_NaN();  // stopped: no more calls
        double lp = 0.0;
        int rc;
        if (!checked) {
            rc = fn(static_cast<size_t>(d), x, grad, &lp, data);
        } else {
            double* buf = work + 2 * d + 1;
            for (int64_t i = 0; i < kCanaries; ++i) buf[d + i] = kCanary;
            rc = fn(static_cast<size_t>(d), x, buf, &lp, data);
            rc = rc != 0 ? rc : check(buf, lp);
            for (int64_t i = 0; i < d; ++i) grad[i] = buf[i];
        }
        if (rc == 0) return lp;
        if (rc < 0) {
            work[d] = static_cast<double>(rc);
            for (int64_t i = 0; i < d; ++i) work[d + 1 + i] = x[i];
        }
        return -std::numeric_limits<double>::infinity();
    }

    // 0, or the checked mode's failure code for a call that returned 0 with lp and buf.
    int check(const double* buf, double lp) const {
        for (int64_t i = 0; i < kCanaries; ++i)
            if (!(buf[d + i] == kCanary)) return kCheckOutOfBounds;
        if (std::isnan(lp) || lp == std::numeric_limits<double>::infinity()) return kCheckLogp;
        if (lp == -std::numeric_limits<double>::infinity()) return 0;  // outside the support
        for (int64_t i = 0; i < d; ++i)
            if (!std::isfinite(buf[i])) return kCheckGrad;
        return 0;
    }
    inline double logp(const double* x, double* work) const { return logp_grad(x, work, work); }
    inline void grad(const double* x, double* g, double* work) const { logp_grad(x, g, work); }
};

}  // namespace fastmc
