// One transition of the No-U-Turn sampler (Hoffman & Gelman 2014; Betancourt 2017), as Stan
// runs it: multinomial sampling over the trajectory, biased progressive sampling between the old
// tree and each new subtree, the generalised U-turn criterion on p_sharp = A p checked on every
// merged subtree and, across each join, on the subtrees extended by one neighbouring state.
// Twin: fastmc/_numba/hmc/nuts.py.
//
// The trajectory doubles until a U-turn, a divergence (energy error above 1000 or a non-finite
// energy) or max_depth doublings. Each subtree is integrated from the trajectory end it extends
// (p and v in place, q and g into free buffers of a StatePool, below) and built iteratively:
// leaf n completes the nodes of levels 1..ctz(n+1). The criterion needs momentum sums of nodes and of nodes extended
// by one neighbour; all are differences of the running momentum sum S_n (sum of the subtree's
// p before leaf n), so each leaf that starts a node (n even) records S_n, S_{n+1} and its
// velocity in slot ctz(n) (leaf 0: slot depth), and each leaf that ends a first half (n odd)
// records S_n and its velocity in slot ctz(n+1). A slot is overwritten only once no unfinished
// node refers to it. For a node [a, b] of level k with midpoint m:
//   node       rho = S_{b+1} - S_a          at p_sharp(a), p_sharp(b)
//   left + 1   rho = S_{m+1} - S_a          at p_sharp(a), p_sharp(m)
//   right + 1  rho = S_{b+1} - S_{m-1}      at p_sharp(m-1), p_sharp(b)
// (at level 1 the three coincide and one is checked).
// Weights are kept as (m, S), the weight sum being exp(m) S relative to exp(-H0): m = 0, so a
// leaf's weight is exp(H0 - H) itself and the same exp gives its acceptance statistic (one exp
// per leaf), unless an energy falls more than kNutsRescale below the reference, which then moves
// (a start far out in the tails). No sum can overflow; a leaf whose weight underflows (energy
// error above ~745, while the tree holds the initial state with weight 1) has probability below
// 1e-300 of being drawn. Within a subtree the candidate is drawn by streaming multinomial
// sampling (leaf n replaces it with probability w_n / sum_{j<=n} w_j), which has the same
// distribution as Stan's recursive uniform merging. The hot loops use the 4-lane type D4
// (linalg.hpp), whose lanes round as the scalar loops of the Numba twin.
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
// been issued, by selects: made at once it waited for the weight's exp, and as a branch it
// mispredicted often and discarded the next gradient's work already under way. No generator
// call lies between, so the draws are those of drawing at once (the Numba twin does, on copies).
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

// Arrays of the scratch start every pad4(d) doubles (32-byte aligned in an aligned buffer).
inline int64_t nuts_work_size(int64_t d, int64_t max_depth) { return (18 + 5 * (max_depth + 1)) * pad4(d); }

// q, g, lp: the current state (updated in place to the selected one). F: metric factor.
template <class Target>
TransitionStats nuts_transition(const Target& target, Rng& rng, double* q, double* g, double& lp, double eps,
                                int kind, const double* A, const double* F, int64_t max_depth, double* w,
                                double* twork) {
    const int64_t d = target.dim();
    const int64_t L = max_depth + 1;
    const int64_t s = pad4(d);  // array stride
    StatePool st;  // buffers 1-4 of (q, g): w[0..8) s
    st.q[0] = q;
    st.g[0] = g;
    for (int b = 1; b < 5; ++b) {
        st.q[b] = w + (2 * b - 2) * s;
        st.g[b] = w + (2 * b - 1) * s;
    }
    double* pe = w + 8 * s;  // momentum etc. at the trajectory ends, row 0 forward, row 1 backward:
    double* ve = w + 10 * s;  // (p, v = A p, u = A g)
    double* ue = w + 12 * s;
    double* po = w + 14 * s;  // momentum and velocity of the end a subtree extends
    double* vo = w + 15 * s;
    double* rho = w + 16 * s;  // momentum sum of the tree
    double* R = w + 17 * s;    // running momentum sum of the subtree
    double* Sb = w + 18 * s;   // per slot (L, d): node-starting leaves: S_n, S_{n+1}, velocity
    double* Sn = Sb + L * s;
    double* Vb = Sn + L * s;
    double* Se = Vb + L * s;  // first-half-ending leaves: S_n, velocity
    double* Ve = Se + L * s;
    const double inf = std::numeric_limits<double>::infinity();

    // momentum, velocity and kinetic energy at both ends (and rho): for the diagonal metric written
    // where they are drawn (metric_momentum, metric_start and copies in one pass, same values)
    double kin0;
    if (kind == kMetricDiag) {
        // the normals first, in a loop of their own (the generator's serial state is the
        // bottleneck; interleaved with the stores below it ran at half the rate)
        for (int64_t i = 0; i < d; ++i) pe[i] = rng.normal();
        D4 k4 = zero4();
        int64_t i = 0;
        for (; i + 4 <= d; i += 4) {
            const D4 pi = mul4(load4(F + i), load4(pe + i)), vi = mul4(load4(A + i), pi);
            store4(pe + i, pi);
            store4(pe + s + i, pi);
            store4(rho + i, pi);
            store4(ve + i, vi);
            store4(ve + s + i, vi);
            k4 = fma4(pi, vi, k4);
        }
        alignas(32) double k[4];
        lanes4(k4, k);
        for (; i < d; ++i) {
            const double pi = F[i] * pe[i], vi = A[i] * pi;
            pe[i] = pe[s + i] = rho[i] = pi;
            ve[i] = ve[s + i] = vi;
            k[0] = std::fma(pi, vi, k[0]);
        }
        kin0 = 0.5 * ((k[0] + k[1]) + (k[2] + k[3]));  // = kinetic(p, v, d)
    } else {
        metric_momentum(rng, kind, d, F, pe);
        kin0 = metric_start(kind, d, A, pe, g, ve, ue);
        copy4(pe + s, pe, d);
        copy4(ve + s, ve, d);
        copy4(rho, pe, d);
        copy4(ue + s, ue, d);
    }
    const double H0 = -lp + kin0;
    double m_tree = 0.0, s_tree = 1.0;  // tree weight exp(m_tree) s_tree, relative to exp(-H0)
    double lp_s = lp, h_sample = H0, sum_metro = 0.0;
    int64_t depth = 0, n_leap = 0;
    bool divergent = false, nonfinite = false;

    while (depth < max_depth) {
        const int e = rng.uniform() > 0.5 ? 0 : 1;
        const double eps_s = e == 0 ? eps : -eps;
        double* pw = pe + e * s;
        double* vw = ve + e * s;
        double* uw = ue + e * s;
        copy4(po, pw, d);
        copy4(vo, vw, d);
        double lpw = 0.0;
        const int64_t n_leaves = int64_t(1) << depth;
        double m_sub = m_tree, s_sub = 0.0, lp_c = 0.0, h_c = 0.0, c_sub = H0 - m_sub;
        bool valid = true;
        st.cand = st.sel;  // none yet (adds no buffer in use)
        PendingDraw draw;
        for (int64_t n = 0; n < n_leaves; ++n) {
            double kin;
            const int b = st.free_buffer(), a = st.end[e];
            lpw = metric_leapfrog_to(target, st.q[a], st.q[b], pw, st.g[a], st.g[b], vw, uw, eps_s, kind, A, twork,
                                     kin);
            ++n_leap;
            draw.resolve(rng, a, st.cand, lp_c, h_c);  // leaf n - 1, in buffer a
            st.end[e] = b;
            double h = -lpw + kin;
            if (!std::isfinite(h)) {
                h = inf;
                nonfinite = true;
            }
            if (h - H0 > kMaxEnergyError) {  // its weight exp(H0 - h) is exactly 0 in double
                divergent = true;
                valid = false;
                break;
            }
            // weight exp(x), x = wt - m_sub with wt = H0 - h, or (an energy drop of more than
            // kNutsRescale below the reference, rare) the new reference m_sub = wt and a rescaled
            // sum. x is formed as (lp + (H0 - m_sub)) - kin: one subtraction after the kinetic
            // energy, the last value of the leapfrog, instead of three before the exp (NUTS
            // 1-2 ns per leaf faster on T2: the time from a gradient to its weight is not hidden)
            const double wt = H0 - h;
            const double x = (lpw + c_sub) - kin;
            double w_rel = 1.0;
            if (x <= kNutsRescale) {
                w_rel = std::exp(x);
                s_sub += w_rel;
                // min(1, exp(wt)): with m_sub = 0, w_rel is exp(wt) up to rounding.
                // Not std::fmin: GCC calls libm for it (4 ns per leaf), and w_rel is never NaN.
                sum_metro += m_sub == 0.0 ? (w_rel < 1.0 ? w_rel : 1.0) : (wt > 0.0 ? 1.0 : std::exp(wt));
            } else {
                s_sub = s_sub * std::exp(-x) + 1.0;
                m_sub = wt;
                c_sub = H0 - m_sub;
                sum_metro += 1.0;
            }
            if (n == 0) {  // the first candidate; the running sum starts here: S_0 = 0, R = S_1 = 0 + p
                st.cand = b;
                lp_c = lpw;
                h_c = h;
                record_first(Sb + depth * s, Sn + depth * s, Vb + depth * s, R, pw, vw, d);
                continue;
            }
            // drawn for or against after the next leaf's leapfrog (see StatePool)
            draw = {w_rel, s_sub, lpw, h, true};
            if ((n & 1) == 0) {  // starts the nodes of levels 1..ctz(n): record S_n, S_{n+1}, v
                const int64_t j = ctz64(uint64_t(n));
                record_start(Sb + j * s, Sn + j * s, Vb + j * s, R, pw, vw, d);
                continue;
            }
            const int64_t c = ctz64(uint64_t(n + 1));
            const int64_t T = c < depth ? c : depth;
            // T >= 1: the level-1 node [n - 1, n] ends here, checked in the same pass as the record
            const int64_t j1 = n == 1 ? depth : ctz64(uint64_t(n - 1));
            if (T < depth)  // ends the first half of a node of level T + 1
                valid = record_end_check<true>(Se + T * s, Ve + T * s, R, pw, vw, Vb + j1 * s, Sb + j1 * s, d);
            else
                valid = record_end_check<false>(nullptr, nullptr, R, pw, vw, Vb + j1 * s, Sb + j1 * s, d);
            for (int64_t k = 2; k <= T && valid; ++k) {
                const int64_t a = n + 1 - (int64_t(1) << k);  // the node's first leaf
                const int64_t ja = a == 0 ? depth : ctz64(uint64_t(a));
                const int64_t h1 = k - 1;  // slot of the midpoint m and of m - 1
                valid = uturn_node3(Vb + ja * s, vw, Vb + h1 * s, Ve + h1 * s, R, Sb + ja * s, Sn + h1 * s,
                                    Se + h1 * s, d);
            }
            if (!valid) break;
        }
        draw.resolve(rng, st.end[e], st.cand, lp_c, h_c);  // the last leaf
        if (!valid) break;
        const int64_t sub_depth = depth;
        ++depth;
        // biased progressive sampling: prefer the new subtree (weight ratio exp(m_sub - m_tree) s_sub / s_tree).
        // The uniform is drawn even when the ratio exceeds 1 and the choice is made by selects, not a
        // branch: the next subtree's direction and first leapfrog then wait neither for the ratio
        // (the last leaf's exp, a division) nor for a coin-flip branch that mispredicts about half
        // the time and, resolved that late, discarded the next gradient's work under way.
        const double x = m_sub - m_tree;  // >= 0
        const double ex = x > 0.0 ? std::exp(-x) : 1.0;
        const double ratio = x > 0.0 ? s_sub / (s_tree * ex) : s_sub / s_tree;
        const double u_prog = rng.uniform();
        const bool take = (ratio > 1.0) | (u_prog < ratio);
        st.sel = take ? st.cand : st.sel;
        lp_s = take ? lp_c : lp_s;
        h_sample = take ? h_c : h_sample;
        if (x > 0.0) {
            s_tree = s_tree * ex + s_sub;
            m_tree = m_sub;
        } else {
            s_tree += s_sub;
        }
        const int f = 1 - e;
        const bool persist =
            uturn_join3(ve + f * s, vw, Vb + sub_depth * s, vo, rho, R, Sn + sub_depth * s, po, d);
        add_to(rho, R, d);
        if (!persist) break;
    }
    if (st.sel != 0) {  // the selected state is not in the caller's arrays
        copy4(q, st.q[st.sel], d);
        copy4(g, st.g[st.sel], d);
    }
    lp = lp_s;
    return {sum_metro / static_cast<double>(n_leap), h_sample, depth, n_leap, divergent, nonfinite};
}

}  // namespace fastmc
