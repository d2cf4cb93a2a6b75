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


# Twin of linalg.hpp's panel layout (the upper triangle in 4-row panels of 4 x 4 blocks, zero
# padded): symmetric products for d >= SYM_PANEL_MIN_DIM read half the bytes.
SYM_PANEL_MIN_DIM = 64


@njit_inline
def sym_panel_size(d):
    """Doubles of the panel layout of a d x d matrix."""
    nb = (d + 3) // 4
    return 16 * nb * (nb + 1) // 2


@njit_inline
def sym_panel_pack(S, so, out, oo, d):
    """The symmetric matrix in S[so : so + d*d] (flat, row-major) -> its panel layout in out[oo:]."""
    nb = (d + 3) // 4
    k = oo
    for b in range(nb):
        for c in range(b, nb):
            for r in range(4):
                for l in range(4):
                    i = 4 * b + r
                    j = 4 * c + l
                    out[k] = S[so + i * d + j] if (i < d and j < d) else 0.0
                    k += 1


@njit_inline
def _vpad(v, j, d):
    return v[j] if j < d else 0.0


@njit_inline
def symv_panel(S, so, v, y, d):
    """y = S v for S in the panel layout at S[so:] (linalg.hpp ``symv_panel``: the same fma
    sequence per element). Row i = 4b + r dots with v in lanes j % 4 (the diagonal block as
    products, then fma block by block), adds S[i, j] v_i to y_j for the blocks right of its
    diagonal (rows in increasing order), and y_i = (its sum from the rows above its panel) +
    (a0 + a1) + (a2 + a3). Padding reads as zeros and is never written."""
    nb = (d + 3) // 4
    for i in range(d):
        y[i] = 0.0
    k = so
    for b in range(nb):
        i0 = 4 * b
        for r in range(4):
            vr = _vpad(v, i0 + r, d)
            kr = k + 4 * r
            a0 = S[kr] * _vpad(v, i0, d)
            a1 = S[kr + 1] * _vpad(v, i0 + 1, d)
            a2 = S[kr + 2] * _vpad(v, i0 + 2, d)
            a3 = S[kr + 3] * _vpad(v, i0 + 3, d)
            for c in range(b + 1, nb):
                kc = kr + 16 * (c - b)
                j = 4 * c
                a0 = fma(S[kc], _vpad(v, j, d), a0)
                a1 = fma(S[kc + 1], _vpad(v, j + 1, d), a1)
                a2 = fma(S[kc + 2], _vpad(v, j + 2, d), a2)
                a3 = fma(S[kc + 3], _vpad(v, j + 3, d), a3)
                for l in range(4):
                    if j + l < d:
                        y[j + l] = fma(S[kc + l], vr, y[j + l])
            if i0 + r < d:
                y[i0 + r] = y[i0 + r] + ((a0 + a1) + (a2 + a3))
        k += 16 * (nb - b)
