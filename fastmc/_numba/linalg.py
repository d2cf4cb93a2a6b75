"""Small dense kernels with one fixed order of roundings. Twin: csrc/include/fastmc/linalg.hpp.

``fma`` is LLVM's fused multiply-add, the same single rounding as C++ ``std::fma``; the
C++ twin's register blocking changes the loop nest, never the sequence of operations per
element, so the plain loops here give bit-identical results.
"""
from numba.core import types
from numba.extending import intrinsic

from ._jit import njit, njit_inline


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (float64)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@njit_inline
def symv(P, k, v, Z, d):
    """Z[k, i] = sum_j P[k, j, i] v_j for the symmetric matrix P[k] (d, d), accumulated over j
    in increasing order. Whole arrays and an index instead of slices: a view costs reference
    counting on every call in Numba."""
    if d <= 8:
        # tiny d: one register accumulator per output beats a vectorised loop's set-up; the
        # sequence of fma per element is the same as below (P is symmetric)
        for i in range(d):
            acc = 0.0
            for j in range(d):
                acc = fma(P[k, i, j], v[j], acc)
            Z[k, i] = acc
        return
    for i in range(d):
        Z[k, i] = 0.0
    for j in range(d):
        vj = v[j]
        for i in range(d):
            Z[k, i] = fma(P[k, j, i], vj, Z[k, i])


@njit_inline
def dot4(a, B, k, n):
    """a . B[k] (length n) with partial sums by lane i % 4, the tail into lane 0, then
    (s0 + s1) + (s2 + s3)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    i = 0
    while i + 4 <= n:
        s0 = fma(a[i], B[k, i], s0)
        s1 = fma(a[i + 1], B[k, i + 1], s1)
        s2 = fma(a[i + 2], B[k, i + 2], s2)
        s3 = fma(a[i + 3], B[k, i + 3], s3)
        i += 4
    while i < n:
        s0 = fma(a[i], B[k, i], s0)
        i += 1
    return (s0 + s1) + (s2 + s3)


@njit_inline
def dot4o(a, ao, b, bo, n):
    """a[ao:ao+n] . b[bo:bo+n] in the lane order of ``dot4`` (flat arrays and offsets instead of views)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    i = 0
    while i + 4 <= n:
        s0 = fma(a[ao + i], b[bo + i], s0)
        s1 = fma(a[ao + i + 1], b[bo + i + 1], s1)
        s2 = fma(a[ao + i + 2], b[bo + i + 2], s2)
        s3 = fma(a[ao + i + 3], b[bo + i + 3], s3)
        i += 4
    while i < n:
        s0 = fma(a[ao + i], b[bo + i], s0)
        i += 1
    return (s0 + s1) + (s2 + s3)
