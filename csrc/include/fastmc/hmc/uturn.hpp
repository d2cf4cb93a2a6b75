// The generalised U-turn criterion of NUTS (Betancourt 2017) as Stan checks it: on every merged
// subtree and, across each join, on the subtrees extended by one neighbouring state, using
// p_sharp = A p. Twin: fastmc/_numba/hmc/uturn.py.
//
// A subtree is built iteratively (nuts.hpp): leaf n completes the nodes of levels 1..ctz(n+1).
// The checks need momentum sums of nodes and of nodes extended by one neighbour; all are
// differences of the running momentum sum S_n (sum of the subtree's p before leaf n), so each
// leaf that starts a node (n even) records S_n, S_{n+1} and its velocity in slot ctz(n) (leaf 0:
// slot depth), and each leaf that ends a first half (n odd) records S_n and its velocity in slot
// ctz(n+1). A slot is overwritten only once no unfinished node refers to it. For a node [a, b] of
// level k with midpoint m:
//   node       rho = S_{b+1} - S_a          at p_sharp(a), p_sharp(b)
//   left + 1   rho = S_{m+1} - S_a          at p_sharp(a), p_sharp(m)
//   right + 1  rho = S_{b+1} - S_{m-1}      at p_sharp(m-1), p_sharp(b)
// (at level 1 the three coincide and one is checked). The loops use the 4-lane type D4
// (linalg.hpp), whose lanes round as the scalar loops of the Numba twin. The records go through
// opaque4/opaque1 so that the compiler keeps them as stores of the values computed here.
#pragma once
#include <cmath>
#include <cstdint>

#include "fastmc/core/inline.hpp"
#include "fastmc/core/linalg.hpp"

namespace fastmc {

inline int ctz64(uint64_t x) { return __builtin_ctzll(x); }

// The U-turn checks. Each momentum sum rho is formed on the fly and dotted with two velocities
// in the lane order of dot4 (each dot equals dot4(v, rho)); a check holds when both dots are
// positive. record_end_check (below) does the node check alone (level 1); uturn_node3: the three
// checks of a node of level >= 2 from the running sums R = S_{b+1}, Sa = S_a, Sm1 = S_{m+1},
// Se = S_{m-1} and the velocities va, vb, vm, ve at a, b, m, m - 1; uturn_join3: the three
// checks across the join of the tree (momentum sum rho, far end velocity vf) and a new subtree
// (momentum sum R, first leaf p0, v0, new end vn) extended from the old end (po, vo).
// Sums of lanes after the scalar tail (elements d - d % 4 .. d - 1) went into lane 0.
FASTMC_INLINE double lane_sum(const double (&s)[4]) { return (s[0] + s[1]) + (s[2] + s[3]); }

// Six dots: check c's momentum sum with its velocities x[c] and y[c].
struct UturnAcc3 {
    D4 s[6] = {zero4(), zero4(), zero4(), zero4(), zero4(), zero4()};
    alignas(32) double t[6][4];  // 32-byte stores at a random stack offset split cache lines
    FASTMC_INLINE void add(D4 r0, D4 r1, D4 r2, D4 x0, D4 y0, D4 x1, D4 y1, D4 x2, D4 y2) {
        s[0] = fma4(x0, r0, s[0]);
        s[1] = fma4(y0, r0, s[1]);
        s[2] = fma4(x1, r1, s[2]);
        s[3] = fma4(y1, r1, s[3]);
        s[4] = fma4(x2, r2, s[4]);
        s[5] = fma4(y2, r2, s[5]);
    }
    FASTMC_INLINE void spill() {
        for (int c = 0; c < 6; ++c) lanes4(s[c], t[c]);
    }
    FASTMC_INLINE void add_tail(double r0, double r1, double r2, double x0, double y0, double x1, double y1,
                                double x2, double y2) {
        t[0][0] = std::fma(x0, r0, t[0][0]);
        t[1][0] = std::fma(y0, r0, t[1][0]);
        t[2][0] = std::fma(x1, r1, t[2][0]);
        t[3][0] = std::fma(y1, r1, t[3][0]);
        t[4][0] = std::fma(x2, r2, t[4][0]);
        t[5][0] = std::fma(y2, r2, t[5][0]);
    }
    FASTMC_INLINE bool all_positive4() const {  // no tail: sums straight from the registers
        return all_sums_positive(s[0], s[1], s[2], s[3]) & all_sums_positive(s[4], s[5]);
    }
    FASTMC_INLINE bool all_positive() const {
        bool ok = true;
        for (int c = 0; c < 6; ++c) ok = ok && lane_sum(t[c]) > 0.0;
        return ok;
    }
};

FASTMC_INLINE bool uturn_node3(const double* __restrict va, const double* __restrict vb,
                               const double* __restrict vm, const double* __restrict ve,
                               const double* __restrict R, const double* __restrict Sa,
                               const double* __restrict Sm1, const double* __restrict Se, int64_t d) {
    UturnAcc3 acc;
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const D4 Ri = load4(R + i), Sai = load4(Sa + i), a = load4(va + i), b = load4(vb + i);
        acc.add(sub4(Ri, Sai), sub4(load4(Sm1 + i), Sai), sub4(Ri, load4(Se + i)), a, b, a, load4(vm + i),
                load4(ve + i), b);
    }
    if (i == d) return acc.all_positive4();
    acc.spill();
    for (; i < d; ++i)
        acc.add_tail(R[i] - Sa[i], Sm1[i] - Sa[i], R[i] - Se[i], va[i], vb[i], va[i], vm[i], ve[i], vb[i]);
    return acc.all_positive();
}

// Checks: tree + subtree (rho + R at vf, vn), tree + first leaf (rho + p0 at vf, v0),
// subtree + old end (R + po at vo, vn).
FASTMC_INLINE bool uturn_join3(const double* __restrict vf, const double* __restrict vn,
                               const double* __restrict v0, const double* __restrict vo,
                               const double* __restrict rho, const double* __restrict R,
                               const double* __restrict p0, const double* __restrict po, int64_t d) {
    UturnAcc3 acc;
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const D4 rh = load4(rho + i), Ri = load4(R + i), f = load4(vf + i), n = load4(vn + i);
        acc.add(add4(rh, Ri), add4(rh, load4(p0 + i)), add4(Ri, load4(po + i)), f, n, f, load4(v0 + i),
                load4(vo + i), n);
    }
    if (i == d) return acc.all_positive4();
    acc.spill();
    for (; i < d; ++i)
        acc.add_tail(rho[i] + R[i], rho[i] + p0[i], R[i] + po[i], vf[i], vn[i], vf[i], v0[i], vo[i], vn[i]);
    return acc.all_positive();
}

// Leaf records: a node-starting leaf stores S_n = R, then R += p, S_{n+1} = R and its velocity
// (record_first: leaf 0, S_0 = 0); an odd leaf stores S_n and its velocity if it ends a first
// half, then R += p (record_end_check).
FASTMC_INLINE void record_start(double* __restrict sb, double* __restrict sn, double* __restrict vb,
                                double* __restrict R, const double* __restrict p, const double* __restrict v,
                                int64_t d) {
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const D4 r = load4(R + i), r1 = add4(r, load4(p + i));
        store4(sb + i, opaque4(r));
        store4(R + i, r1);
        store4(sn + i, r1);
        store4(vb + i, opaque4(load4(v + i)));
    }
    for (; i < d; ++i) {
        sb[i] = opaque1(R[i]);
        R[i] += p[i];
        sn[i] = R[i];
        vb[i] = opaque1(v[i]);
    }
}

FASTMC_INLINE void record_first(double* __restrict sb, double* __restrict sn, double* __restrict vb,
                                double* __restrict R, const double* __restrict p, const double* __restrict v,
                                int64_t d) {
    const D4 z = zero4();
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const D4 r1 = add4(z, load4(p + i));
        store4(sb + i, opaque4(z));
        store4(R + i, r1);
        store4(sn + i, r1);
        store4(vb + i, opaque4(load4(v + i)));
    }
    for (; i < d; ++i) {
        sb[i] = opaque1(0.0);
        R[i] = 0.0 + p[i];
        sn[i] = R[i];
        vb[i] = opaque1(v[i]);
    }
}

// An odd leaf in one pass: (Rec) record S_n and its velocity, R += p, and the level-1 node check
// with rho = R - Sa at velocities va and v.
template <bool Rec>
FASTMC_INLINE bool record_end_check(double* __restrict se, double* __restrict ve, double* __restrict R,
                                    const double* __restrict p, const double* __restrict v,
                                    const double* __restrict va, const double* __restrict Sa, int64_t d) {
    D4 a4 = zero4(), b4 = zero4();
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const D4 r = load4(R + i), vi = load4(v + i), r1 = add4(r, load4(p + i));
        if (Rec) {
            store4(se + i, opaque4(r));
            store4(ve + i, opaque4(vi));
        }
        store4(R + i, r1);
        const D4 rho = sub4(r1, load4(Sa + i));
        a4 = fma4(load4(va + i), rho, a4);
        b4 = fma4(vi, rho, b4);
    }
    if (i == d) return all_sums_positive(a4, b4);
    alignas(32) double a[4], b[4];
    lanes4(a4, a);
    lanes4(b4, b);
    for (; i < d; ++i) {
        if (Rec) {
            se[i] = opaque1(R[i]);
            ve[i] = opaque1(v[i]);
        }
        R[i] += p[i];
        const double rho = R[i] - Sa[i];
        a[0] = std::fma(va[i], rho, a[0]);
        b[0] = std::fma(v[i], rho, b[0]);
    }
    return lane_sum(a) > 0.0 && lane_sum(b) > 0.0;
}

FASTMC_INLINE void add_to(double* __restrict R, const double* __restrict p, int64_t d) {
    int64_t i = 0;
    for (; i + 4 <= d; i += 4) store4(R + i, add4(load4(R + i), load4(p + i)));
    for (; i < d; ++i) R[i] += p[i];
}


// The leaf records of the subtree being built, five arrays of L = max_depth + 1 slots of s
// doubles: node-starting leaves' S_n (Sb), S_{n+1} (Sn) and velocity (Vb); first-half-ending
// leaves' S_n (Se) and velocity (Ve). R is the running momentum sum S.
struct UturnSlots {
    double *Sb, *Sn, *Vb, *Se, *Ve;
    int64_t s;

    UturnSlots(double* w, int64_t L, int64_t stride)
        : Sb(w), Sn(w + L * stride), Vb(w + 2 * L * stride), Se(w + 3 * L * stride), Ve(w + 4 * L * stride),
          s(stride) {}

    // Leaf 0 of a subtree of depth `depth`: S_0 = 0, R = S_1 = 0 + p, in slot depth.
    FASTMC_INLINE void first_leaf(int64_t depth, double* R, const double* p, const double* v, int64_t d) {
        record_first(Sb + depth * s, Sn + depth * s, Vb + depth * s, R, p, v, d);
    }

    // Leaf n >= 1: records it and checks every node it completes; false on a U-turn.
    FASTMC_INLINE bool leaf(int64_t n, int64_t depth, double* R, const double* p, const double* v, int64_t d) {
        if ((n & 1) == 0) {  // starts the nodes of levels 1..ctz(n): record S_n, S_{n+1}, v
            const int64_t j = ctz64(uint64_t(n));
            record_start(Sb + j * s, Sn + j * s, Vb + j * s, R, p, v, d);
            return true;
        }
        const int64_t c = ctz64(uint64_t(n + 1));
        const int64_t T = c < depth ? c : depth;
        // T >= 1: the level-1 node [n - 1, n] ends here, checked in the same pass as the record
        const int64_t j1 = n == 1 ? depth : ctz64(uint64_t(n - 1));
        bool valid = T < depth  // ends the first half of a node of level T + 1
                         ? record_end_check<true>(Se + T * s, Ve + T * s, R, p, v, Vb + j1 * s, Sb + j1 * s, d)
                         : record_end_check<false>(nullptr, nullptr, R, p, v, Vb + j1 * s, Sb + j1 * s, d);
        for (int64_t k = 2; k <= T && valid; ++k) {
            const int64_t a = n + 1 - (int64_t(1) << k);  // the node's first leaf
            const int64_t ja = a == 0 ? depth : ctz64(uint64_t(a));
            const int64_t h1 = k - 1;  // slot of the midpoint m and of m - 1
            valid = uturn_node3(Vb + ja * s, v, Vb + h1 * s, Ve + h1 * s, R, Sb + ja * s, Sn + h1 * s, Se + h1 * s, d);
        }
        return valid;
    }

    // The checks across the join of the tree (momentum sum rho, far end velocity vf) and the new
    // subtree of depth sub_depth (momentum sum R, new end velocity vn) that extended the end
    // (po, vo); true when the trajectory may keep doubling.
    FASTMC_INLINE bool join(const double* vf, const double* vn, const double* vo, const double* rho, const double* R,
                            const double* po, int64_t sub_depth, int64_t d) const {
        return uturn_join3(vf, vn, Vb + sub_depth * s, vo, rho, R, Sn + sub_depth * s, po, d);
    }
};

}  // namespace fastmc
