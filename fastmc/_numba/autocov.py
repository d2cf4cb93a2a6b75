"""Autocovariances by direct lag sums: Numba twin of ``csrc/include/fastmc/autocov.hpp``.

Draws outside, lags inside: every lag has its own accumulator summed in ascending draw order, the
same order as the C++ twin.
"""
from numba import njit

LAG_BLOCK = 16


@njit(cache=True, nogil=True, error_model="numpy")
def autocov_lags_centered(d, n, t0, t1, out):
    """out[t - t0] = sum_{i=0}^{n-1-t} d[i] d[i+t] for t in [t0, t1); d centred, t1 <= n."""
    for b0 in range(t0, t1, LAG_BLOCK):
        b1 = min(b0 + LAG_BLOCK, t1)
        w = b1 - b0
        o = b0 - t0
        for k in range(w):
            out[o + k] = 0.0
        i_full = n - (b1 - 1)
        for i in range(i_full):
            di = d[i]
            for k in range(w):
                out[o + k] += di * d[i + b0 + k]
        for i in range(max(i_full, 0), n - b0):
            di = d[i]
            kmax = min(w, n - i - b0)
            for k in range(kmax):
                out[o + k] += di * d[i + b0 + k]
