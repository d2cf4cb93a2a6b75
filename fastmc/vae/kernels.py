"""Fused Numba kernels of the VAE: one pass over an array where NumPy would need several.

Each kernel works in place on caller-allocated, C-contiguous arrays and allocates nothing. The
Python wrappers that give them a meaning (and NumPy fallbacks) live in :mod:`.likelihood`,
:mod:`.networks` and :mod:`.optim`; nothing here is public API.

The ``(k * n, D)`` arrays are the decoder outputs of ``k`` samples for ``n`` images laid out
sample-major, so row ``r`` belongs to image ``r % n``.

Scalars that meet array elements are typed with the array's dtype (``dtype.type(2)``, or passed
in an array of that dtype): an integer literal or a float64 scalar would promote float32
arithmetic to float64.
"""
from __future__ import annotations

import numpy as np

from ._jit import njit

__all__ = [
    "HAVE_FUSED",
    "PROD_BLOCK",
    "adam_update",
    "bernoulli_grad_rows",
    "bernoulli_terms",
    "relusum_negabs",
    "sum_log1p_rows",
    "tanh_backward_colsum",
]

#: Whether the fused Bernoulli likelihood passes are used (read at call time, so tests can turn
#: them off to exercise the NumPy paths, which stay as the readable reference).
HAVE_FUSED = True

#: Factors in [1, 2]: a product of PROD_BLOCK of them stays below 2**1000, inside float64 range.
PROD_BLOCK = 1000

@njit
def relusum_negabs(src, bias, dst, relu_sum):  # pragma: no cover - compiled
    """``dst = -|src + bias|`` and ``relu_sum[r] = sum_j max(src[r, j] + bias[j], 0)`` (float64).

    Shapes: src, dst (R, D), may be the same array; bias (D,); relu_sum (R,).
    """
    rows, cols = src.shape
    zero = src.dtype.type(0)
    two = src.dtype.type(2)
    for r in range(rows):
        s = 0.0
        for j in range(cols):
            v = src[r, j] + bias[j]
            m = max(v, zero)
            s += m
            dst[r, j] = v - two * m
        relu_sum[r] = s

@njit
def _prod_1p(a):  # pragma: no cover - compiled
    # prod(1 + a_j) in float64; with a_j in [0, 1] and a.size <= PROD_BLOCK it cannot overflow
    p = 1.0
    for j in range(a.size):
        p *= 1.0 + a[j]
    return p

@njit
def sum_log1p_rows(e, res):  # pragma: no cover - compiled
    """``res[r] = sum_j log(1 + e[r, j])`` for ``e`` in [0, 1], as logs of float64 products.

    One ``log`` per PROD_BLOCK elements, and more accurate than a float32 sum of logs.
    Shapes: e (R, D); res (R,) float64.
    """
    rows, cols = e.shape
    for r in range(rows):
        erow = e[r]
        acc = 0.0
        for j0 in range(0, cols, PROD_BLOCK):
            acc += np.log(_prod_1p(erow[j0 : j0 + PROD_BLOCK]))
        res[r] = acc

@njit
def bernoulli_terms(out, bias, x, negabs, res):  # pragma: no cover - compiled
    """``out += bias``; ``negabs = -|out|``; ``res[r] = sum_j x_j out_j - max(out_j, 0)`` (float64).

    Shapes: out, negabs (R, D) with R a multiple of n; bias (D,); x (n, D); res (R,).
    """
    rows, cols = out.shape
    n = x.shape[0]
    zero = out.dtype.type(0)
    two = out.dtype.type(2)
    for r in range(rows):
        xr = x[r % n]
        orow = out[r]
        nrow = negabs[r]
        acc = 0.0
        for j in range(cols):
            v = orow[j] + bias[j]
            m = max(v, zero)
            orow[j] = v
            acc += xr[j] * v - m
            nrow[j] = v - two * m
        res[r] = acc

@njit
def bernoulli_grad_rows(out, e, x, scale, colsum):  # pragma: no cover - compiled
    """``out = scale[r] * (x - sigmoid(out))`` and ``colsum`` = its column sums.

    The sigmoid comes from ``e = exp(-|out|)``: ``1 / (1 + e)`` for ``out >= 0``, else one minus
    that. Shapes: out, e (R, D); x (n, D); scale (R,); colsum (D,).
    """
    rows, cols = out.shape
    n = x.shape[0]
    one = out.dtype.type(1)
    for j in range(cols):
        colsum[j] = 0
    for r in range(rows):
        xr = x[r % n]
        orow = out[r]
        erow = e[r]
        s = scale[r]
        for j in range(cols):
            q = one / (one + erow[j])  # sigmoid(|l|)
            sig = q if orow[j] >= 0 else one - q
            g = s * (xr[j] - sig)
            orow[j] = g
            colsum[j] += g

@njit
def tanh_backward_colsum(h, g, colsum):  # pragma: no cover - compiled
    """``g *= 1 - h**2`` in place and ``colsum = g.sum(axis=0)``, accumulated row by row.

    Shapes: h, g (R, H); colsum (H,).
    """
    rows, cols = g.shape
    one = g.dtype.type(1)
    for j in range(cols):
        colsum[j] = 0
    for r in range(rows):
        hr = h[r]
        gr = g[r]
        for j in range(cols):
            v = gr[j] * (one - hr[j] * hr[j])
            gr[j] = v
            colsum[j] += v

@njit
def adam_update(p, g, m, v, c):  # pragma: no cover - compiled
    """One Adam ascent step on flat arrays, in place.

    ``c = [b1, 1 - b1, b2, 1 - b2, step, eps]`` in the parameters' dtype: one argument to
    type-check at dispatch instead of six scalars, and float32 arithmetic for float32
    parameters. The bias corrections are folded into ``step`` and ``eps`` by the caller.
    Shapes: p, g, m, v (N,); c (6,).
    """
    b1, c1, b2, c2, step, eps = c[0], c[1], c[2], c[3], c[4], c[5]
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] += step * mi / (np.sqrt(vi) + eps)
