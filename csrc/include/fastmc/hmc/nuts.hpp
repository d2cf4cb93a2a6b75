// One transition of the No-U-Turn sampler (Hoffman & Gelman 2014; Betancourt 2017), as Stan
// runs it: multinomial sampling over the trajectory, biased progressive sampling between the old
// tree and each new subtree, the generalised U-turn criterion on p_sharp = A p checked on every
// merged subtree and, across each join, on the subtrees extended by one neighbouring state.
// Twin: fastmc/_numba/hmc/nuts.py.
//
// The parts, each below: the trajectory's ends and momentum sums (Trajectory), the states of the
// trajectory in a pool of buffers (StatePool) with the deferred candidate draw (PendingDraw), the
// weights (SubtreeWeight), the U-turn criterion over leaf records (UturnSlots, uturn.hpp), the
// subtree built leaf by leaf (build_subtree) and the doubling loop (nuts_transition). The
// trajectory doubles until a U-turn, a divergence (energy error above 1000 or a non-finite
// energy) or max_depth doublings; each subtree is integrated from the trajectory end it extends
// (p and v in place, q and g into free buffers of the pool) and built iteratively: leaf n
// completes the nodes of levels 1..ctz(n+1).
// Weights are kept as (m, S), the weight sum being exp(m) S relative to exp(-H0): m = 0, so a
// leaf's weight is exp(H0 - H) itself and the same exp gives its acceptance statistic (one exp
// per leaf), unless an energy falls more than kNutsRescale below the reference, which then moves
// (a start far out in the tails). No sum can overflow; a leaf whose weight underflows (energy
// error above ~745, while the tree holds the initial state with weight 1) has probability below
// 1e-300 of being drawn. The hot loops use the 4-lane type D4 (linalg.hpp), whose lanes round as
// the scalar loops of the Numba twin.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "fastmc/core/linalg.hpp"
#include "fastmc/core/rng.hpp"
#include "fastmc/core/scratch.hpp"
#include "fastmc/hmc/integrator.hpp"
#include "fastmc/hmc/metric.hpp"
#include "fastmc/hmc/transition.hpp"
#include "fastmc/hmc/uturn.hpp"

namespace fastmc {

// Leaf weights exp(H0 - H) are kept relative to a reference exp(m), m = 0 until a leaf's log
// weight exceeds m + kNutsRescale: every relative weight is below exp(500), so the sums of up to
// 2^300 of them stay finite.
constexpr double kNutsRescale = 500.0;

// The states (q, g) of the trajectory live in five buffers, 0 being the caller's q and g: the
// selected state, the subtree's candidate, the two trajectory ends, and the one the next leapfrog
// writes into (metric_leapfrog_to), so that no state is copied until the selected one, if it is
// not in buffer 0, is copied to the caller's arrays at the end: a leaf becomes the candidate
// by its buffer's index, and a buffer no role refers to is free. A leaf's draw for or against
// becoming the candidate (probability w_rel / s_sub) is made after the next leaf's leapfrog has
// been issued, by selects, so that neither the weight's exp nor a mispredicted branch holds up
// the next gradient. No generator call lies between, so the draws are those of drawing at once.
struct StatePool {
    double* q[5];
    double* g[5];
    int sel = 0, cand = 0, end[2] = {0, 0};
    // a buffer none of the four roles uses (five buffers, at most four in use)
    FASTMC_INLINE int free_buffer() const {
        const unsigned used = (1u << sel) | (1u << cand) | (1u << end[0]) | (1u << end[1]);
        return __builtin_ctz(~used);
    }
};

// The last leaf's draw until it is made: its weight, the subtree's weight sum then, lp and H.
struct PendingDraw {
    double w = 0.0, s = 0.0, lp = 0.0, h = 0.0;
    bool pending = false;
    // the leaf (in buffer b) becomes the candidate with probability w / s
    FASTMC_INLINE void resolve(Rng& rng, int b, int& cand, double& lp_c, double& h_c) {
        if (!pending) return;
        pending = false;
        const bool take = rng.uniform() * s < w;
        cand = take ? b : cand;
        lp_c = take ? lp : lp_c;
        h_c = take ? h : h_c;
    }
};

// The weight sum of a subtree, exp(m) s relative to exp(-H0), with c = H0 - m.
struct SubtreeWeight {
    double m, s, c;

    // Adds a leaf of log density lpw, kinetic energy kin and energy h, and its acceptance
    // probability to sum_metro; returns the leaf's weight relative to exp(m). The weight is
    // exp(x), x = wt - m with wt = H0 - h, or (an energy drop of more than kNutsRescale below the
    // reference, rare) the reference moves to m = wt and the sum is rescaled. x is formed as
    // (lp + c) - kin: one subtraction after the kinetic energy, the leapfrog's last value, since
    // the time from a gradient to its weight is on the leaf's critical path.
    FASTMC_INLINE double add_leaf(double H0, double lpw, double kin, double h, double& sum_metro) {
        const double wt = H0 - h;
        const double x = (lpw + c) - kin;
        if (x <= kNutsRescale) {
            const double w_rel = std::exp(x);
            s += w_rel;
            // min(1, exp(wt)): with m = 0, w_rel is exp(wt) up to rounding. Not std::fmin, which
            // GCC leaves as a libm call; w_rel is never NaN.
            sum_metro += m == 0.0 ? (w_rel < 1.0 ? w_rel : 1.0) : (wt > 0.0 ? 1.0 : std::exp(wt));
            return w_rel;
        }
        s = s * std::exp(-x) + 1.0;
        m = wt;
        c = H0 - m;
        sum_metro += 1.0;
        return 1.0;
    }
};

// The tree's two ends (row 0 forward, row 1 backward: momentum p, velocity v = A p, and u = A g
// for the dense metric), the end a new subtree extends as it was before (po, vo), the momentum sum
// of the tree (rho) and the running one of the subtree being built (R). Arrays every s doubles.
struct Trajectory {
    double *p, *v, *u, *po, *vo, *rho, *R;
    int64_t s;

    // Fresh momentum at the start (q, g): both ends and rho set to it; returns the kinetic energy.
    // For the diagonal metric momentum, velocity, copies and energy are written in one pass (the
    // values of metric_momentum and metric_start), after the normals in a loop of their own: the
    // generator's serial state is the bottleneck there.
    FASTMC_INLINE double start(Rng& rng, int kind, int64_t d, const double* A, const double* F, const double* g) {
        if (kind != kMetricDiag) {
            metric_momentum(rng, kind, d, F, p);
            const double kin0 = metric_start(kind, d, A, p, g, v, u);
            copy4(p + s, p, d);
            copy4(v + s, v, d);
            copy4(rho, p, d);
            copy4(u + s, u, d);
            return kin0;
        }
        for (int64_t i = 0; i < d; ++i) p[i] = rng.normal();
        D4 k4 = zero4();
        int64_t i = 0;
        for (; i + 4 <= d; i += 4) {
            const D4 pi = mul4(load4(F + i), load4(p + i)), vi = mul4(load4(A + i), pi);
            store4(p + i, pi);
            store4(p + s + i, pi);
            store4(rho + i, pi);
            store4(v + i, vi);
            store4(v + s + i, vi);
            k4 = fma4(pi, vi, k4);
        }
        alignas(32) double k[4];
        lanes4(k4, k);
        for (; i < d; ++i) {
            const double pi = F[i] * p[i], vi = A[i] * pi;
            p[i] = p[s + i] = rho[i] = pi;
            v[i] = v[s + i] = vi;
            k[0] = std::fma(pi, vi, k[0]);
        }
        return 0.5 * ((k[0] + k[1]) + (k[2] + k[3]));  // = kinetic(p, v, d)
    }
};

// What a transition accumulates over all its leaves.
struct NutsTotals {
    double sum_metro = 0.0;  // acceptance probabilities of the leaves
    double max_err = 0.0;    // the leaf energy error largest in absolute value (divergent ones included)
    int64_t n_leap = 0;
    bool divergent = false, nonfinite = false;
};

// The subtree's candidate state: lp and energy (its (q, g) is buffer StatePool::cand).
struct Candidate {
    double lp = 0.0, h = 0.0;
};

// Arrays of the scratch start every pad4(d) doubles (32-byte aligned in an aligned buffer).
inline int64_t nuts_work_size(int64_t d, int64_t max_depth) { return (18 + 5 * (max_depth + 1)) * pad4(d); }

// Builds the subtree of 2^depth leaves extending end e of the trajectory by leapfrog steps of
// signed size eps_s: leaf n is integrated from the end into a free buffer of the pool, weighed
// (w), drawn as the subtree's candidate by streaming multinomial sampling (leaf n replaces the
// candidate with probability w_n / sum_{j<=n} w_j, the distribution of Stan's recursive uniform
// merging) and recorded for the U-turn checks of the nodes it completes. Returns false when the
// subtree diverged or turned (it is then discarded).
template <class Target>
FASTMC_INLINE bool build_subtree(const Target& target, Rng& rng, StatePool& st, Trajectory& tr, UturnSlots& slots,
                                 int e, double eps_s, int64_t depth, double H0, int kind, const double* A,
                                 double* twork, SubtreeWeight& wsub, Candidate& cand, NutsTotals& tot) {
    const int64_t d = target.dim(), s = tr.s;
    const double inf = std::numeric_limits<double>::infinity();
    double* pw = tr.p + e * s;
    double* vw = tr.v + e * s;
    double* uw = tr.u + e * s;
    const int64_t n_leaves = int64_t(1) << depth;
    bool valid = true;
    st.cand = st.sel;  // none yet (adds no buffer in use)
    PendingDraw draw;
    for (int64_t n = 0; n < n_leaves; ++n) {
        double kin;
        const int b = st.free_buffer(), a = st.end[e];
        const double lpw = metric_leapfrog_to(target, st.q[a], st.q[b], pw, st.g[a], st.g[b], vw, uw, eps_s, kind, A,
                                              twork, kin);
        ++tot.n_leap;
        draw.resolve(rng, a, st.cand, cand.lp, cand.h);  // leaf n - 1, in buffer a
        st.end[e] = b;
        double h = -lpw + kin;
        if (!std::isfinite(h)) {
            h = inf;
            tot.nonfinite = true;
        }
        const double err = h - H0;
        if (std::fabs(err) > std::fabs(tot.max_err)) tot.max_err = err;
        if (err > kMaxEnergyError) {  // its weight exp(H0 - h) is exactly 0 in double
            tot.divergent = true;
            valid = false;
            break;
        }
        const double w_rel = wsub.add_leaf(H0, lpw, kin, h, tot.sum_metro);
        if (n == 0) {  // the first candidate; the running momentum sum starts here
            st.cand = b;
            cand.lp = lpw;
            cand.h = h;
            slots.first_leaf(depth, tr.R, pw, vw, d);
            continue;
        }
        draw = {w_rel, wsub.s, lpw, h, true};  // drawn for or against after the next leapfrog (StatePool)
        valid = slots.leaf(n, depth, tr.R, pw, vw, d);
        if (!valid) break;
    }
    draw.resolve(rng, st.end[e], st.cand, cand.lp, cand.h);  // the last leaf
    return valid;
}

// One transition. q, g, lp: the current state (updated in place to the selected one). A: the
// inverse metric in its product layout, F its factor. w: nuts_work_size doubles.
template <class Target>
TransitionStats nuts_transition(const Target& target, Rng& rng, double* q, double* g, double& lp, double eps,
                                int kind, const double* A, const double* F, int64_t max_depth, double* w,
                                double* twork) {
    const int64_t d = target.dim();
    const int64_t s = pad4(d);  // array stride
    StatePool st;  // buffers 1-4 of (q, g): w[0..8) s
    st.q[0] = q;
    st.g[0] = g;
    for (int b = 1; b < 5; ++b) {
        st.q[b] = w + (2 * b - 2) * s;
        st.g[b] = w + (2 * b - 1) * s;
    }
    Trajectory tr{w + 8 * s, w + 10 * s, w + 12 * s, w + 14 * s, w + 15 * s, w + 16 * s, w + 17 * s, s};
    UturnSlots slots(w + 18 * s, max_depth + 1, s);
    const double H0 = -lp + tr.start(rng, kind, d, A, F, g);
    double m_tree = 0.0, s_tree = 1.0;  // tree weight exp(m_tree) s_tree, relative to exp(-H0)
    double lp_s = lp, h_sample = H0;
    int64_t depth = 0;
    NutsTotals tot;

    while (depth < max_depth) {
        const int e = rng.uniform() > 0.5 ? 0 : 1;
        double* pw = tr.p + e * s;
        double* vw = tr.v + e * s;
        copy4(tr.po, pw, d);
        copy4(tr.vo, vw, d);
        SubtreeWeight wsub{m_tree, 0.0, H0 - m_tree};
        Candidate cand;
        if (!build_subtree(target, rng, st, tr, slots, e, e == 0 ? eps : -eps, depth, H0, kind, A, twork, wsub, cand,
                           tot))
            break;
        const int64_t sub_depth = depth;
        ++depth;
        // biased progressive sampling: prefer the new subtree (weight ratio exp(m_sub - m_tree)
        // s_sub / s_tree). The uniform is drawn even when the ratio exceeds 1 and the choice is made
        // by selects, not a branch, so that the next subtree's direction and first leapfrog wait
        // neither for the ratio (the last leaf's exp, a division) nor for a coin-flip branch.
        const double x = wsub.m - m_tree;  // >= 0
        const double ex = x > 0.0 ? std::exp(-x) : 1.0;
        const double ratio = x > 0.0 ? wsub.s / (s_tree * ex) : wsub.s / s_tree;
        const double u_prog = rng.uniform();
        const bool take = (ratio > 1.0) | (u_prog < ratio);
        st.sel = take ? st.cand : st.sel;
        lp_s = take ? cand.lp : lp_s;
        h_sample = take ? cand.h : h_sample;
        if (x > 0.0) {
            s_tree = s_tree * ex + wsub.s;
            m_tree = wsub.m;
        } else {
            s_tree += wsub.s;
        }
        const bool persist = slots.join(tr.v + (1 - e) * s, vw, tr.vo, tr.rho, tr.R, tr.po, sub_depth, d);
        add_to(tr.rho, tr.R, d);
        if (!persist) break;
    }
    if (st.sel != 0) {  // the selected state is not in the caller's arrays
        copy4(q, st.q[st.sel], d);
        copy4(g, st.g[st.sel], d);
    }
    lp = lp_s;
    return {tot.sum_metro / static_cast<double>(tot.n_leap), h_sample, h_sample - H0, tot.max_err, depth, tot.n_leap,
            tot.divergent, tot.nonfinite};
}

}  // namespace fastmc
