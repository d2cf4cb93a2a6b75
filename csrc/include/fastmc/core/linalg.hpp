// Small dense kernels with one fixed order of roundings, shared by the targets.
// Twin: fastmc/_numba/core/linalg.py. Products are fused (std::fma) explicitly, never by the compiler
// (-ffp-contract=off), so both twins round identically while using the FMA units.
#pragma once
#include "fastmc/core/inline.hpp"
#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace fastmc {

// z_i = sum_j P[j, i] * v_j for symmetric P (d, d), accumulated over j in increasing order.
// Blocks of 8 and 4 outputs stay in registers while the rows stream past; every element sees
// the same sequence of fma operations as the plain column-axpy form of the Numba twin.
template <int B>
inline void symv_block(const double* __restrict P, const double* __restrict v, double* __restrict z, int64_t d,
                       int64_t ib) {
    double acc[B];
    for (int l = 0; l < B; ++l) acc[l] = 0.0;
    for (int64_t j = 0; j < d; ++j) {
        const double vj = v[j];
        const double* row = P + j * d + ib;
        for (int l = 0; l < B; ++l) acc[l] = std::fma(row[l], vj, acc[l]);
    }
    for (int l = 0; l < B; ++l) z[ib + l] = acc[l];
}

#if defined(__AVX2__) && defined(__FMA__)
// The same block with NV explicit 4-lane registers: GCC's own vectorisation of symv_block
// splits 16 accumulators into 8 + 4 + 2 + 1 + 1 lanes. Lane-wise fma rounds exactly as
// std::fma, so results are identical to the portable block.
template <int NV>
inline void symv_block_avx(const double* __restrict P, const double* __restrict v, double* __restrict z, int64_t d,
                           int64_t ib) {
    __m256d acc[NV];
    for (int l = 0; l < NV; ++l) acc[l] = _mm256_setzero_pd();
    for (int64_t j = 0; j < d; ++j) {
        const __m256d vj = _mm256_set1_pd(v[j]);
        const double* row = P + j * d + ib;
        for (int l = 0; l < NV; ++l) acc[l] = _mm256_fmadd_pd(_mm256_loadu_pd(row + 4 * l), vj, acc[l]);
    }
    for (int l = 0; l < NV; ++l) _mm256_storeu_pd(z + ib + 4 * l, acc[l]);
}
#endif

// z_i = sum_j P[j, i] * v_j for symmetric P (d, d), accumulated over j in increasing order.
// Blocks of 20, 16, 8, 4 and 1 outputs stay in registers while the rows stream past (20: five
// independent vector chains hide the fma latency with one broadcast per row, and still fit the
// registers); every element sees the
// same sequence of fma operations as the plain column-axpy form of the Numba twin.
template <int D>
inline void symv(const double* __restrict P, const double* __restrict v, double* __restrict z, int64_t d_rt) {
    const int64_t d = D > 0 ? D : d_rt;
    int64_t ib = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; ib + 20 <= d; ib += 20) symv_block_avx<5>(P, v, z, d, ib);
    for (; ib + 16 <= d; ib += 16) symv_block_avx<4>(P, v, z, d, ib);
    for (; ib + 8 <= d; ib += 8) symv_block_avx<2>(P, v, z, d, ib);
    for (; ib + 4 <= d; ib += 4) symv_block_avx<1>(P, v, z, d, ib);
#else
    for (; ib + 16 <= d; ib += 16) symv_block<16>(P, v, z, d, ib);
    for (; ib + 8 <= d; ib += 8) symv_block<8>(P, v, z, d, ib);
    for (; ib + 4 <= d; ib += 4) symv_block<4>(P, v, z, d, ib);
#endif
    for (; ib < d; ++ib) symv_block<1>(P, v, z, d, ib);
}

// Four doubles operated on lane by lane: an AVX register where available, else an array. Every
// operation rounds each lane exactly as the scalar expression does (fma4 as std::fma), so loops
// written with it give the same bits as the scalar loops of the Numba twins that keep lanes in
// s0..s3 (elements i % 4 == l in lane l, as in dot4).
#if defined(__AVX2__) && defined(__FMA__)
struct D4 {
    __m256d x;
};
FASTMC_INLINE D4 load4(const double* p) { return {_mm256_loadu_pd(p)}; }
FASTMC_INLINE void store4(double* p, D4 a) { _mm256_storeu_pd(p, a.x); }
FASTMC_INLINE D4 splat4(double a) { return {_mm256_set1_pd(a)}; }
FASTMC_INLINE D4 add4(D4 a, D4 b) { return {_mm256_add_pd(a.x, b.x)}; }
FASTMC_INLINE D4 sub4(D4 a, D4 b) { return {_mm256_sub_pd(a.x, b.x)}; }
FASTMC_INLINE D4 mul4(D4 a, D4 b) { return {_mm256_mul_pd(a.x, b.x)}; }
FASTMC_INLINE D4 fma4(D4 a, D4 b, D4 c) { return {_mm256_fmadd_pd(a.x, b.x, c.x)}; }
FASTMC_INLINE void lanes4(D4 a, double* out) { _mm256_storeu_pd(out, a.x); }
// The value unchanged, but opaque to the optimiser: a loop that only moves data through it is
// not turned into a call of memmove (GCC's loop distribution does so for short copies inside
// the NUTS leaf loop, where the call costs more than the copy).
FASTMC_INLINE D4 opaque4(D4 a) {
    __asm__("" : "+x"(a.x));
    return a;
}
FASTMC_INLINE double opaque1(double a) {
    __asm__("" : "+x"(a));
    return a;
}
// (a0 + a1) + (a2 + a3)
FASTMC_INLINE double hsum4(D4 a) {
    const __m128d s = _mm_hadd_pd(_mm256_castpd256_pd128(a.x), _mm256_extractf128_pd(a.x, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// Whether (a0 + a1) + (a2 + a3) > 0 for both of a, b (for all four of a, b, c, e): the sums of
// hsum4 (same roundings), two or four at once, and one compare and mask instead of a branch per
// sum (the U-turn checks run on every NUTS leaf).
FASTMC_INLINE bool all_sums_positive(D4 a, D4 b) {
    const __m256d t = _mm256_hadd_pd(a.x, b.x);  // a0+a1, b0+b1, a2+a3, b2+b3
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
    return _mm_movemask_pd(_mm_cmpgt_pd(s, _mm_setzero_pd())) == 3;
}
FASTMC_INLINE bool all_sums_positive(D4 a, D4 b, D4 c, D4 e) {
    const __m256d t0 = _mm256_hadd_pd(a.x, b.x), t1 = _mm256_hadd_pd(c.x, e.x);
    const __m256d s = _mm256_add_pd(_mm256_permute2f128_pd(t0, t1, 0x20), _mm256_permute2f128_pd(t0, t1, 0x31));
    return _mm256_movemask_pd(_mm256_cmp_pd(s, _mm256_setzero_pd(), _CMP_GT_OQ)) == 15;
}
#else
struct D4 {
    double x[4];
};
FASTMC_INLINE D4 load4(const double* p) { return {{p[0], p[1], p[2], p[3]}}; }
FASTMC_INLINE void store4(double* p, D4 a) {
    for (int l = 0; l < 4; ++l) p[l] = a.x[l];
}
FASTMC_INLINE D4 splat4(double a) { return {{a, a, a, a}}; }
FASTMC_INLINE D4 add4(D4 a, D4 b) { return {{a.x[0] + b.x[0], a.x[1] + b.x[1], a.x[2] + b.x[2], a.x[3] + b.x[3]}}; }
FASTMC_INLINE D4 sub4(D4 a, D4 b) { return {{a.x[0] - b.x[0], a.x[1] - b.x[1], a.x[2] - b.x[2], a.x[3] - b.x[3]}}; }
FASTMC_INLINE D4 mul4(D4 a, D4 b) { return {{a.x[0] * b.x[0], a.x[1] * b.x[1], a.x[2] * b.x[2], a.x[3] * b.x[3]}}; }
FASTMC_INLINE D4 fma4(D4 a, D4 b, D4 c) {
    return {{std::fma(a.x[0], b.x[0], c.x[0]), std::fma(a.x[1], b.x[1], c.x[1]), std::fma(a.x[2], b.x[2], c.x[2]),
             std::fma(a.x[3], b.x[3], c.x[3])}};
}
FASTMC_INLINE void lanes4(D4 a, double* out) {
    for (int l = 0; l < 4; ++l) out[l] = a.x[l];
}
FASTMC_INLINE double hsum4(D4 a) { return (a.x[0] + a.x[1]) + (a.x[2] + a.x[3]); }
FASTMC_INLINE bool all_sums_positive(D4 a, D4 b) { return hsum4(a) > 0.0 && hsum4(b) > 0.0; }
FASTMC_INLINE bool all_sums_positive(D4 a, D4 b, D4 c, D4 e) {
    return hsum4(a) > 0.0 && hsum4(b) > 0.0 && hsum4(c) > 0.0 && hsum4(e) > 0.0;
}
FASTMC_INLINE D4 opaque4(D4 a) { return a; }
FASTMC_INLINE double opaque1(double a) { return a; }
#endif
FASTMC_INLINE D4 zero4() { return splat4(0.0); }

// Symmetric matrix-vector products for large d in the panel layout: the upper triangle in
// panels of 4 rows, each panel a run of 4 x 4 blocks from its diagonal block (stored whole) to
// the last column, rows and columns padded with zeros to a multiple of 4. It holds half the
// bytes of the full matrix; at d >= 64 the full product is limited by reading the matrix from
// L2, below that by arithmetic, where the register-blocked symv wins (the crossover measured in
// bench/). Both twins choose by d alone.
constexpr int64_t kSymPanelMinDim = 64;

// Doubles of the panel layout of a d x d matrix.
inline int64_t sym_panel_size(int64_t d) {
    const int64_t nb = (d + 3) / 4;
    return 16 * nb * (nb + 1) / 2;
}

// S (d, d) symmetric, row-major -> its panel layout (sym_panel_size(d) doubles).
inline void sym_panel_pack(const double* S, double* out, int64_t d) {
    const int64_t nb = (d + 3) / 4;
    int64_t k = 0;
    for (int64_t b = 0; b < nb; ++b)
        for (int64_t c = b; c < nb; ++c)
            for (int64_t r = 0; r < 4; ++r)
                for (int64_t l = 0; l < 4; ++l, ++k) {
                    const int64_t i = 4 * b + r, j = 4 * c + l;
                    out[k] = i < d && j < d ? S[i * d + j] : 0.0;
                }
}

// One 4 x 4 block B right of a panel's diagonal: the rows' lane sums a_r += B_r vc, and
// yc += B^T (v_r) by fma over r.
FASTMC_INLINE void panel_block(const double* __restrict B, const double* __restrict vcp, double* __restrict ycp,
                               D4 v0, D4 v1, D4 v2, D4 v3, D4& a0, D4& a1, D4& a2, D4& a3) {
    const D4 vc = load4(vcp);
    const D4 b0 = load4(B), b1 = load4(B + 4), b2 = load4(B + 8), b3 = load4(B + 12);
    D4 yc = load4(ycp);
    a0 = fma4(b0, vc, a0);
    yc = fma4(b0, v0, yc);
    a1 = fma4(b1, vc, a1);
    yc = fma4(b1, v1, yc);
    a2 = fma4(b2, vc, a2);
    yc = fma4(b2, v2, yc);
    a3 = fma4(b3, vc, a3);
    yc = fma4(b3, v3, yc);
    store4(ycp, yc);
}

// y = S v for S in the panel layout. Panel b (rows i = 4b + r) dots its rows with v in four
// lanes (column j in lane j % 4, the diagonal block first: a_r = B v, then fma over the
// blocks to the right) and adds each block's transpose times v_i to y_j (fma over r = 0..3
// within a panel, panels in increasing order); y_i = (its sum from the panels above) +
// (a0 + a1) + (a2 + a3). The last partial column block runs on zero-padded copies.
inline void symv_panel(const double* __restrict S, const double* __restrict v, double* __restrict y, int64_t d) {
    const int64_t nf = d / 4, t = d % 4, nb = nf + (t > 0 ? 1 : 0);
    alignas(32) double vt[4] = {0.0, 0.0, 0.0, 0.0}, yt[4] = {0.0, 0.0, 0.0, 0.0};
    for (int64_t i = 0; i < t; ++i) vt[i] = v[4 * nf + i];
    for (int64_t i = 0; i < 4 * nf; ++i) y[i] = 0.0;
    const double* B = S;
    for (int64_t b = 0; b < nb; ++b) {
        const double* vb = b < nf ? v + 4 * b : vt;
        double* yb = b < nf ? y + 4 * b : yt;
        const D4 v0 = splat4(vb[0]), v1 = splat4(vb[1]), v2 = splat4(vb[2]), v3 = splat4(vb[3]);
        const D4 vd = load4(vb);
        D4 a0 = mul4(load4(B), vd), a1 = mul4(load4(B + 4), vd), a2 = mul4(load4(B + 8), vd),
           a3 = mul4(load4(B + 12), vd);
        B += 16;
        for (int64_t c = b + 1; c < nf; ++c, B += 16)
            panel_block(B, v + 4 * c, y + 4 * c, v0, v1, v2, v3, a0, a1, a2, a3);
        if (t > 0 && b < nf) {  // the partial block right of the diagonal
            panel_block(B, vt, yt, v0, v1, v2, v3, a0, a1, a2, a3);
            B += 16;
        }
        yb[0] += hsum4(a0);
        yb[1] += hsum4(a1);
        yb[2] += hsum4(a2);
        yb[3] += hsum4(a3);
    }
    for (int64_t i = 0; i < t; ++i) y[4 * nf + i] = yt[i];
}

FASTMC_INLINE void copy4(double* __restrict dst, const double* __restrict src, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) store4(dst + i, opaque4(load4(src + i)));
    for (; i < n; ++i) dst[i] = opaque1(src[i]);
}

// a . b with four interleaved partial sums (lane i % 4), the tail into lane 0, then
// (s0 + s1) + (s2 + s3): short dependency chains, and a fixed order for both twins. The four
// sums are the lanes of one D4 (GCC left the scalar form scalar: 4x the instructions).
FASTMC_INLINE double dot4(const double* __restrict a, const double* __restrict b, int64_t n) {
    D4 s4 = zero4();
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) s4 = fma4(load4(a + i), load4(b + i), s4);
    if (i == n) return hsum4(s4);
    alignas(32) double s[4];
    lanes4(s4, s);
    for (; i < n; ++i) s[0] = std::fma(a[i], b[i], s[0]);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

}  // namespace fastmc
