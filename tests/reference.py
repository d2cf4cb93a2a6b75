"""Slow NumPy oracles the kernels are checked against."""
import math

import numpy as np
from scipy import stats
from scipy.linalg import solve_triangular
from scipy.special import logsumexp


_FROZEN = {}


def _component_logpdfs(mix, X):
    """log w_k + log N(x; mu_k, Sigma_k) by scipy for the components with w_k > 0: (K', n), with
    their means and covariances."""
    X = np.atleast_2d(X)
    if id(mix) not in _FROZEN:  # scipy factorises each covariance once per frozen distribution
        _FROZEN[id(mix)] = (mix, [(np.log(w), stats.multivariate_normal(m, S), m, S)
                                  for w, m, S in zip(mix.weights, mix.means, mix.covs) if w > 0])
    comps = _FROZEN[id(mix)][1]
    logs = np.reshape([lw + dist.logpdf(X) for lw, dist, _, _ in comps], (len(comps), X.shape[0]))
    return logs, [(m, S) for _, _, m, S in comps]


def mixture_logpdf(mix, X):
    """log sum_k w_k N(x; mu_k, Sigma_k) by scipy, one component at a time."""
    return logsumexp(_component_logpdfs(mix, X)[0], axis=0)


def mixture_grad(mix, X):
    """grad log p(x) = -sum_k r_k(x) Sigma_k^-1 (x - mu_k), r_k the responsibilities: (n, d)."""
    X = np.atleast_2d(X)
    logs, comps = _component_logpdfs(mix, X)
    r = np.exp(logs - logsumexp(logs, axis=0))
    return -sum(r[k][:, None] * np.linalg.solve(S, (X - m).T).T for k, (m, S) in enumerate(comps))


def central_diff_grad(f, x, h=1e-5):
    """Central differences of a scalar function f at x (d,)."""
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def batch_means_mcse(y, n_batches=40):
    """Monte Carlo standard error of the mean of y (chains, n) by batch means over all chains.

    Independent of fastmc.diagnostics, so the sampler tests do not lean on the code they judge."""
    chains, n = y.shape
    b = n // n_batches
    means = y[:, : b * n_batches].reshape(chains, n_batches, b).mean(axis=2).ravel()
    return means.std(ddof=1) / np.sqrt(means.size)


def random_spd(rng, d, lo=0.25, hi=4.0):
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    Q = Q * np.sign(np.diag(R))
    lam = np.exp(rng.uniform(np.log(lo), np.log(hi), size=d))
    S = (Q * lam) @ Q.T
    return 0.5 * (S + S.T)


# ============================================================================================
# A slow, readable reference of fastmc's HMC and NUTS transitions.
#
# It draws the same random numbers in the same order as the kernels (csrc/include/fastmc/
# {rng,metric,static_hmc,nuts,adapt}.hpp and their Numba twins) and makes the same decisions, but
# is written the textbook way: plain Python integers for the generator, NumPy vectors, Stan's
# recursive tree building and weights exp(H0 - H) as plain floats. Results therefore agree with
# the kernels to rounding (the kernels order their sums for SIMD lanes), not bit for bit.
#
# The order of generator calls in one transition:
#   static HMC: d normals for the momentum, the leapfrog steps, one uniform for the Metropolis test.
#   NUTS:       d normals for the momentum; then per doubling one uniform for the direction
#               (forward when u > 0.5), and inside the new subtree one uniform per leaf after its
#               first (streaming multinomial choice of the subtree's candidate, made for every leaf
#               that is not divergent, even one at which a U-turn then ends the subtree); after a
#               valid subtree one uniform for biased progressive sampling, drawn even when the
#               subtree is taken for sure.
#   engine:     with step_size_jitter > 0, one uniform before each transition for its step size.
# ============================================================================================

_MASK64 = (1 << 64) - 1


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & _MASK64


def _ziggurat():
    """Layer edges and exp(-x^2/2) at them, as rng.hpp computes them (256 layers, Marsaglia & Tsang)."""
    R, V = 3.6541528853610088, 0.00492867323399
    x = [0.0] * 257
    x[0] = V / math.exp(-0.5 * R * R)
    x[1] = R
    for i in range(1, 255):
        x[i + 1] = math.sqrt(-2.0 * math.log(V / x[i] + math.exp(-0.5 * x[i] * x[i])))
    x[256] = 0.0
    return x, [math.exp(-0.5 * v * v) for v in x]


ZIGGURAT_X, ZIGGURAT_F = _ziggurat()


class Xoshiro256:
    """xoshiro256** (Blackman & Vigna) on Python integers, with the kernels' uniform and normal.

    ``state``: four 64-bit words, e.g. a row of ``fastmc.adaptation.rng_states(seed, chains)``."""

    def __init__(self, state):
        self.s = [int(w) & _MASK64 for w in state]
        assert len(self.s) == 4

    def next(self):
        s = self.s
        result = (_rotl((s[1] * 5) & _MASK64, 7) * 9) & _MASK64
        t = (s[1] << 17) & _MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self):
        """[0, 1) from the top 53 bits."""
        return (self.next() >> 11) * 2.0**-53

    def uniform_open(self):
        """(0, 1)."""
        return ((self.next() >> 11) + 0.5) * 2.0**-53

    def normal(self):
        """Ziggurat: bits 0-7 of a word pick the layer, bit 8 the sign, bits 11-63 the position."""
        X, F = ZIGGURAT_X, ZIGGURAT_F
        while True:
            u = self.next()
            i = u & 0xFF
            neg = (u >> 8) & 1
            x = (u >> 11) * 2.0**-53 * X[i]
            if x < X[i + 1]:  # inside the layer's rectangle
                return -x if neg else x
            if i == 0:  # the base layer's tail beyond R
                R = X[1]
                while True:
                    a = -math.log(self.uniform_open()) / R
                    b = -math.log(self.uniform_open())
                    if not (b + b < a * a):
                        return -(R + a) if neg else R + a
            if F[i + 1] + self.uniform() * (F[i] - F[i + 1]) < math.exp(-0.5 * x * x):  # the wedge
                return -x if neg else x


class MixtureDensity:
    """log pi and its gradient for a GaussianMixture's weights, means and covariances, by NumPy
    (independent of the kernels' precision-matrix code): ``(q) -> (lp, grad)``."""

    def __init__(self, mix):
        self.comps = []
        for w, m, S in zip(mix.weights, mix.means, mix.covs):
            if w > 0:
                _, logdet = np.linalg.slogdet(2 * np.pi * S)
                self.comps.append((np.log(w) - 0.5 * logdet, np.asarray(m, float), np.linalg.inv(S)))

    def __call__(self, q):
        terms, pulls = [], []
        for c, m, P in self.comps:
            z = P @ (q - m)
            terms.append(c - 0.5 * (q - m) @ z)
            pulls.append(-z)
        terms = np.array(terms)
        lp = logsumexp(terms)
        r = np.exp(terms - lp)  # responsibilities
        return float(lp), sum(rk * gk for rk, gk in zip(r, pulls))


class EuclideanMetric:
    """Inverse metric A = M^-1, diagonal (d,) or dense (d, d). Momentum p ~ N(0, M): d standard
    normals z in index order, then p = z / sqrt(A) (diagonal) or the solution of L^T p = z with
    L the lower Cholesky factor of A (dense: Cov p = L^-T L^-1 = A^-1). K(p) = p^T A p / 2."""

    def __init__(self, A):
        self.A = np.asarray(A, dtype=float)
        self.dense = self.A.ndim == 2
        self.L = np.linalg.cholesky(self.A) if self.dense else None

    def momentum(self, rng):
        z = np.array([rng.normal() for _ in range(self.A.shape[0])])
        return solve_triangular(self.L.T, z, lower=False) if self.dense else z / np.sqrt(self.A)

    def velocity(self, p):
        """dK/dp = A p ("p sharp")."""
        return self.A @ p if self.dense else self.A * p

    def kinetic(self, p):
        return 0.5 * float(p @ self.velocity(p))


class Point:
    """A phase-space point with what the transitions need of it."""

    def __init__(self, q, p, lp, g, metric):
        self.q, self.p, self.lp, self.g = q, p, lp, g
        self.v = metric.velocity(p)
        self.H = -lp + metric.kinetic(p)


def leapfrog(density, metric, z, eps):
    """One velocity-Verlet step of signed size eps."""
    p = z.p + 0.5 * eps * z.g
    q = z.q + eps * metric.velocity(p)
    lp, g = density(q)
    p = p + 0.5 * eps * g
    return Point(q, p, lp, g, metric)


MAX_ENERGY_ERROR = 1000.0  # a leaf whose energy exceeds H0 by more is divergent (as Stan)


def _energy(z):
    """H, with a non-finite value (log density or gradient) taken as +inf."""
    return z.H if np.isfinite(z.H) else np.inf


def static_hmc_transition(density, metric, rng, q, lp, g, eps, n_leapfrog):
    """Stan's static HMC: fresh momentum, n_leapfrog steps, accept with probability min(1, e^-dH).
    Returns ((q, lp, g) after the transition, stats)."""
    z0 = Point(q, metric.momentum(rng), lp, g, metric)
    z = z0
    for _ in range(n_leapfrog):
        z = leapfrog(density, metric, z, eps)
    h1 = _energy(z)
    u = rng.uniform()  # drawn whatever the energy
    dh = h1 - z0.H
    a = 1.0 if dh <= 0.0 else float(np.exp(-dh))
    accept = u < a
    end = z if accept else z0
    # both energy errors are the proposal's (the only other energy computed)
    stats = dict(accept_stat=a, energy=h1 if accept else z0.H, energy_error=dh, max_energy_error=dh, tree_depth=0,
                 n_leapfrog=n_leapfrog, divergent=bool(dh > MAX_ENERGY_ERROR))
    return (end.q, end.lp, end.g), stats


def no_u_turn(v_minus, v_plus, rho):
    """Betancourt's generalised criterion: the trajectory with momentum sum rho goes on while both
    end velocities have a positive projection on rho."""
    return float(v_minus @ rho) > 0.0 and float(v_plus @ rho) > 0.0


# The six U-turn checks by name: on a merged node of a subtree, the node itself and each half
# extended by the neighbouring leaf of the other; across the join of the tree and a new subtree,
# the whole, the old tree plus the subtree's first leaf, the subtree plus the old tree's end.
UTURN_CHECKS = ("node", "node_left_ext", "node_right_ext", "join", "join_tree_ext", "join_subtree_ext")


def _holds(name, skip, v_minus, v_plus, rho):
    """The named check (always true when the tests ask to leave it out, to show that a run
    depends on it)."""
    return name in skip or no_u_turn(v_minus, v_plus, rho)


class _Subtree:
    """A subtree: its end points in the order built (first = next to the tree), momentum sum."""

    def __init__(self, first, last, rho):
        self.first, self.last, self.rho = first, last, rho


class _Build:
    """What the whole new subtree (one doubling) accumulates while it is built leaf by leaf:
    the sum of its leaves' weights, its candidate, and the transition's counters."""

    def __init__(self, H0, skip):
        self.H0 = H0
        self.skip = skip
        self.weight = 0.0
        self.n_leaves = 0
        self.candidate = None


def _build_tree(depth, z, eps, density, metric, rng, b, info):
    """Stan's recursive build of 2^depth leaves from z in the direction of eps; None if a leaf is
    divergent or a U-turn appears inside (the subtree, and the transition, then end)."""
    if depth == 0:
        z = leapfrog(density, metric, z, eps)
        info["n_leapfrog"] += 1
        h = _energy(z)
        if abs(h - b.H0) > abs(info["max_energy_error"]):  # divergent leaves included, as in PyMC
            info["max_energy_error"] = h - b.H0
        if h - b.H0 > MAX_ENERGY_ERROR:
            info["divergent"] = True
            return None
        w = float(np.exp(b.H0 - h))  # the leaf's weight, relative to the initial point's
        assert w < 1e300, "energy fell too far for plain weights (the kernels rescale them)"
        info["sum_metro"] += min(1.0, w)
        b.weight += w
        # streaming multinomial sampling: the n-th leaf replaces the candidate with probability
        # w_n / (w_0 + ... + w_n); the first leaf is taken without a draw
        if b.n_leaves == 0 or rng.uniform() * b.weight < w:
            b.candidate = z
        b.n_leaves += 1
        return _Subtree(z, z, z.p.copy())
    left = _build_tree(depth - 1, z, eps, density, metric, rng, b, info)
    if left is None:
        return None
    right = _build_tree(depth - 1, left.last, eps, density, metric, rng, b, info)
    if right is None:
        return None
    rho = left.rho + right.rho
    ok = (_holds("node", b.skip, left.first.v, right.last.v, rho)
          # and across the join, each half extended by the neighbouring leaf of the other
          and _holds("node_left_ext", b.skip, left.first.v, right.first.v, left.rho + right.first.p)
          and _holds("node_right_ext", b.skip, left.last.v, right.last.v, right.rho + left.last.p))
    return _Subtree(left.first, right.last, rho) if ok else None


def nuts_transition(density, metric, rng, q, lp, g, eps, max_depth=10, skip=()):
    """Multinomial NUTS as Stan runs it (and fastmc's nuts.hpp): the trajectory doubles in a
    random direction until a U-turn (checked on every merged subtree and across each join), a
    divergence or max_depth doublings; biased progressive sampling between the old tree and each
    valid new subtree. Returns ((q, lp, g) of the selected point, stats). ``skip``: names of
    UTURN_CHECKS to leave out (for tests only)."""
    z0 = Point(q, metric.momentum(rng), lp, g, metric)
    H0 = z0.H
    ends = {+1: z0, -1: z0}  # the trajectory's forward and backward ends
    rho = z0.p.copy()  # momentum sum of the trajectory
    tree_weight = 1.0  # sum of exp(H0 - H) over the trajectory: the initial point's is 1
    sample = z0
    info = dict(n_leapfrog=0, sum_metro=0.0, divergent=False, max_energy_error=0.0)
    depth = 0
    while depth < max_depth:
        direction = +1 if rng.uniform() > 0.5 else -1
        old_end, far_end = ends[direction], ends[-direction]
        b = _Build(H0, skip)
        sub = _build_tree(depth, old_end, direction * eps, density, metric, rng, b, info)
        if sub is None:
            break  # the new subtree is rejected whole: the sample comes from the trajectory before
        depth += 1
        # biased progressive sampling: move to the subtree's candidate with probability
        # min(1, W_subtree / W_tree); the uniform is drawn in any case
        ratio = b.weight / tree_weight
        u = rng.uniform()
        if ratio > 1.0 or u < ratio:
            sample = b.candidate
        tree_weight += b.weight
        ends[direction] = sub.last
        persist = (_holds("join", skip, far_end.v, sub.last.v, rho + sub.rho)
                   # across the join: the old tree plus the subtree's first leaf, the subtree plus
                   # the old tree's end next to it
                   and _holds("join_tree_ext", skip, far_end.v, sub.first.v, rho + sub.first.p)
                   and _holds("join_subtree_ext", skip, old_end.v, sub.last.v, sub.rho + old_end.p))
        rho = rho + sub.rho
        if not persist:
            break
    stats = dict(accept_stat=info["sum_metro"] / info["n_leapfrog"], energy=sample.H, energy_error=sample.H - H0,
                 max_energy_error=info["max_energy_error"], tree_depth=depth, n_leapfrog=info["n_leapfrog"],
                 divergent=info["divergent"])
    return (sample.q, sample.lp, sample.g), stats


def run_chain(transition, density, metric, x0, n, rng_state, step_size, step_size_jitter=0.0, **kw):
    """n transitions from x0 at a fixed step size (fastmc's engine without adaptation); with
    step_size_jitter > 0 each runs at eps (1 + jitter (2u - 1)), u drawn before the transition.
    Returns draws (n, d), log densities (n,) and a dict of per-transition stats (arrays)."""
    rng = Xoshiro256(rng_state)
    q = np.array(x0, dtype=float)
    lp, g = density(q)
    draws, lps, rows = [], [], []
    for _ in range(n):
        eps = step_size
        if step_size_jitter > 0.0:
            eps = step_size * (1.0 + step_size_jitter * (2.0 * rng.uniform() - 1.0))
        (q, lp, g), st = transition(density, metric, rng, q, lp, g, eps, **kw)
        st["step_size"] = eps
        draws.append(q)
        lps.append(lp)
        rows.append(st)
    stats = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    return np.array(draws), np.array(lps), stats
