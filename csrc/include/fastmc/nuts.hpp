// One transition of the No-U-Turn sampler (Hoffman & Gelman 2014; Betancourt 2017), as Stan
// runs it: multinomial sampling over the trajectory, biased progressive sampling between the old
// tree and each new subtree, the generalised U-turn criterion on p_sharp = A p checked on every
// merged subtree and, across each join, on the subtrees extended by one neighbouring state.
// Twin: fastmc/_numba/nuts.py.
//
// The trajectory doubles until a U-turn, a divergence (energy error above 1000 or non-finite)
// or max_depth doublings. Subtrees are built iteratively: leaf n of a subtree completes the
// nodes of levels 1..ctz(n+1); each level keeps the momentum, p_sharp and running momentum sum
// at its node's first leaf and at the last leaf of its first half, which is all the criterion
// needs. Within a subtree the candidate is drawn by streaming multinomial sampling (leaf n
// replaces it with probability w_n / sum_{m<=n} w_m), which has the same distribution as
// Stan's recursive uniform merging.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "linalg.hpp"
#include "metric.hpp"
#include "rng.hpp"

namespace fastmc {

constexpr double kNutsMaxEnergyError = 1000.0;

struct TransitionStats {
    double accept_stat;  // mean Metropolis acceptance probability over the trajectory's states
    double energy;       // Hamiltonian at the selected state
    int64_t depth;       // tree depth
    int64_t n_leapfrog;  // leapfrog steps (= gradient evaluations)
    bool divergent;
};

inline double log_add_exp(double a, double b) {
    const double m = a > b ? a : b;
    if (m == -std::numeric_limits<double>::infinity()) return m;
    const double lo = a > b ? b : a;
    return m + std::log1p(std::exp(lo - m));
}

// Generalised no-U-turn criterion: both ends' velocities still point along the summed momentum.
inline bool no_uturn(const double* ps_minus, const double* ps_plus, const double* rho, int64_t d) {
    return dot4(ps_plus, rho, d) > 0.0 && dot4(ps_minus, rho, d) > 0.0;
}

inline int ctz64(uint64_t x) { return __builtin_ctzll(x); }

inline int64_t nuts_work_size(int64_t d, int64_t max_depth) { return 17 * d + 5 * (max_depth + 1) * d; }

// q, g, lp: the current state (updated in place to the selected one). F: metric factor.
template <class Target>
TransitionStats nuts_transition(const Target& target, Rng& rng, double* q, double* g, double& lp, double eps,
                                int kind, const double* A, const double* F, int64_t max_depth, double* w,
                                double* twork) {
    const int64_t d = target.dim();
    const int64_t L = max_depth + 1;
    double* qw = w;  // the state being integrated
    double* pw = w + d;
    double* gw = w + 2 * d;
    double* vw = w + 3 * d;
    double* qe = w + 4 * d;  // trajectory ends: row 0 forward, row 1 backward
    double* pe = w + 6 * d;
    double* ge = w + 8 * d;
    double* ve = w + 10 * d;
    double* qc = w + 12 * d;  // the subtree's candidate
    double* gc = w + 13 * d;
    double* rho = w + 14 * d;  // momentum sum of the tree
    double* R = w + 15 * d;    // running momentum sum of the subtree
    double* tmp = w + 16 * d;
    double* beg_p = w + 17 * d;  // per level (L, d): node's first leaf
    double* beg_ps = beg_p + L * d;
    double* beg_R = beg_ps + L * d;  // running sum before the node's first leaf
    double* end_p = beg_R + L * d;   // last leaf of a first half
    double* end_ps = end_p + L * d;
    const double inf = std::numeric_limits<double>::infinity();

    metric_momentum(rng, kind, d, F, pw);
    metric_mul(kind, d, A, pw, vw);
    const double H0 = -lp + kinetic(pw, vw, d);
    double lpe[2] = {lp, lp};
    for (int e = 0; e < 2; ++e)
        for (int64_t i = 0; i < d; ++i) {
            qe[e * d + i] = q[i];
            pe[e * d + i] = pw[i];
            ge[e * d + i] = g[i];
            ve[e * d + i] = vw[i];
        }
    for (int64_t i = 0; i < d; ++i) rho[i] = pw[i];
    double lsw = 0.0, h_sample = H0, sum_metro = 0.0;
    int64_t depth = 0, n_leap = 0;
    bool divergent = false;

    while (depth < max_depth) {
        const int e = rng.uniform() > 0.5 ? 0 : 1;
        const double eps_s = e == 0 ? eps : -eps;
        for (int64_t i = 0; i < d; ++i) {
            qw[i] = qe[e * d + i];
            pw[i] = pe[e * d + i];
            gw[i] = ge[e * d + i];
            vw[i] = ve[e * d + i];
            R[i] = 0.0;
        }
        double lpw = lpe[e];
        const int64_t n_leaves = int64_t(1) << depth;
        double lsw_sub = -inf, lp_c = 0.0, h_c = 0.0;
        bool valid = true;
        for (int64_t n = 0; n < n_leaves; ++n) {
            lpw = metric_leapfrog(target, qw, pw, gw, vw, eps_s, kind, A, twork);
            ++n_leap;
            double h = -lpw + kinetic(pw, vw, d);
            if (std::isnan(h)) h = inf;
            if (h - H0 > kNutsMaxEnergyError) divergent = true;
            const double wt = H0 - h;
            sum_metro += wt > 0.0 ? 1.0 : std::exp(wt);
            const double lsw_new = log_add_exp(lsw_sub, wt);
            const bool take = n == 0 || rng.uniform() < std::exp(wt - lsw_new);
            lsw_sub = lsw_new;
            if (take) {
                for (int64_t i = 0; i < d; ++i) {
                    qc[i] = qw[i];
                    gc[i] = gw[i];
                }
                lp_c = lpw;
                h_c = h;
            }
            if (divergent) {
                valid = false;
                break;
            }
            const int64_t top = n == 0 ? depth : (ctz64(uint64_t(n)) < depth ? ctz64(uint64_t(n)) : depth);
            for (int64_t k = 0; k <= top; ++k)
                for (int64_t i = 0; i < d; ++i) {
                    beg_p[k * d + i] = pw[i];
                    beg_ps[k * d + i] = vw[i];
                    beg_R[k * d + i] = R[i];
                }
            for (int64_t i = 0; i < d; ++i) R[i] += pw[i];
            const int64_t T = ctz64(uint64_t(n + 1)) < depth ? ctz64(uint64_t(n + 1)) : depth;
            if (T < depth)
                for (int64_t i = 0; i < d; ++i) {
                    end_p[T * d + i] = pw[i];
                    end_ps[T * d + i] = vw[i];
                }
            for (int64_t k = 1; k <= T && valid; ++k) {
                const double* bR = beg_R + k * d;
                const double* hR = beg_R + (k - 1) * d;  // running sum before the second half
                for (int64_t i = 0; i < d; ++i) tmp[i] = R[i] - bR[i];
                bool ok = no_uturn(beg_ps + k * d, vw, tmp, d);
                if (ok) {
                    for (int64_t i = 0; i < d; ++i) tmp[i] = (hR[i] - bR[i]) + beg_p[(k - 1) * d + i];
                    ok = no_uturn(beg_ps + k * d, beg_ps + (k - 1) * d, tmp, d);
                }
                if (ok) {
                    for (int64_t i = 0; i < d; ++i) tmp[i] = (R[i] - hR[i]) + end_p[(k - 1) * d + i];
                    ok = no_uturn(end_ps + (k - 1) * d, vw, tmp, d);
                }
                valid = ok;
            }
            if (!valid) break;
        }
        if (!valid) break;
        const int64_t sub_depth = depth;
        ++depth;
        // biased progressive sampling: prefer the new subtree
        const bool take = lsw_sub > lsw || rng.uniform() < std::exp(lsw_sub - lsw);
        if (take) {
            for (int64_t i = 0; i < d; ++i) {
                q[i] = qc[i];
                g[i] = gc[i];
            }
            lp = lp_c;
            h_sample = h_c;
        }
        lsw = log_add_exp(lsw, lsw_sub);
        const int f = 1 - e;
        const double* B_p = beg_p + sub_depth * d;  // the subtree's first leaf
        const double* B_ps = beg_ps + sub_depth * d;
        for (int64_t i = 0; i < d; ++i) tmp[i] = rho[i] + R[i];
        bool persist = no_uturn(ve + f * d, vw, tmp, d);
        if (persist) {
            for (int64_t i = 0; i < d; ++i) tmp[i] = rho[i] + B_p[i];
            persist = no_uturn(ve + f * d, B_ps, tmp, d);
        }
        if (persist) {
            for (int64_t i = 0; i < d; ++i) tmp[i] = R[i] + pe[e * d + i];
            persist = no_uturn(ve + e * d, vw, tmp, d);
        }
        for (int64_t i = 0; i < d; ++i) {
            rho[i] += R[i];
            qe[e * d + i] = qw[i];
            pe[e * d + i] = pw[i];
            ge[e * d + i] = gw[i];
            ve[e * d + i] = vw[i];
        }
        lpe[e] = lpw;
        if (!persist) break;
    }
    return {sum_metro / static_cast<double>(n_leap), h_sample, depth, n_leap, divergent};
}

}  // namespace fastmc
