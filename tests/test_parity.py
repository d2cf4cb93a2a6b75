"""Twin parity: the C++ and Numba backends on identical inputs make the same decisions and give
the same values (bit for bit, or to 1e-12 relative where so stated): generator streams, target
evaluations, and whole runs of every sampler with their adapted states; the three forms of a user
target (cfunc, njit, Python) give the same draws. A change made identically in both twins passes
here: the golden draws (test_golden.py) and the oracles (test_oracles.py) catch it.
"""

import numba
import numpy as np
import pytest

import fastmc
from fastmc.adaptation import rng_states
from fastmc.nuts import nuts
from fastmc.workloads import workload

from helpers import (nan_outside_support, numba_leapfrog, random_mixture, run_sampler, std_normal_c, std_normal_nb,
                     std_normal_py)
from reference import mixture_grad, mixture_logpdf


# ---------------------------------------------------------------- the generator

def test_streams_are_bit_identical_across_backends(both_backends):
    from fastmc import _core as core
    from fastmc._numba.core import rng as nrng

    for seed, chain in [(0, 0), (12345, 3), (2**64 - 1, 2**40)]:
        w_c, z_c = core.rng_stream(seed, chain, 100_000)
        w_n, z_n = nrng.rng_stream(np.uint64(seed), np.uint64(chain), 100_000)
        np.testing.assert_array_equal(w_c, w_n)
        np.testing.assert_array_equal(z_c, z_n)


def test_ziggurat_tables_are_identical(both_backends):
    from fastmc import _core as core
    from fastmc._numba.core import rng as nrng

    x, f = core.ziggurat_tables()
    np.testing.assert_array_equal(x, nrng.ZIG_X)
    np.testing.assert_array_equal(f, nrng.ZIG_F)


def test_rng_states_match_the_kernel_generator():
    from fastmc._numba.core.rng import rng_next, rng_stream

    st = rng_states(123, 3)
    for c in range(3):
        words, _ = rng_stream(np.uint64(123), np.uint64(c), 5)
        s = st[c].copy()
        np.testing.assert_array_equal([rng_next(s) for _ in range(5)], words)


# ---------------------------------------------------------------- targets

def test_cpp_and_numba_agree_to_1e12(rng, both_backends):
    for name in ("T1", "T2", "T3"):
        mix, _ = workload(name)
        X = mix.sample(200, seed=3) * 1.5
        lp_c, g_c = mix.logpdf_and_grad(X, backend="cpp")
        lp_n, g_n = mix.logpdf_and_grad(X, backend="numba")
        np.testing.assert_allclose(lp_c, lp_n, rtol=1e-12, atol=0)
        np.testing.assert_allclose(g_c, g_n, rtol=1e-12, atol=1e-12 * np.abs(g_c).max())


@pytest.mark.parametrize("d", [2, 20, 100])
def test_single_gaussian_gradient_is_the_general_one(rng, d, both_backends):
    """With one component the C++ kernel writes the gradient before the quadratic form is known
    (a shortcut that must give gather_grad's bits): equal to the Numba twin bit for bit, and to
    -P (x - mu) from NumPy."""
    mix = random_mixture(rng, d, K=1)
    X = mix.sample(30, seed=5) + 3.0 * rng.standard_normal((30, d))
    lp_c, g_c = mix.logpdf_and_grad(X, backend="cpp")
    lp_n, g_n = mix.logpdf_and_grad(X, backend="numba")
    np.testing.assert_array_equal(lp_c, lp_n)
    np.testing.assert_array_equal(g_c, g_n)
    P = np.linalg.inv(mix.covs[0])
    np.testing.assert_allclose(g_c, -(X - mix.means[0]) @ P, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("d", [3, 8, 12, 16, 19, 24, 28, 32, 36, 63, 64, 65, 66, 67, 100])
def test_compiled_sizes_agree_with_numba_and_scipy(rng, d, both_backends):
    """The C++ module fixes small dimensions at compile time (d <= 4, multiples of 4 up to 32),
    and from d = 64 multiplies by the precisions in the panel layout (half the bytes) while the
    Numba twin keeps its order: each of those sizes, its neighbours and every d % 4 past the
    switch give the Numba twin's bits, scipy's log density and NumPy's gradient."""
    mix = random_mixture(rng, d)
    X = mix.sample(40, seed=4) + rng.standard_normal((40, d))
    lp_c, g_c = mix.logpdf_and_grad(X, backend="cpp")
    lp_n, g_n = mix.logpdf_and_grad(X, backend="numba")
    np.testing.assert_array_equal(lp_c, lp_n)
    np.testing.assert_array_equal(g_c, g_n)
    np.testing.assert_allclose(lp_c, mixture_logpdf(mix, X), rtol=1e-10, atol=1e-10)
    g_ref = mixture_grad(mix, X)
    np.testing.assert_allclose(g_c, g_ref, rtol=1e-8, atol=1e-8 * np.abs(g_ref).max())


def _three_ways(dim):
    return [fastmc.Target.from_cfunc(std_normal_c, dim), fastmc.Target.from_numba(std_normal_nb, dim),
            fastmc.Target.from_python(std_normal_py, dim)]


@pytest.mark.parametrize("sampler", ["rwmh", "hmc"])
def test_cfunc_njit_and_python_give_identical_draws(backend, sampler):
    kw = dict(scale=0.8) if sampler == "rwmh" else dict(step_size=0.3, n_leapfrog=7)
    f = getattr(fastmc, sampler)
    runs = []
    for t in _three_ways(3):
        if t.kind == "python" and backend != "cpp":
            # a wrong argument where the extension exists; an environment problem where it does not
            exc = ValueError if "cpp" in fastmc.available_backends() else RuntimeError
            with pytest.raises(exc, match="C\\+\\+ backend only"):
                f(t, np.zeros(3), 300, chains=2, seed=4, backend=backend, **kw)
            continue
        runs.append(f(t, np.zeros(3), 300, chains=2, seed=4, backend=backend, **kw))
    for r in runs[1:]:
        np.testing.assert_array_equal(r.draws, runs[0].draws)
        np.testing.assert_array_equal(r.accepted, runs[0].accepted)


def test_user_target_twins_agree(both_backends):
    t = fastmc.models.funnel(4)
    a = fastmc.hmc(t, np.full(4, 0.1), 500, step_size=0.2, n_leapfrog=8, chains=2, seed=3, backend="cpp")
    b = fastmc.hmc(t, np.full(4, 0.1), 500, step_size=0.2, n_leapfrog=8, chains=2, seed=3, backend="numba")
    np.testing.assert_array_equal(a.draws, b.draws)


# ---------------------------------------------------------------- samplers

@pytest.mark.parametrize("sampler", ["rwmh", "hmc"])
@pytest.mark.parametrize("name", ["T1", "T2"])
def test_cpp_and_numba_give_identical_chains(sampler, name, both_backends):
    a = run_sampler(sampler, name, 1000, "cpp", chains=3, seed=11)
    b = run_sampler(sampler, name, 1000, "numba", chains=3, seed=11)
    np.testing.assert_array_equal(a.accepted, b.accepted)
    np.testing.assert_allclose(a.draws, b.draws, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.log_density, b.log_density, rtol=1e-12, atol=1e-12)
    if sampler == "hmc":
        np.testing.assert_allclose(a.accept_prob, b.accept_prob, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(a.n_grad_evals, b.n_grad_evals)
    assert a.backend == "cpp" and b.backend == "numba"


def test_hmc_kernel_leapfrog_matches_python_twin(backend):
    """The sampler's first proposal equals the stand-alone integrator's end point."""
    mix, _ = workload("T1")
    r = fastmc.hmc(mix, [0.1, 0.2], 1, step_size=0.05, n_leapfrog=7, seed=9, backend=backend)
    from fastmc._numba.core.rng import rng_normal, rng_seed

    s = np.empty(4, dtype=np.uint64)
    rng_seed(np.uint64(9), np.uint64(0), s)
    p0 = np.array([rng_normal(s), rng_normal(s)])
    q, p, lp = numba_leapfrog(mix, np.array([0.1, 0.2]), p0, 0.05, 7, backend)
    h0 = -mix.logpdf([0.1, 0.2]) + 0.5 * p0 @ p0
    h1 = -lp + 0.5 * p @ p
    assert r.accept_prob[0, 0] == pytest.approx(min(1.0, np.exp(h0 - h1)), rel=1e-12)
    if r.accepted[0, 0]:
        np.testing.assert_allclose(r.draws[0, 0], q, rtol=1e-13)


@pytest.mark.parametrize("adapt_cov", [False, True])
@pytest.mark.parametrize("name", ["T1", "T2"])
def test_rwmh_twins_agree_with_adaptation(name, adapt_cov, both_backends):
    mix, _ = workload(name)
    a, b = (fastmc.rwmh(mix, np.zeros(mix.dim), 500, scale=1.0, chains=2, seed=5, n_warmup=1000,
                        adapt_cov=adapt_cov, backend=be) for be in ("cpp", "numba"))
    np.testing.assert_array_equal(a.draws, b.draws)
    np.testing.assert_array_equal(a.warmup.draws, b.warmup.draws)
    np.testing.assert_array_equal(a.adapted_scale, b.adapted_scale)


@pytest.mark.parametrize("name", ["T1", "T2"])
@pytest.mark.parametrize("metric", ["diag", "dense"])
@pytest.mark.parametrize("sampler", ["nuts", "hmc", "hmc_time"])
def test_cpp_and_numba_agree_draw_for_draw(name, metric, sampler, both_backends):
    mix, s = workload(name)
    kw = dict(n_warmup=150, metric=metric, chains=2, seed=7, warn=False)
    if sampler == "nuts":
        a, b = (nuts(mix, np.zeros(mix.dim), 100, backend=be, **kw) for be in ("cpp", "numba"))
        np.testing.assert_array_equal(a.sample_stats["tree_depth"], b.sample_stats["tree_depth"])
    elif sampler == "hmc":
        a, b = (fastmc.hmc(mix, np.zeros(mix.dim), 100, step_size=0.3, n_leapfrog=8, backend=be, **kw)
                for be in ("cpp", "numba"))
    else:  # L = floor(T / eps) at every transition's eps; on T1 the cap of 5 steps is reached too
        T, cap = (2.0, 5) if name == "T1" else (3.0, 1024)
        a, b = (fastmc.hmc(mix, np.zeros(mix.dim), 100, step_size=0.3, integration_time=T, max_leapfrog=cap,
                           backend=be, **kw) for be in ("cpp", "numba"))
        assert np.unique(a.warmup.sample_stats["n_leapfrog"]).size >= 5
    for ra, rb in ((a, b), (a.warmup, b.warmup)):
        np.testing.assert_array_equal(ra.draws, rb.draws)
        np.testing.assert_array_equal(ra.accept_prob, rb.accept_prob)
        np.testing.assert_array_equal(ra.energy, rb.energy)
        np.testing.assert_array_equal(ra.sample_stats["step_size"], rb.sample_stats["step_size"])
        np.testing.assert_array_equal(ra.sample_stats["n_leapfrog"], rb.sample_stats["n_leapfrog"])
    np.testing.assert_array_equal(a.state.step_size, b.state.step_size)
    np.testing.assert_array_equal(a.state.inv_metric, b.state.inv_metric)
    np.testing.assert_array_equal(a.state.rng_state, b.state.rng_state)
    np.testing.assert_array_equal(a.n_grad_evals, b.n_grad_evals)


@pytest.mark.parametrize("d", [7, 66])
@pytest.mark.parametrize("metric", ["diag", "dense"])
def test_twins_agree_when_d_is_not_a_multiple_of_four(metric, d, both_backends):
    """d = 7: the C++ kernels' 4-lane loops and their scalar tails against the Numba lanes;
    d = 66: the products in the panel layout (target and dense metric) with a partial block."""
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    S = (Q * np.exp(rng.uniform(-1.0, 1.0, d))) @ Q.T
    mix = fastmc.GaussianMixture([0.5, 0.5], [np.zeros(d), np.ones(d)], [0.5 * (S + S.T)] * 2)
    a, b = (nuts(mix, np.zeros(d), 100, n_warmup=150, metric=metric, chains=2, seed=5, backend=be, warn=False)
            for be in ("cpp", "numba"))
    for ra, rb in ((a, b), (a.warmup, b.warmup)):
        np.testing.assert_array_equal(ra.draws, rb.draws)
        np.testing.assert_array_equal(ra.accept_prob, rb.accept_prob)
        np.testing.assert_array_equal(ra.energy, rb.energy)
    np.testing.assert_array_equal(a.state.inv_metric, b.state.inv_metric)


@numba.njit
def _normal3(x, grad, data):
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i] / data[i]
        grad[i] = -x[i] / data[i]
    return -0.5 * s


@pytest.mark.parametrize("kind", ["mixture", "numba"])
def test_tempered_twins_agree_draw_for_draw(kind, both_backends):
    """The tempered target's C++ and Numba twins give the same bits, for a mixture and for a
    user target."""
    if kind == "mixture":
        target, x0 = workload("T2")[0], np.zeros(20)
    else:
        target, x0 = fastmc.Target.from_numba(_normal3, 3, data=np.array([1.0, 2.0, 0.5])), np.zeros(3)
    runs = [nuts(target, x0, 40, n_warmup=60, temperature=1.7, chains=2, seed=11, backend=be, warn=False)
            for be in ("cpp", "numba")]
    for key in ("draws", "log_density", "energy", "accept_prob"):
        np.testing.assert_array_equal(getattr(runs[0], key), getattr(runs[1], key))
    np.testing.assert_array_equal(runs[0].state.step_size, runs[1].state.step_size)


def test_step_size_jitter_twins_and_bounds(backend, both_backends):
    """step_size_jitter: C++ and Numba agree draw for draw (NUTS and static HMC with an
    integration time); each transition's step lies within nominal * (1 +- jitter); jitter 0 draws
    no extra random numbers (the run equals the default one); out-of-range values are rejected."""
    mix, _ = workload("T2")
    x0 = np.zeros(mix.dim)
    kw = dict(n_warmup=120, chains=2, seed=12, warn=False, step_size_jitter=0.4)
    a, b = (nuts(mix, x0, 60, backend=be, **kw) for be in ("cpp", "numba"))
    np.testing.assert_array_equal(a.draws, b.draws)
    np.testing.assert_array_equal(a.sample_stats["step_size"], b.sample_stats["step_size"])
    h1, h2 = (fastmc.hmc(mix, x0, 60, step_size=0.3, integration_time=2.0, metric="dense", backend=be, **kw)
              for be in ("cpp", "numba"))
    np.testing.assert_array_equal(h1.draws, h2.draws)
    np.testing.assert_array_equal(h1.sample_stats["n_leapfrog"], h2.sample_stats["n_leapfrog"])
    ratio = a.sample_stats["step_size"] / a.state.step_size[:, None]
    assert np.all(np.abs(ratio - 1.0) <= 0.4) and ratio.std() > 0.1
    plain = nuts(mix, x0, 60, n_warmup=120, chains=2, seed=12, warn=False, backend=backend)
    zero = nuts(mix, x0, 60, n_warmup=120, chains=2, seed=12, warn=False, backend=backend, step_size_jitter=0.0)
    np.testing.assert_array_equal(plain.draws, zero.draws)
    # without warm-up, hmc's jitter runs in the warm-up engine at the given step
    j = fastmc.hmc(mix, x0, 40, step_size=0.3, n_leapfrog=5, chains=2, seed=1, step_size_jitter=0.2, warn=False,
                   backend=backend)
    assert np.all(np.abs(j.sample_stats["step_size"] / 0.3 - 1.0) <= 0.2)
    for bad, err in ((-0.1, ValueError), (1.5, ValueError), ("0.5", TypeError), (True, TypeError)):
        with pytest.raises(err, match="step_size_jitter"):
            nuts(mix, x0, 10, n_warmup=10, step_size_jitter=bad)


@pytest.mark.parametrize("sampler", ["nuts", "hmc"])
def test_twins_agree_on_a_target_that_is_nan_outside_its_support(sampler, both_backends):
    """A NaN log density is a non-finite energy, as -inf is: the transition is divergent and
    counted, on both twins, and the adaptation continues identically. Both backends and 1 or 2
    threads give the same draws, step sizes, divergences and counts. Regression: the Numba
    engine's dual averaging record pointed into a freed array, which the chain's later
    allocations of the same size overwrote (with d = 8 at once), so the Numba step sizes went
    their own way from the first update, and could depend on the thread count."""
    target = fastmc.Target.from_numba(nan_outside_support, 8, check_gradient=False)
    x0 = np.full(8, 0.3)
    runs = {}
    for be in ("cpp", "numba"):
        for n_threads in (1, 2):
            kw = dict(n_warmup=40, chains=2, seed=11, warn=False, backend=be, n_threads=n_threads)
            if sampler == "nuts":
                runs[be, n_threads] = nuts(target, x0, 30, **kw)
            else:
                runs[be, n_threads] = fastmc.hmc(target, x0, 30, step_size=0.25, n_leapfrog=6, **kw)
    ref = runs["cpp", 1]
    assert ref.warmup.n_nonfinite.sum() > 0 and ref.warmup.divergent.sum() > 0  # the NaNs are reached
    for key, r in runs.items():
        for ra, rb in ((ref, r), (ref.warmup, r.warmup)):
            np.testing.assert_array_equal(ra.draws, rb.draws, err_msg=str(key))
            np.testing.assert_array_equal(ra.sample_stats["step_size"], rb.sample_stats["step_size"], err_msg=str(key))
            np.testing.assert_array_equal(ra.divergent, rb.divergent, err_msg=str(key))
            np.testing.assert_array_equal(ra.n_nonfinite, rb.n_nonfinite, err_msg=str(key))
            np.testing.assert_array_equal(ra.accept_prob, rb.accept_prob, err_msg=str(key))
        np.testing.assert_array_equal(ref.state.step_size, r.state.step_size, err_msg=str(key))
        np.testing.assert_array_equal(ref.state.inv_metric, r.state.inv_metric, err_msg=str(key))
