"""The public API's contract: the fields and shapes of result objects, per-chain start points,
resuming from an adapted state, warning control, backend selection, and fastmc.stack_array
scratch inside a cfunc target.
"""
import warnings

import numba
import numpy as np
import pytest
from numba import cfunc

import fastmc
from fastmc.adaptation import SamplingWarning
from fastmc.nuts import nuts
from fastmc.workloads import workload

from helpers import CSIG, run_sampler, std_normal_c


# ---------------------------------------------------------------- results and their fields

def test_result_fields(backend):
    r = run_sampler("hmc", "T1", 200, backend, chains=3, seed=1)
    assert r.draws.shape == (3, 200, 2) and r.log_density.shape == (3, 200)
    for a in (r.accepted, r.accept_prob, r.energy, r.divergent):
        assert a.shape == (3, 200)
    assert r.accepted.dtype == bool and r.divergent.dtype == bool
    np.testing.assert_array_equal(r.n_grad_evals, [1 + 200 * 20] * 3)
    # HMC: the mean acceptance statistic (Stan, ArviZ), not the fraction of moves
    np.testing.assert_array_equal(r.acceptance_rate, r.accept_prob.mean(axis=1))
    mix = fastmc.default_mixture()
    np.testing.assert_allclose(r.log_density, mix.logpdf(r.draws.reshape(-1, 2)).reshape(3, 200), rtol=1e-13)
    assert np.all((r.accept_prob >= 0) & (r.accept_prob <= 1))
    assert r.wall_time > 0 and r.backend == backend and "hmc" in repr(r)


def test_x0_per_chain_is_used(backend):
    mix = fastmc.default_mixture()
    x0 = np.array([[5.0, 5.0], [-5.0, -5.0]])
    r = fastmc.rwmh(mix, x0, 1, scale=1e-9, chains=2, seed=1, backend=backend)
    np.testing.assert_allclose(r.draws[:, 0, :], x0, atol=1e-8)


def test_result_fields_and_warmup_separate(backend):
    mix, _ = workload("T1")
    r = nuts(mix, [0.0, 0.0], 60, n_warmup=40, chains=2, seed=1, max_treedepth=6, backend=backend, warn=False)
    assert r.draws.shape == (2, 60, 2) and r.warmup.draws.shape == (2, 40, 2)
    for a in (r.accept_prob, r.energy, r.divergent, r.sample_stats["tree_depth"], r.sample_stats["n_leapfrog"]):
        assert a.shape == (2, 60)
    depth, nl = r.sample_stats["tree_depth"], r.sample_stats["n_leapfrog"]
    assert np.all((depth >= 1) & (depth <= 6)) and np.all((nl >= 2 ** depth - 1) & (nl <= 2 ** (depth + 1) - 1))
    assert np.all((r.accept_prob >= 0) & (r.accept_prob <= 1))
    np.testing.assert_allclose(r.log_density, mix.logpdf(r.draws.reshape(-1, 2)).reshape(2, 60), rtol=1e-12)
    assert r.ebfmi.shape == (2,) and r.state.inv_metric.shape == (2, 2) and r.state.step_size.shape == (2,)
    assert np.all(r.n_grad_evals >= 1 + nl.sum(axis=1) + r.warmup.sample_stats["n_leapfrog"].sum(axis=1))
    # the step size is constant after warm-up and equals the adapted one
    assert np.all(r.sample_stats["step_size"] == r.state.step_size[:, None])
    # accepted: the draw differs from the one before (the start point before the first warm-up draw)
    allx = np.concatenate([np.zeros((2, 1, 2)), r.warmup.draws, r.draws], axis=1)
    moved = np.any(allx[:, 1:] != allx[:, :-1], axis=2)
    np.testing.assert_array_equal(r.warmup.accepted, moved[:, :40])
    np.testing.assert_array_equal(r.accepted, moved[:, 40:])
    assert moved.any() and not moved.all()


# ---------------------------------------------------------------- resume, warnings, backends

def test_hmc_resumes_a_dense_state_without_restating_it():
    """hmc(resume=state) takes the metric, step size and chains from the state, as nuts does
    (it used to default to metric="diag" and reject the (chains, d, d) inverse metric)."""
    mix, _ = workload("T2")
    warm = fastmc.hmc(mix, np.zeros(mix.dim), 5, step_size=0.3, n_leapfrog=6, n_warmup=100, metric="dense",
                      chains=2, seed=9, warn=False)
    r = fastmc.hmc(mix, None, 30, n_leapfrog=6, resume=warm.state, warn=False)
    assert r.state.metric == "dense" and r.draws.shape == (2, 30, mix.dim)
    np.testing.assert_array_equal(r.state.inv_metric, warm.state.inv_metric)
    np.testing.assert_array_equal(r.sample_stats["step_size"], np.repeat(warm.state.step_size[:, None], 30, axis=1))
    with pytest.raises(ValueError, match="step_size is required"):
        fastmc.hmc(mix, np.zeros(mix.dim), 10, n_leapfrog=6)


def test_warnings_are_suppressible_and_treedepth_saturation_reported(backend):
    mix, _ = workload("T1")
    with pytest.warns(SamplingWarning, match="max_treedepth"):
        nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e-3, max_treedepth=3, chains=2, seed=1, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e-3, max_treedepth=3, chains=2, seed=1, backend=backend,
             warn=False)


def test_backend_selection(monkeypatch):
    avail = fastmc.available_backends()
    assert set(avail) <= {"cpp", "numba"} and avail
    mix = fastmc.default_mixture()
    monkeypatch.setenv("FASTMC_BACKEND", "numba")
    assert fastmc.rwmh(mix, [0.0, 0.0], 5, scale=1.0).backend == "numba"
    monkeypatch.setenv("FASTMC_BACKEND", "auto")
    assert fastmc.rwmh(mix, [0.0, 0.0], 5, scale=1.0).backend == avail[0]
    import fastmc._backends as b

    monkeypatch.setattr(b, "_core", None)
    with pytest.raises(RuntimeError, match="backend='cpp' was requested"):
        fastmc.rwmh(mix, [0.0, 0.0], 5, scale=1.0, backend="cpp")
    monkeypatch.setenv("FASTMC_BACKEND", "auto")
    assert fastmc.rwmh(mix, [0.0, 0.0], 5, scale=1.0).backend == "numba"


# ---------------------------------------------------------------- stack_array in a cfunc target

_NS = 8


@cfunc(CSIG)
def normal_with_stack_scratch(dim, x, grad, lp, data):
    s = fastmc.stack_array(_NS)
    for i in range(dim):
        s[i] = -x[i]
    t = 0.0
    for i in range(dim):
        grad[i] = s[i]
        t += x[i] * s[i]
    lp[0] = 0.5 * t
    return 0


def test_stack_array_scratch_in_a_cfunc(backend):
    a = fastmc.Target.from_cfunc(normal_with_stack_scratch, 3)
    b = fastmc.Target.from_cfunc(std_normal_c, 3)
    X = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_array_equal(a.logpdf_and_grad(X, backend=backend)[1], -X)
    np.testing.assert_allclose(a.logpdf(X, backend=backend), b.logpdf(X, backend=backend), rtol=1e-15)
    with pytest.raises(Exception):
        numba.njit(lambda n: fastmc.stack_array(n))(4)  # the length must be a compile-time constant
