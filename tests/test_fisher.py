"""The Fisher (gradient-based) warm-up, ``adapt="fisher"``: its schedule against a slow loop, the
adapted metric against a NumPy reference of the estimator on the run's own warm-up draws and
gradients, the start from the gradient, convergence to the Fisher-optimal diagonal of a known
Gaussian, twins draw for draw, exact continuation after Ctrl-C, and moments within MCSE."""

import numpy as np
import pytest

import fastmc
from fastmc.adaptation import fisher_schedule
from fastmc.workloads import workload

from helpers import assert_same_draws, ctrl_c_after
from reference import random_spd


def _slow_schedule(n, early=0.3, final=0.15, early_switch=10, switch=80):
    """The schedule written as the loop it describes: a background count that switches when it
    reaches the interval of the current part and a whole interval fits before the final window."""
    phase = np.zeros(n, dtype=np.uint8)
    if n < 3:
        return phase
    end = n - int(final * n)
    count = 0
    for t in range(end):
        phase[t] = 1 | 2
        count += 1
        every = early_switch if t < early * n else switch
        if count >= every and t + every <= end:
            phase[t] |= 4
            count = 0
    if end > 1:
        phase[1] |= 8
    return phase


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 20, 99, 100, 150, 333, 1000, 1001, 2500, 10_007])
def test_schedule_equals_the_loop_it_describes(n):
    np.testing.assert_array_equal(fisher_schedule(n), _slow_schedule(n))
    np.testing.assert_array_equal(fisher_schedule(n, 0.5, 0.2, 7, 31), _slow_schedule(n, 0.5, 0.2, 7, 31))


def test_schedule_of_a_default_warmup():
    p = fisher_schedule(1000)
    assert np.all(p[:850] & 3 == 3) and not np.any(p[850:] & 7)  # the last 15 %: step size alone
    switches = np.flatnonzero(p & 4)
    assert list(switches[:30]) == list(range(9, 300, 10))  # every 10 draws in the first 30 %
    assert set(np.diff(switches[29:])) == {80} and switches[-1] + 80 <= 850
    assert np.flatnonzero(p & 8).tolist() == [1] and not np.any(p & ~np.uint8(15))


def _reference_metric(phase, draws, grads, start):
    """A after the warm-up: the foreground/background estimates replayed from the schedule with
    two-pass variances, A_i = sqrt(var(x_i) / var(g_i)) of the foreground at each update."""
    A = start.copy()
    fg, bg = [], []
    for t, ph in enumerate(phase):
        if ph & 1:
            fg.append(t)
            bg.append(t)
        if ph & 4:
            fg, bg = bg, []
        if ph & 2 and len(fg) >= 2:
            with np.errstate(divide="ignore", invalid="ignore"):  # a chain that has not moved yet
                a = np.sqrt(draws[fg].var(axis=0) / grads[fg].var(axis=0))
            ok = ~np.isnan(a)
            A[ok] = np.clip(a[ok], 1e-20, 1e20)
    return A


def test_adapted_metric_equals_the_numpy_estimator(backend):
    mix, _ = workload("T2")
    n_warmup = 400
    r = fastmc.nuts(mix, np.zeros(mix.dim), 20, n_warmup=n_warmup, adapt="fisher", chains=3, seed=4,
                    backend=backend, warn=False)
    phase = fisher_schedule(n_warmup)
    for c in range(3):
        x = r.warmup.draws[c]
        _, g = mix.logpdf_and_grad(x)
        A = _reference_metric(phase, x, g, np.ones(mix.dim))
        np.testing.assert_allclose(r.state.inv_metric[c], A, rtol=1e-12)
    assert r.settings["adapt"] == "fisher"


def test_the_first_metric_comes_from_the_start_points_gradient(backend):
    """Below 3 warm-up iterations the schedule adapts nothing: the metric is 1 / |grad| at x0
    (1 where the gradient is 0)."""
    mix, _ = workload("T2")
    x0 = np.linspace(-1.0, 1.0, mix.dim)
    x0[3] = 0.0
    r = fastmc.nuts(mix, x0, 5, n_warmup=2, adapt="fisher", chains=1, seed=1, backend=backend, warn=False)
    _, g = mix.logpdf_and_grad(x0[None])
    np.testing.assert_array_equal(r.state.inv_metric[0], np.where(g[0] == 0.0, 1.0, 1.0 / np.abs(g[0])))
    # a given inv_metric, or n_warmup=0, is kept as it is
    r = fastmc.nuts(mix, x0, 5, n_warmup=2, adapt="fisher", inv_metric=np.full(mix.dim, 2.0), chains=1, seed=1,
                    backend=backend, warn=False)
    np.testing.assert_array_equal(r.state.inv_metric[0], 2.0)
    r = fastmc.nuts(mix, x0, 5, n_warmup=0, step_size=0.1, adapt="fisher", chains=1, seed=1, backend=backend,
                    warn=False)
    np.testing.assert_array_equal(r.state.inv_metric[0], 1.0)


def test_metric_approaches_the_fisher_optimal_diagonal_as_warmup_grows():
    """A Gaussian N(0, S), d = 50, condition number 1e4: the diagonal minimising the Fisher
    divergence is sqrt(S_ii / (S^-1)_ii). The median |log(A / A*)| over coordinates and chains
    falls from a 60-iteration warm-up to a 1000-iteration one, to within 15 %."""
    rng = np.random.default_rng(7)
    S = random_spd(rng, 50, 1e-2, 1e2)
    target = fastmc.GaussianMixture([1.0], np.zeros((1, 50)), S[None])
    best = np.sqrt(np.diag(S) / np.diag(np.linalg.inv(S)))
    err = {}
    for n_warmup in (60, 1000):
        r = fastmc.nuts(target, np.zeros(50), 10, n_warmup=n_warmup, adapt="fisher", chains=4, seed=3, warn=False)
        err[n_warmup] = float(np.median(np.abs(np.log(r.state.inv_metric / best))))
    assert err[1000] < err[60] and err[1000] < 0.15, err


def test_twins_agree_draw_for_draw(both_backends):
    mix, _ = workload("T2")
    runs = [fastmc.nuts(mix, np.zeros(mix.dim), 300, n_warmup=300, adapt="fisher", chains=2, seed=11, backend=b,
                        warn=False) for b in both_backends]
    assert_same_draws(*runs)
    np.testing.assert_array_equal(runs[0].state.inv_metric, runs[1].state.inv_metric)
    np.testing.assert_array_equal(runs[0].state.step_size, runs[1].state.step_size)
    np.testing.assert_array_equal(runs[0].n_grad_evals, runs[1].n_grad_evals)
    np.testing.assert_array_equal(runs[0].warmup.accept_prob, runs[1].warmup.accept_prob)
    hmcs = [fastmc.hmc(mix, np.zeros(mix.dim), 100, step_size=0.2, n_leapfrog=8, n_warmup=200, adapt="fisher",
                       chains=2, seed=12, backend=b, warn=False) for b in both_backends]
    assert_same_draws(*hmcs)


def test_draws_do_not_depend_on_the_thread_count(backend):
    mix, _ = workload("T2")
    a, b = (fastmc.nuts(mix, np.zeros(mix.dim), 100, n_warmup=200, adapt="fisher", chains=3, seed=5, backend=backend,
                        n_threads=k, warn=False) for k in (1, 2))
    assert_same_draws(a, b)


def test_adapt_is_checked():
    mix, _ = workload("T1")
    with pytest.raises(ValueError, match="adapt must be one of"):
        fastmc.nuts(mix, np.zeros(2), 10, adapt="nutpie")
    with pytest.raises(TypeError, match="adapt must be one of"):
        fastmc.nuts(mix, np.zeros(2), 10, adapt=1)
    with pytest.raises(ValueError, match="adapt='fisher' adapts a diagonal metric"):
        fastmc.nuts(mix, np.zeros(2), 10, adapt="fisher", metric="dense")


def test_an_interrupted_fisher_warmup_resumes_to_the_same_draws(backend, tmp_path):
    """Ctrl-C in the middle of the warm-up saves both Fisher estimates with the chain's state:
    the resumed run equals the uninterrupted one bit for bit."""
    pytest.importorskip("zarr")

    mix, _ = workload("T3")
    x0 = np.zeros(mix.dim)
    kw = dict(n_warmup=20_000, chains=2, seed=8, backend=backend, adapt="fisher", warn=False, progress=False)
    ref = fastmc.nuts(mix, x0, 10, **kw)
    with ctrl_c_after(0.2), pytest.warns(RuntimeWarning, match="interrupted"):
        part = fastmc.nuts(mix, x0, 10, store=tmp_path / "run.zarr", store_every=10_000, **kw)
    assert part.interrupted and part.draws.shape[1] == 0 < part.warmup.draws.shape[1] < 20_000  # inside the warm-up
    resumed = fastmc.resume(tmp_path / "run.zarr", backend=backend, progress=False, warn=False)
    assert_same_draws(resumed, ref)
    np.testing.assert_array_equal(resumed.state.inv_metric, ref.state.inv_metric)


def _check_moments(r, mean, var, z=5.0):
    """Mean and variance of every coordinate within z MCSE (``fastmc.mcse``)."""
    x = r.draws
    for y, truth in ((x, mean), ((x - mean) ** 2, var)):
        est = y.reshape(-1, x.shape[2]).mean(axis=0)
        se = fastmc.mcse(y, method="mean")
        bad = np.abs(est - truth) > z * se
        assert not bad.any(), (np.flatnonzero(bad), est[bad], truth[bad], se[bad])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["T1", "T2", "T3", "corr100"])
def test_moments_within_mcse(name):
    if name == "corr100":
        S = random_spd(np.random.default_rng(1), 100, 0.1, 10.0)
        mix = fastmc.GaussianMixture([1.0], np.zeros((1, 100)), S[None])
    else:
        mix, _ = workload(name)
    r = fastmc.nuts(mix, np.zeros(mix.dim), 2000, n_warmup=1000, adapt="fisher", chains=4, seed=31, warn=False)
    _check_moments(r, mix.mean(), np.diag(mix.cov()))


def test_command_line_passes_adapt():
    from fastmc.cli import UsageError, build_parser, sample_kwargs

    mix, _ = workload("T1")
    args = build_parser().parse_args(["sample", "m.py", "--adapt", "fisher"])
    fn, kw = sample_kwargs(args, mix)
    assert fn is fastmc.nuts and kw["adapt"] == "fisher"
    args = build_parser().parse_args(["sample", "m.py", "--sampler", "rwmh", "--adapt", "fisher"])
    with pytest.raises(UsageError, match="--adapt applies to --sampler nuts or hmc"):
        sample_kwargs(args, mix)


def test_fisher_is_the_default_for_a_diagonal_metric_and_stan_for_a_dense_one(backend):
    mix, _ = workload("T1")
    kw = dict(n_warmup=100, chains=2, seed=3, backend=backend, warn=False)
    default = fastmc.nuts(mix, np.zeros(2), 50, **kw)
    assert default.settings["adapt"] == "fisher"
    assert_same_draws(default, fastmc.nuts(mix, np.zeros(2), 50, adapt="fisher", **kw))
    dense = fastmc.nuts(mix, np.zeros(2), 50, metric="dense", **kw)
    assert dense.settings["adapt"] == "stan"
    assert_same_draws(dense, fastmc.nuts(mix, np.zeros(2), 50, metric="dense", adapt="stan", **kw))
    assert fastmc.hmc(mix, np.zeros(2), 20, step_size=0.3, n_leapfrog=5, **kw).settings["adapt"] == "fisher"
