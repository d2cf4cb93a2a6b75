"""Small dense kernels with one fixed order of roundings. Twin: csrc/include/fastmc/core/linalg.hpp.

``fma`` is LLVM's fused multiply-add, the same single rounding as C++ ``std::fma``; the
C++ twin's register blocking changes the loop nest, never the sequence of operations per
element, so the plain loops here give bit-identical results.
"""
import numpy as np
from numba.core import types
from numba.extending import intrinsic

from .._jit import njit, njit_inline


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


# Twin of linalg.hpp's symv_panel: the C++ kernel streams the upper triangle in its panel layout
# (half the bytes); this twin reads the same elements of the full matrix in the same order of
# operations, which is what makes the bits equal, and keeps NumPy's storage.
SYM_PANEL_MIN_DIM = 64


@njit_inline
def symv_panel(S, k, v, Z, d, lanes):
    """Z[k] = S[k] v for an exactly symmetric S[k] (S (K, d, d), Z (K, d)) with the fma
    sequence of linalg.hpp ``symv_panel``: y_j = (sum over rows i < 4 (j // 4), increasing,
    of fma(S[i, j], v_i, .) from 0) + (a0 + a1) + (a2 + a3), where lane l of row j holds
    S[j, c] v_c over c in its diagonal block (products), then fma over the blocks to the right
    (c % 4 == l, increasing); padding lanes of a partial block add fma(0, 0, .) as the
    kernel's zeros do. Both parts run as contiguous column-axpy loops (S[i, j] == S[j, i]),
    which Numba vectorises; ``lanes`` (4, d) is scratch (an allocation per call serialised
    threads on Numba's allocator). Whole arrays and an index, as ``symv``: views cost
    reference counting."""
    du = np.uint64(d)  # unsigned bounds: no negative-index wraparound, and LLVM vectorises
    nf = d // 4
    for b in range(nf):  # each row's diagonal block
        c = 4 * b
        for i in range(c, c + 4):
            lanes[0, i] = S[k, i, c] * v[c]
            lanes[1, i] = S[k, i, c + 1] * v[c + 1]
            lanes[2, i] = S[k, i, c + 2] * v[c + 2]
            lanes[3, i] = S[k, i, c + 3] * v[c + 3]
    c = 4 * nf
    for i in range(c, d):  # the partial last one: padding lanes are the kernel's 0 * 0
        for l in range(4):
            lanes[l, i] = S[k, i, c + l] * v[c + l] if c + l < d else 0.0
    for i in range(du):
        Z[k, i] = 0.0
    # Block column c (rows and columns 4c..4c+3): its four columns into the lanes of the rows
    # left of it, and its four rows, transposed, into y (Z[k]) right of it.
    for c in range(nf):
        j = 4 * c
        w0 = v[j]
        w1 = v[j + 1]
        w2 = v[j + 2]
        w3 = v[j + 3]
        jl = np.uint64(j)
        for i in range(jl):  # one loop per lane: LLVM vectorises two arrays, not five
            lanes[0, i] = fma(S[k, j, i], w0, lanes[0, i])
        for i in range(jl):
            lanes[1, i] = fma(S[k, j + 1, i], w1, lanes[1, i])
        for i in range(jl):
            lanes[2, i] = fma(S[k, j + 2, i], w2, lanes[2, i])
        for i in range(jl):
            lanes[3, i] = fma(S[k, j + 3, i], w3, lanes[3, i])
        for i in range(np.uint64(j + 4), du):
            acc = fma(S[k, j, i], w0, Z[k, i])
            acc = fma(S[k, j + 1, i], w1, acc)
            acc = fma(S[k, j + 2, i], w2, acc)
            Z[k, i] = fma(S[k, j + 3, i], w3, acc)
    t = d - 4 * nf
    if t > 0:  # the partial last block column: its padding lanes add fma(0, 0, .)
        j = 4 * nf
        for i in range(np.uint64(j)):
            lanes[0, i] = fma(S[k, j, i], v[j], lanes[0, i])
            lanes[1, i] = fma(S[k, j + 1, i], v[j + 1], lanes[1, i]) if t > 1 else fma(0.0, 0.0, lanes[1, i])
            lanes[2, i] = fma(S[k, j + 2, i], v[j + 2], lanes[2, i]) if t > 2 else fma(0.0, 0.0, lanes[2, i])
            lanes[3, i] = fma(0.0, 0.0, lanes[3, i])
    for i in range(du):
        Z[k, i] = Z[k, i] + ((lanes[0, i] + lanes[1, i]) + (lanes[2, i] + lanes[3, i]))


@njit
def symv_panel_flat(A, v, y, d):
    """``symv_panel`` of the flat row-major matrix in A[:d*d], with A[d*d : d*d + 4d] as its
    scratch (the views made here, not at the caller)."""
    S = A[: d * d].reshape((1, d, d))
    symv_panel(S, 0, v, y.reshape((1, d)), d, A[d * d : d * d + 4 * d].reshape((4, d)))
