"""Properties: invariants that hold whatever the draws are. The leapfrog integrator is reversible,
its energy error is of order eps^2, it preserves volume; the leapfrog-count and warm-up-schedule
rules; draws depend only on the seed and the chain (not on the thread count or the number of
chains), a resumed run continues one long run exactly, a warm-up is the head of the same run;
a mixture's evaluations agree with each other.

The integrator tests run the metric leapfrog that HMC and NUTS share (the Numba twin,
fastmc/_numba/hmc/integrator.py): reversibility, energy error of order eps^2 over a fixed
trajectory length, volume preservation, and the velocity it carries staying A p; for the diagonal
metric and the dense one, in the plain layout (d < 64) and the panel layout of the product
(d >= 64). The C++ integrator (metric.hpp) has no binding of its own, so it is not called here; it
is held to the Numba twin by the parity tests (tests/test_parity.py) and to the NumPy reference by
tests/test_oracles.py, which run whole transitions through the public API.
"""
import warnings

import numba
import numpy as np
import pytest
from numba.core.errors import NumbaExperimentalFeatureWarning

import fastmc
from fastmc.adaptation import warmup_schedule
from fastmc.nuts import nuts
from fastmc.workloads import workload
# the one place the kernel is imported (the redesign may move it, e.g. to fastmc/_numba/hmc/)
from fastmc._numba.hmc.integrator import metric_leapfrog, metric_start
from fastmc._numba.hmc.metric import metric_layout_size, metric_product_layout

from helpers import leapfrog_steps_for, numba_leapfrog, random_mixture, run_sampler
from reference import random_spd

# ---------------------------------------------------------------- the metric leapfrog integrator

DIAG, DENSE = 0, 1


@numba.njit(cache=False)
def _trajectory(logp_grad, tdata, twork, q, p, kind, A, eps, n_steps, H, v):
    """n_steps leapfrog steps from (q, p) in place; H[i] the energy after step i (H[0] at the
    start); v gets the velocity the integrator carries at the end."""
    d = q.shape[0]
    g = np.empty(d)
    u = np.empty(d)
    lp = logp_grad(q, g, tdata, twork)
    H[0] = -lp + metric_start(kind, d, A, p, g, v, u)
    for i in range(n_steps):
        lp, kin = metric_leapfrog(logp_grad, tdata, q, p, g, v, u, eps, kind, A, d, twork)
        H[i + 1] = -lp + kin


class _Setup:
    """A correlated Gaussian target (its Numba functions) and an inverse metric A that is not its
    covariance, for kind DIAG or DENSE in dimension d."""

    def __init__(self, kind, d):
        rng = np.random.default_rng(100 + d + kind)
        S = random_spd(rng, d, 0.5, 2.0)
        self.target = fastmc.GaussianMixture([1.0], [rng.normal(size=d)], [S])
        nt = self.target._numba_target()
        self.fns = (nt.logp_grad, nt.tdata, nt.make_work(nt.tdata))
        self.kind, self.d = kind, d
        M = random_spd(rng, d, 0.5, 2.0)
        self.A_matrix = np.diag(np.diag(M)) if kind == DIAG else M
        if kind == DIAG:
            self.A = np.ascontiguousarray(np.diag(M))
        else:
            flat = np.ascontiguousarray(M.ravel())
            self.A = metric_product_layout(d, flat, np.empty(metric_layout_size(kind, d)))
        self.q0 = self.target.means[0] + rng.normal(size=d)
        self.p0 = np.linalg.solve(np.linalg.cholesky(self.A_matrix).T, rng.normal(size=d))  # ~ N(0, A^-1)

    def run(self, q, p, eps, n_steps):
        q, p = q.copy(), p.copy()
        H = np.empty(n_steps + 1)
        v = np.empty(self.d)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
            _trajectory(*self.fns, q, p, self.kind, self.A, eps, n_steps, H, v)
        return q, p, H, v


CASES = [(DIAG, 5), (DENSE, 5), (DENSE, 66)]
IDS = ["diag-d5", "dense-d5", "dense-d66-panels"]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def integrator(request):
    return _Setup(*request.param)


def test_panel_layout_is_used(integrator):
    """The d >= 64 case really runs the product in the panel layout (not A itself)."""
    if integrator.kind == DENSE:
        assert (integrator.A.size > integrator.d ** 2) == (integrator.d >= 64)


def test_reversible(integrator):
    """L steps forward, negate p, L steps back: the start point again (to rounding)."""
    q1, p1, _, _ = integrator.run(integrator.q0, integrator.p0, 0.1, 40)
    assert np.abs(q1 - integrator.q0).max() > 0.1  # it moved
    q2, p2, _, _ = integrator.run(q1, -p1, 0.1, 40)
    np.testing.assert_allclose(q2, integrator.q0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(-p2, integrator.p0, rtol=0, atol=1e-10)


def test_velocity_follows_A_p(integrator):
    """The velocity the integrator carries (updated by half kicks of A g for the dense metric)
    equals A p at the end of a trajectory, to rounding."""
    _, p, _, v = integrator.run(integrator.q0, integrator.p0, 0.1, 40)
    np.testing.assert_allclose(v, integrator.A_matrix @ p, rtol=1e-11, atol=1e-12)


def test_energy_error_is_second_order(integrator):
    """Over a fixed trajectory length, halving eps divides the largest |H - H0| by about 4."""
    T = 2.0
    steps = np.array([0.1, 0.05, 0.025])
    errs = []
    for eps in steps:
        _, _, H, _ = integrator.run(integrator.q0, integrator.p0, eps, int(round(T / eps)))
        errs.append(np.abs(H - H[0]).max())
    slopes = np.diff(np.log(errs)) / np.diff(np.log(steps))
    assert errs[0] > 1e-6  # well above rounding
    assert np.all((slopes >= 1.8) & (slopes <= 2.2)), (errs, slopes)


def test_volume_preserving(integrator):
    """The map (q, p) -> (q', p') of a trajectory has Jacobian determinant 1 (central differences;
    exact up to rounding here, as the map is linear for a Gaussian target)."""
    d, h, L = integrator.d, 1e-4, 10
    z0 = np.concatenate([integrator.q0, integrator.p0])
    J = np.empty((2 * d, 2 * d))
    for j in range(2 * d):
        e = np.zeros(2 * d)
        e[j] = h
        plus = np.concatenate(integrator.run((z0 + e)[:d], (z0 + e)[d:], 0.1, L)[:2])
        minus = np.concatenate(integrator.run((z0 - e)[:d], (z0 - e)[d:], 0.1, L)[:2])
        J[:, j] = (plus - minus) / (2 * h)
    sign, logdet = np.linalg.slogdet(J)
    assert sign == 1.0 and abs(logdet) < 1e-8


# ---------------------------------------------------------------- the leapfrog of plain HMC (leapfrog_steps)

def test_leapfrog_is_reversible():
    mix, _ = workload("T2")
    rng = np.random.default_rng(0)
    q0, p0 = rng.standard_normal(20), rng.standard_normal(20)
    q1, p1, _ = numba_leapfrog(mix, q0, p0, 0.1, 25, "numba")
    q2, p2, _ = numba_leapfrog(mix, q1, -p1, 0.1, 25, "numba")
    np.testing.assert_allclose(q2, q0, atol=1e-10)
    np.testing.assert_allclose(-p2, p0, atol=1e-10)


def test_energy_error_shrinks_as_step_squared():
    mix, _ = workload("T1")
    q0, p0 = np.array([0.5, 0.3]), np.array([0.8, -0.6])
    h0 = -mix.logpdf(q0) + 0.5 * p0 @ p0
    errs = []
    steps = [0.04, 0.02, 0.01]
    for eps in steps:
        q, p, lp = numba_leapfrog(mix, q0, p0, eps, int(round(0.8 / eps)), "numba")
        errs.append(abs(-lp + 0.5 * p @ p - h0))
    slopes = np.diff(np.log(errs)) / np.diff(np.log(steps))
    np.testing.assert_allclose(slopes, 2.0, atol=0.15)


# ---------------------------------------------------------------- rules: leapfrog counts, warm-up schedule

def test_leapfrog_steps_rule_python_and_numba_twin():
    """The rule of the Python layer (settings of runs without warm-up) and of the engine's Numba
    twin (the C++ kernel is held to the same by the draw-for-draw tests): floor of the double
    T / eps, within [1, cap]."""
    from fastmc._hmc_engine import static_hmc_steps as python_rule
    from fastmc._numba.hmc.static_hmc import static_hmc_steps

    cases = [(0.3, 0.1, 1024, 2), (1.0, 0.25, 1024, 4), (1.0, 0.5000001, 1024, 1), (0.1, 5.0, 1024, 1),
             (2 * np.pi, 1e-300, 1024, 1024), (10.0, 1.0, 10, 10), (10.0, 0.999, 10, 10), (9.99, 1.0, 10, 9),
             (1.0, np.inf, 3, 1), (1.0, np.nan, 3, 1), (1.0, 0.0, 3, 3)]
    for T, eps, cap, want in cases:
        assert static_hmc_steps(T, eps, np.int64(cap)) == want, (T, eps, cap)
        if eps > 0 and np.isfinite(eps):  # the Python path only sees validated step sizes
            assert python_rule(T, eps, cap) == want, (T, eps, cap)


@pytest.mark.parametrize("T, cap", [(2.0, 5), (0.6, 1024)])
def test_hmc_integration_time_sets_the_steps_of_each_transition(backend, T, cap):
    """Every warm-up and kept transition takes min(cap, max(1, floor(T / eps))) steps at its own
    recorded step size: the cap and the floor at one step both occur."""
    mix, _ = workload("T1")
    r = fastmc.hmc(mix, [0.0, 0.0], 100, step_size=0.3, integration_time=T, max_leapfrog=cap, n_warmup=150,
                   chains=2, seed=11, backend=backend, warn=False)
    for part in (r.warmup, r):
        nl = part.sample_stats["n_leapfrog"]
        assert nl.dtype == np.int64
        np.testing.assert_array_equal(nl, leapfrog_steps_for(T, part.sample_stats["step_size"], cap))
    nl = r.warmup.sample_stats["n_leapfrog"]
    assert (nl == 1).any() and ((nl == cap).any() if cap == 5 else (nl > 1).any())
    assert np.all(r.sample_stats["n_leapfrog"] == r.sample_stats["n_leapfrog"][:, :1])  # fixed after warm-up
    assert r.settings["integration_time"] == T and r.settings["max_leapfrog"] == cap
    assert "n_leapfrog" not in r.settings
    # gradients: the start point, the steps, and the step-size searches (at the start and at each
    # metric window's end, at most 100 trial steps each)
    n_steps = nl.sum(axis=1) + r.sample_stats["n_leapfrog"].sum(axis=1)
    n_searches = 1 + int(np.count_nonzero(warmup_schedule(150) & 2))
    np.testing.assert_array_equal(r.warmup.n_grad_evals, nl.sum(axis=1))
    assert np.all(r.n_grad_evals > 1 + n_steps) and np.all(r.n_grad_evals <= 1 + n_steps + 100 * n_searches)


def test_hmc_integration_time_gradient_count_is_exact(backend):
    """Without step-size adaptation there is no search: gradients = 1 + (n_warmup + n) * L."""
    mix, _ = workload("T2")
    r = fastmc.hmc(mix, np.zeros(mix.dim), 40, step_size=0.1, integration_time=0.3, n_warmup=30,
                   adapt_step_size=False, chains=2, seed=3, backend=backend, warn=False)
    # 0.3 / 0.1 is 2.9999999999999996 in doubles: 2 steps, in Python and in both kernels
    assert np.all(r.sample_stats["n_leapfrog"] == 2) and np.all(r.warmup.sample_stats["n_leapfrog"] == 2)
    np.testing.assert_array_equal(r.n_grad_evals, [1 + 70 * 2] * 2)


def test_hmc_integration_time_without_warmup(backend):
    """No warm-up, no resume: L is computed once in Python and the run is the n_leapfrog run."""
    mix, _ = workload("T1")
    kw = dict(step_size=0.1, chains=2, seed=5, backend=backend)
    a = fastmc.hmc(mix, [0.0, 0.0], 200, integration_time=0.3, **kw)
    b = fastmc.hmc(mix, [0.0, 0.0], 200, n_leapfrog=2, **kw)
    np.testing.assert_array_equal(a.draws, b.draws)
    np.testing.assert_array_equal(a.n_grad_evals, [1 + 200 * 2] * 2)
    assert a.settings["n_leapfrog"] == 2 and a.settings["integration_time"] == 0.3
    assert a.settings["max_leapfrog"] == 1024 and "integration_time" not in b.settings
    c = fastmc.hmc(mix, [0.0, 0.0], 10, integration_time=100.0, max_leapfrog=7, **kw)
    d = fastmc.hmc(mix, [0.0, 0.0], 10, integration_time=0.05, **kw)
    assert c.settings["n_leapfrog"] == 7 and d.settings["n_leapfrog"] == 1


def test_warmup_schedule_is_stans():
    ph = warmup_schedule(1000)
    ends = np.flatnonzero(ph & 2)
    np.testing.assert_array_equal(ends, [99, 149, 249, 449, 949])
    inside = np.flatnonzero(ph & 1)
    assert inside[0] == 75 and inside[-1] == 949 and inside.size == 875
    short = warmup_schedule(100)  # 15 % / rest / 10 %
    assert np.flatnonzero(short & 1)[[0, -1]].tolist() == [15, 89]
    assert np.flatnonzero(short & 2).tolist() == [89]
    assert not warmup_schedule(19).any() and not warmup_schedule(500, adapt_metric=False).any()


# ---------------------------------------------------------------- reproducibility and resume

@pytest.mark.parametrize("sampler", ["rwmh", "hmc"])
def test_seed_reproducibility_and_distinct_chains(backend, sampler):
    a = run_sampler(sampler, "T1", 300, backend, chains=2, seed=5)
    b = run_sampler(sampler, "T1", 300, backend, chains=2, seed=5)
    c = run_sampler(sampler, "T1", 300, backend, chains=2, seed=6)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.array_equal(a.draws, c.draws)
    assert not np.array_equal(a.draws[0], a.draws[1])
    d = run_sampler(sampler, "T1", 10, backend)
    assert 0 <= d.seed < 2**64  # seed=None draws one and records it
    np.testing.assert_array_equal(run_sampler(sampler, "T1", 10, backend, seed=d.seed).draws, d.draws)


@pytest.mark.parametrize("sampler", ["rwmh", "hmc"])
def test_draws_do_not_depend_on_thread_count(backend, sampler):
    one = run_sampler(sampler, "T1", 500, backend, chains=4, seed=3, n_threads=1)
    two = run_sampler(sampler, "T1", 500, backend, chains=4, seed=3, n_threads=2)
    np.testing.assert_array_equal(one.draws, two.draws)
    # chain c of a 4-chain run is chain c of a 2-chain run: it depends on (seed, c) only
    part = run_sampler(sampler, "T1", 500, backend, chains=2, seed=3)
    np.testing.assert_array_equal(one.draws[:2], part.draws)


def test_draws_depend_only_on_seed_and_chain(backend):
    mix, _ = workload("T1")
    one = nuts(mix, [0.0, 0.0], 100, n_warmup=100, chains=3, seed=4, n_threads=1, backend=backend, warn=False)
    two = nuts(mix, [0.0, 0.0], 100, n_warmup=100, chains=3, seed=4, n_threads=2, backend=backend, warn=False)
    sub = nuts(mix, [0.0, 0.0], 100, n_warmup=100, chains=2, seed=4, backend=backend, warn=False)
    np.testing.assert_array_equal(one.draws, two.draws)
    np.testing.assert_array_equal(one.draws[:2], sub.draws)
    other = nuts(mix, [0.0, 0.0], 100, n_warmup=100, chains=3, seed=5, backend=backend, warn=False)
    assert not np.array_equal(one.draws, other.draws)
    assert not np.array_equal(one.draws[0], one.draws[1])


@pytest.mark.parametrize("sampler", ["nuts", "nuts_jitter", "nuts_tempered", "hmc", "hmc_time"])
def test_resume_continues_exactly(backend, sampler):
    """Two runs, the second resumed from the first's state, equal one long run (nuts_jitter,
    nuts_tempered: the resumed run takes the step-size jitter or the temperature from the state)."""
    mix, _ = workload("T2")
    x0 = np.zeros(mix.dim)
    if sampler.startswith("nuts"):
        run = lambda x, n, **kw: nuts(mix, x, n, chains=2, seed=8, backend=backend, warn=False, **kw)  # noqa: E731
    else:
        steps = dict(n_leapfrog=6) if sampler == "hmc" else dict(integration_time=2.5)
        # a resumed hmc takes its chains, step size and metric from the state, as nuts does
        run = lambda x, n, **kw: fastmc.hmc(mix, x, n, backend=backend, warn=False, **steps, **kw)  # noqa: E731
        kw0 = dict(step_size=0.3, chains=2, seed=8)
        long, first = run(x0, 120, n_warmup=150, **kw0), run(x0, 50, n_warmup=150, **kw0)
    if sampler.startswith("nuts"):
        extra = dict(nuts_jitter=dict(step_size_jitter=0.4), nuts_tempered=dict(temperature=2.5)).get(sampler, {})
        long = run(x0, 120, n_warmup=150, **extra)
        first = run(x0, 50, n_warmup=150, **extra)
    second = run(None, 70, resume=first.state)
    assert second.state.step_size_jitter == (0.4 if sampler == "nuts_jitter" else 0.0)
    assert second.state.temperature == (2.5 if sampler == "nuts_tempered" else 1.0)
    np.testing.assert_array_equal(np.concatenate([first.draws, second.draws], axis=1), long.draws)
    np.testing.assert_array_equal(second.state.rng_state, long.state.rng_state)
    np.testing.assert_array_equal(second.sample_stats["n_leapfrog"], long.sample_stats["n_leapfrog"][:, 50:])
    assert second.warmup is None and second.seed == long.seed
    # the adapted state starts a fresh run without warm-up: step size and metric are reused
    fresh = nuts(mix, x0, 20, n_warmup=0, step_size=first.state.step_size, inv_metric=first.state.inv_metric,
                 chains=2, seed=9, backend=backend, warn=False)
    np.testing.assert_array_equal(fresh.sample_stats["step_size"][:, 0], first.state.step_size)
    np.testing.assert_array_equal(fresh.state.inv_metric, first.state.inv_metric)


def test_warmup_never_mixed_into_draws(backend):
    mix, _ = workload("T1")
    """Without adaptation a warm-up of 300 and 100 kept draws is a 400-draw run split at 300."""
    r = fastmc.rwmh(mix, np.zeros(2), 100, scale=1.0, seed=1, n_warmup=300, adapt_scale=False, backend=backend)
    full = fastmc.rwmh(mix, np.zeros(2), 400, scale=1.0, seed=1, backend=backend)
    assert r.draws.shape == (1, 100, 2) and r.warmup.draws.shape == (1, 300, 2)
    np.testing.assert_array_equal(r.warmup.draws, full.draws[:, :300])
    np.testing.assert_array_equal(r.draws, full.draws[:, 300:])
    np.testing.assert_array_equal(r.accepted, full.accepted[:, 300:])


def test_chains_get_different_streams():
    from fastmc._numba.core import rng

    a, _ = rng.rng_stream(np.uint64(7), np.uint64(0), 1000)
    b, _ = rng.rng_stream(np.uint64(7), np.uint64(1), 1000)
    c, _ = rng.rng_stream(np.uint64(8), np.uint64(0), 1000)
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


def test_sample_is_seeded():
    mix, _ = workload("T2")
    np.testing.assert_array_equal(mix.sample(10, seed=4), mix.sample(10, seed=4))
    assert not np.array_equal(mix.sample(10, seed=4), mix.sample(10, seed=5))


# ---------------------------------------------------------------- mixture evaluations agree with each other

def test_logpdf_and_grad_agree_with_separate_calls(backend, rng):
    mix = random_mixture(rng, 5)
    X = rng.standard_normal((7, 5))
    lp, g = mix.logpdf_and_grad(X, backend=backend)
    np.testing.assert_array_equal(lp, mix.logpdf(X, backend=backend))
    np.testing.assert_array_equal(g, mix.grad_logpdf(X, backend=backend))
    assert g.shape == (7, 5) and lp.shape == (7,)


def test_zero_weight_component_is_ignored(backend):
    a = fastmc.GaussianMixture([0.5, 0.0, 0.5], [[-1.0], [7.0], [1.0]], [[[1.0]], [[2.0]], [[1.0]]])
    b = fastmc.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
    x = np.linspace(-5, 9, 11)[:, None]
    np.testing.assert_array_equal(a.logpdf(x, backend=backend), b.logpdf(x, backend=backend))
    np.testing.assert_allclose(a.mean(), b.mean())
