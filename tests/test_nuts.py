"""NUTS and the adaptive engine: twin parity, reproducibility, exact continuation, moments within
Monte Carlo error, dual averaging, divergences, warnings and bad input."""
import warnings

import numpy as np
import pytest

import fastmc
from fastmc.adaptation import SamplingWarning
from fastmc.nuts import nuts
from fastmc.workloads import workload


# ---------------------------------------------------------------- test-local ESS (Vehtari et al. 2021)


# ---------------------------------------------------------------- twins and reproducibility


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


# ---------------------------------------------------------------- statistics


# ---------------------------------------------------------------- tempering with warm-up


# ---------------------------------------------------------------- robustness and warnings


def test_warnings_are_suppressible_and_treedepth_saturation_reported(backend):
    mix, _ = workload("T1")
    with pytest.warns(SamplingWarning, match="max_treedepth"):
        nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e-3, max_treedepth=3, chains=2, seed=1, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e-3, max_treedepth=3, chains=2, seed=1, backend=backend,
             warn=False)


# ---------------------------------------------------------------- bad input


# ---------------------------------------------------------------- static HMC with an integration time
