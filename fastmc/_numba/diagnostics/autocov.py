"""Autocovariances by direct lag sums: Numba twin of
``csrc/include/fastmc/diagnostics/autocov.hpp``.

Draws outside, lags inside: every lag has its own accumulator summed in ascending draw order, the
same order as the C++ twin.
"""
import numpy as np

from .._jit import njit

LAG_BLOCK = 32


@njit
def _lags8(d, i_full, t):
    """Sums over i < i_full of d[i] d[i + t + k] for k < 8 in eight register accumulators (a heap
    array of accumulators does not vectorise in Numba).  Same per-lag order as the C++ block."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    e = d[t:]  # indexing a view by the loop counter lets LLVM drop the negative-index checks
    for i in range(i_full):
        di = d[i]
        a0 += di * e[i]
        a1 += di * e[i + 1]
        a2 += di * e[i + 2]
        a3 += di * e[i + 3]
        a4 += di * e[i + 4]
        a5 += di * e[i + 5]
        a6 += di * e[i + 6]
        a7 += di * e[i + 7]
    return a0, a1, a2, a3, a4, a5, a6, a7


@njit
def autocov_lags_centered(d, n, t0, t1, out):
    """out[t - t0] = sum_{i=0}^{n-1-t} d[i] d[i+t] for t in [t0, t1); d centred, t1 <= n."""
    acc = np.empty(LAG_BLOCK)
    for b0 in range(t0, t1, LAG_BLOCK):
        b1 = min(b0 + LAG_BLOCK, t1)
        w = b1 - b0
        for k in range(LAG_BLOCK):
            acc[k] = 0.0
        i_full = n - (b1 - 1)
        if w == LAG_BLOCK:
            for g in range(0, LAG_BLOCK, 8):
                r = _lags8(d, max(i_full, 0), b0 + g)
                for k in range(8):
                    acc[g + k] = r[k]
        else:
            for i in range(i_full):
                di = d[i]
                for k in range(w):
                    acc[k] += di * d[i + b0 + k]
        for i in range(max(i_full, 0), n - b0):
            di = d[i]
            kmax = min(w, n - i - b0)
            for k in range(kmax):
                acc[k] += di * d[i + b0 + k]
        for k in range(w):
            out[b0 - t0 + k] = acc[k]
