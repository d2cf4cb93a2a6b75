// Autocovariances by direct lag sums, for the first few lags only.
// Twin: fastmc/_numba/diagnostics/autocov.py.
//
// A well-mixing chain needs a handful of lags before Geyer's sequence truncates, so O(n K) direct
// sums beat an O(n log n) FFT; the caller falls back to an FFT when K grows.  The loop runs over
// draws outside and lags inside: every lag keeps its own accumulator summed in ascending draw order
// (the same order in both twins), and the independent accumulators fill SIMD lanes.
#pragma once
#include <cstdint>

namespace fastmc {

// Accumulators held at once: 32 independent sums fill 8 AVX2 registers, enough to hide the latency
// of the adds without spilling.
constexpr int64_t kLagBlock = 32;

// out[t - t0] = sum_{i=0}^{n-1-t} d[i] * d[i+t] for t in [t0, t1), d already centred, t1 <= n.
inline void autocov_lags_centered(const double* d, int64_t n, int64_t t0, int64_t t1, double* out) {
    for (int64_t b0 = t0; b0 < t1; b0 += kLagBlock) {
        const int64_t b1 = (b0 + kLagBlock < t1) ? b0 + kLagBlock : t1;
        const int64_t w = b1 - b0;
        double acc[kLagBlock];
        for (int64_t k = 0; k < kLagBlock; ++k) acc[k] = 0.0;
        // draws for which every lag of the block is in range
        const int64_t i_full = n - (b1 - 1);
        if (w == kLagBlock) {  // constant trip count: the compiler keeps acc in vector registers
            for (int64_t i = 0; i < i_full; ++i) {
                const double di = d[i];
                const double* dj = d + i + b0;
                for (int64_t k = 0; k < kLagBlock; ++k) acc[k] += di * dj[k];
            }
        } else {
            for (int64_t i = 0; i < i_full; ++i) {
                const double di = d[i];
                const double* dj = d + i + b0;
                for (int64_t k = 0; k < w; ++k) acc[k] += di * dj[k];
            }
        }
        for (int64_t i = (i_full > 0 ? i_full : 0); i < n - b0; ++i) {
            const double di = d[i];
            const int64_t kmax = n - i - b0;  // lags b0 .. b0 + kmax - 1 are in range
            for (int64_t k = 0; k < w && k < kmax; ++k) acc[k] += di * d[i + b0 + k];
        }
        for (int64_t k = 0; k < w; ++k) out[b0 - t0 + k] = acc[k];
    }
}

}  // namespace fastmc
