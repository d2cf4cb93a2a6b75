"""Oracle: the kernels' NUTS and static HMC transitions against the slow NumPy reference in
tests/reference.py (same random numbers, same decisions; written the textbook way), on both
backends. A bug made identically in both twins fails here even though the parity tests pass.

Draws, log densities, energies and acceptance statistics agree to rounding (1e-10 relative: the
kernels order their sums for SIMD lanes); tree depths, leapfrog counts and divergences exactly.
"""
import numpy as np
import pytest

import fastmc
from fastmc.adaptation import rng_states

from reference import (UTURN_CHECKS, EuclideanMetric, MixtureDensity, Xoshiro256, mixture_grad, mixture_logpdf,
                       nuts_transition, random_spd, run_chain, static_hmc_transition)

RTOL = 1e-10
ATOL = 1e-10


def _gaussian():
    """A small correlated Gaussian (d = 5: the kernels' 4-lane loops and a scalar tail), with
    variances from 0.06 to 0.8, so that a step of 0.5 is close to the leapfrog's stability limit."""
    S = random_spd(np.random.default_rng(42), 5, 0.05, 3.0)
    return fastmc.GaussianMixture([1.0], [0.5 * np.arange(5)], [S])


def _setup(name):
    """(target, x0, inverse metrics {diag, dense}, NUTS step size)."""
    if name == "mixture":
        mix = fastmc.default_mixture()
        A = np.array([[1.2, 0.3], [0.3, 0.9]])
        return mix, np.array([0.1, 0.2]), {"diag": np.diag(A).copy(), "dense": A}, 0.45
    g = _gaussian()
    S = g.covs[0]
    # the dense metric between the covariance and its diagonal: with the covariance itself the
    # target would look like N(0, I) to the sampler and hardly any proposal be rejected
    return g, np.zeros(5), {"diag": np.diag(S).copy(), "dense": 0.6 * S + 0.4 * np.diag(np.diag(S))}, 0.3


def _kept_and_warmup(res, key):
    """A run with a warm-up of one iteration: that transition's value first, then the kept ones."""
    if key == "draws":
        return np.concatenate([res.warmup.draws[0], res.draws[0]])
    if key in ("tree_depth", "n_leapfrog", "step_size"):
        return np.concatenate([res.warmup.sample_stats[key][0], res.sample_stats[key][0]])
    return np.concatenate([getattr(res.warmup, key)[0], getattr(res, key)[0]])


def _check(res, ref, warmup_first=False, stats=("tree_depth", "n_leapfrog")):
    """The run (one chain) against the reference's (draws, log densities, stats)."""
    draws, lps, st = ref
    get = (lambda k: _kept_and_warmup(res, k)) if warmup_first else (
        lambda k: (res.sample_stats[k] if k in ("tree_depth", "n_leapfrog", "step_size") else getattr(res, k))[0])
    np.testing.assert_allclose(get("draws"), draws, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(get("log_density"), lps, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(get("energy"), st["energy"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(get("accept_prob"), st["accept_stat"], rtol=RTOL, atol=1e-12)
    np.testing.assert_array_equal(get("divergent"), st["divergent"])
    for k in stats:
        np.testing.assert_array_equal(get(k), st[k])


# ---------------------------------------------------------------- the reference's own parts

def test_reference_generator_is_the_kernels_generator():
    """Words and normals of the Python-integer xoshiro256** and ziggurat equal the kernels'
    (20000 normals include the ziggurat's wedges and its tail beyond R)."""
    seed = 123
    if "cpp" in fastmc.available_backends():
        from fastmc._core import rng_stream

        words, normals = rng_stream(seed, 0, 20_000)
    else:
        from fastmc._numba.core.rng import rng_stream

        words, normals = rng_stream(np.uint64(seed), np.uint64(0), 20_000)
    r = Xoshiro256(rng_states(seed, 1)[0])
    assert [r.next() for _ in range(words.size)] == [int(w) for w in words]
    r = Xoshiro256(rng_states(seed, 1)[0])
    z = np.array([r.normal() for _ in range(normals.size)])
    np.testing.assert_array_equal(z, normals)
    assert np.sum(np.abs(z) > 3.6541528853610088) > 0  # the tail branch ran


def test_reference_density_matches_scipy():
    mix = fastmc.default_mixture()
    dens = MixtureDensity(mix)
    X = np.random.default_rng(1).normal(size=(20, 2)) * 3
    lp = np.array([dens(x)[0] for x in X])
    g = np.array([dens(x)[1] for x in X])
    np.testing.assert_allclose(lp, mixture_logpdf(mix, X), rtol=1e-13)
    np.testing.assert_allclose(g, mixture_grad(mix, X), rtol=1e-12, atol=1e-14)


def test_reference_momentum_has_covariance_M():
    """p ~ N(0, A^-1) for the dense metric (L^T p = z), per coordinate 1/A_i for the diagonal."""
    A = np.array([[2.0, 0.6], [0.6, 0.5]])
    r = Xoshiro256(rng_states(3, 1)[0])
    P = np.array([EuclideanMetric(A).momentum(r) for _ in range(20_000)])
    np.testing.assert_allclose(np.cov(P.T), np.linalg.inv(A), rtol=0.05, atol=0.03)
    P = np.array([EuclideanMetric(np.diag(A)).momentum(r) for _ in range(20_000)])
    np.testing.assert_allclose(P.var(axis=0), 1.0 / np.diag(A), rtol=0.05)


# ---------------------------------------------------------------- NUTS

@pytest.mark.parametrize("metric", ["diag", "dense"])
@pytest.mark.parametrize("name", ["mixture", "gaussian"])
def test_nuts_matches_reference(backend, name, metric):
    target, x0, inv, eps = _setup(name)
    n, seed = 40, 5
    res = fastmc.nuts(target, x0, n, n_warmup=0, step_size=eps, metric=metric, inv_metric=inv[metric], chains=1,
                      seed=seed, backend=backend, warn=False)
    ref = run_chain(nuts_transition, MixtureDensity(target), EuclideanMetric(inv[metric]), x0, n,
                    rng_states(seed, 1)[0], eps)
    _check(res, ref)
    st = ref[2]
    # the run is not trivial: trees of several depths, rejected proposals, moves
    assert np.unique(st["tree_depth"]).size >= 2 and st["accept_stat"].min() < 0.9
    assert np.unique(ref[0][:, 0]).size > n // 2


# runs in which leaving out one U-turn check changes some trajectory (found by searching seeds
# with the reference): together they need every one of the six
_EVERY_CHECK = [
    ("gaussian", "diag", 0.45, 3, ("node", "node_right_ext", "join", "join_tree_ext", "join_subtree_ext")),
    ("gaussian", "diag", 0.45, 1, ("node", "node_left_ext", "join", "join_tree_ext", "join_subtree_ext")),
    ("mixture", "dense", 0.3, 3, ("node", "node_left_ext", "join")),
]


@pytest.mark.parametrize("name, metric, eps, seed, decisive", _EVERY_CHECK)
def test_nuts_makes_every_uturn_check(backend, name, metric, eps, seed, decisive):
    """The kernels match the reference in runs where each U-turn check (on merged nodes and
    across the joins, each extended by a neighbouring leaf) decides some trajectory's length:
    the reference without that check gives other leapfrog counts, so a kernel missing it fails."""
    target, x0, inv, _ = _setup(name)
    n = 40
    res = fastmc.nuts(target, x0, n, n_warmup=0, step_size=eps, metric=metric, inv_metric=inv[metric], chains=1,
                      seed=seed, backend=backend, warn=False)
    density, M, state = MixtureDensity(target), EuclideanMetric(inv[metric]), rng_states(seed, 1)[0]
    ref = run_chain(nuts_transition, density, M, x0, n, state, eps)
    _check(res, ref)
    for check in decisive:
        without = run_chain(nuts_transition, density, M, x0, n, state, eps, skip=(check,))[2]["n_leapfrog"]
        assert not np.array_equal(without, ref[2]["n_leapfrog"]), check
    assert {c for *_, cs in _EVERY_CHECK for c in cs} == set(UTURN_CHECKS)


def test_nuts_matches_reference_at_max_treedepth(backend):
    """Small steps: every tree is cut at max_treedepth = 3 (7 leapfrog steps)."""
    target, x0, inv, _ = _setup("gaussian")
    res = fastmc.nuts(target, x0, 25, n_warmup=0, step_size=0.05, max_treedepth=3, metric="dense",
                      inv_metric=inv["dense"], chains=1, seed=9, backend=backend, warn=False)
    ref = run_chain(nuts_transition, MixtureDensity(target), EuclideanMetric(inv["dense"]), x0, 25,
                    rng_states(9, 1)[0], 0.05, max_depth=3)
    _check(res, ref)
    assert np.all(ref[2]["tree_depth"] == 3) and np.all(ref[2]["n_leapfrog"] == 7)


@pytest.mark.parametrize("metric", ["diag", "dense"])
def test_nuts_matches_reference_with_divergences(backend, metric):
    """A step beyond the stability limit of the stiffest direction: some trajectories diverge
    (energy error above 1000), the subtree is dropped and the draw comes from the tree before."""
    target, x0, _, _ = _setup("gaussian")
    A = np.ones(5) if metric == "diag" else np.eye(5) + 0.1 * (np.ones((5, 5)) - np.eye(5))
    res = fastmc.nuts(target, x0, 40, n_warmup=0, step_size=0.55, metric=metric, inv_metric=A, chains=1, seed=2,
                      backend=backend, warn=False)
    ref = run_chain(nuts_transition, MixtureDensity(target), EuclideanMetric(A), x0, 40, rng_states(2, 1)[0], 0.55)
    _check(res, ref)
    assert 0 < ref[2]["divergent"].sum() < 40


def test_nuts_matches_reference_with_step_size_jitter(backend):
    """step_size_jitter draws one uniform before each transition (the engine, without warm-up)."""
    target, x0, inv, eps = _setup("mixture")
    res = fastmc.nuts(target, x0, 30, n_warmup=0, step_size=eps, metric="diag", inv_metric=inv["diag"], chains=1,
                      seed=13, step_size_jitter=0.5, backend=backend, warn=False)
    ref = run_chain(nuts_transition, MixtureDensity(target), EuclideanMetric(inv["diag"]), x0, 30,
                    rng_states(13, 1)[0], eps, step_size_jitter=0.5)
    _check(res, ref, stats=("tree_depth", "n_leapfrog", "step_size"))
    assert ref[2]["step_size"].std() > 0.05


# ---------------------------------------------------------------- static HMC

@pytest.mark.parametrize("metric", ["diag", "dense"])
@pytest.mark.parametrize("name", ["mixture", "gaussian"])
def test_static_hmc_matches_reference(backend, name, metric):
    """The warm-up engine's static HMC (fastmc.hmc with a warm-up of one iteration that adapts
    nothing: no step-size adaptation, and below 20 iterations no metric window), so every
    transition runs at the given step and metric."""
    target, x0, inv, _ = _setup(name)
    eps, L, n, seed = 0.6, 5, 30, 8
    res = fastmc.hmc(target, x0, n - 1, step_size=eps, n_leapfrog=L, n_warmup=1, adapt_step_size=False,
                     metric=metric, inv_metric=inv[metric], seed=seed, backend=backend, warn=False)
    ref = run_chain(static_hmc_transition, MixtureDensity(target), EuclideanMetric(inv[metric]), x0, n,
                    rng_states(seed, 1)[0], eps, n_leapfrog=L)
    _check(res, ref, warmup_first=True, stats=("n_leapfrog",))
    acc = ref[2]["accept_stat"]
    assert acc.min() < 0.9 and np.any(np.all(np.diff(ref[0], axis=0) == 0, axis=1))  # some rejections


def test_static_hmc_matches_reference_with_step_size_jitter(backend):
    """fastmc.hmc without warm-up but with step_size_jitter runs in the engine."""
    target, x0, inv, _ = _setup("gaussian")
    res = fastmc.hmc(target, x0, 30, step_size=0.3, n_leapfrog=5, metric="dense", inv_metric=inv["dense"],
                     seed=4, step_size_jitter=0.3, backend=backend, warn=False)
    ref = run_chain(static_hmc_transition, MixtureDensity(target), EuclideanMetric(inv["dense"]), x0, 30,
                    rng_states(4, 1)[0], 0.3, step_size_jitter=0.3, n_leapfrog=5)
    _check(res, ref, stats=("n_leapfrog", "step_size"))


@pytest.mark.parametrize("name", ["mixture", "gaussian"])
def test_plain_hmc_matches_reference(backend, name):
    """fastmc.hmc without warm-up, resume or jitter: the same static transition as the engine's,
    with a diagonal inverse mass."""
    target, x0, inv, _ = _setup(name)
    eps, L = 0.6, 5
    res = fastmc.hmc(target, x0, 30, step_size=eps, n_leapfrog=L, inv_mass=inv["diag"], seed=21, backend=backend)
    draws, lps, st = run_chain(static_hmc_transition, MixtureDensity(target), EuclideanMetric(inv["diag"]), x0, 30,
                               rng_states(21, 1)[0], eps, n_leapfrog=L)
    np.testing.assert_allclose(res.draws[0], draws, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.log_density[0], lps, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.energy[0], st["energy"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.accept_prob[0], st["accept_stat"], rtol=RTOL, atol=1e-12)
    np.testing.assert_array_equal(res.divergent[0], st["divergent"])
    assert st["accept_stat"].min() < 0.9 and not res.accepted.all()
