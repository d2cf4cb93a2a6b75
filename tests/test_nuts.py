"""NUTS and the adaptive engine: twin parity, reproducibility, exact continuation, moments within
Monte Carlo error, dual averaging, divergences, warnings and bad input."""
import warnings

import numba
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

def test_divergences_are_counted_and_reported(backend):
    """A 2-D Gaussian with scales 1 and 1e-3 under a fixed step of 0.05: the narrow direction
    is unstable, energy errors explode, sampling completes and reports them."""
    mix = fastmc.GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 0.0], [0.0, 1e-6]]])
    with pytest.warns(SamplingWarning, match="divergent"):
        r = nuts(mix, [0.0, 0.0], 200, n_warmup=0, step_size=0.05, chains=2, seed=3, backend=backend)
    assert r.divergent.sum() > 100 and r.n_divergent.shape == (2,)
    assert np.all(np.isfinite(r.draws)) and np.all(np.isfinite(r.energy))
    # after warm-up the step size adapts to the narrow scale and the divergences disappear
    r2 = nuts(mix, [0.0, 0.0], 200, n_warmup=300, chains=2, seed=3, backend=backend, warn=False)
    assert r2.divergent.sum() == 0


def test_nonfinite_trajectories_do_not_crash(backend):
    mix = fastmc.default_mixture()
    r = nuts(mix, [0.0, 0.0], 50, n_warmup=0, step_size=1e200, chains=2, seed=1, backend=backend, warn=False)
    assert r.divergent.all() and np.all(r.draws == 0.0) and np.all(r.accept_prob == 0)
    assert np.all(r.sample_stats["n_leapfrog"] == 1)
    # every trajectory stopped at its first, non-finite, leaf: counted as for rwmh and hmc
    assert r.n_nonfinite.dtype == np.int64 and np.all(r.n_nonfinite == 50)
    h = fastmc.hmc(mix, [0.0, 0.0], 50, step_size=1e200, n_leapfrog=3, n_warmup=20, adapt_step_size=False,
                   chains=2, seed=1, backend=backend, warn=False)
    assert np.all(h.n_nonfinite == 50) and np.all(h.warmup.n_nonfinite == 20) and not h.accept_prob.any()


@numba.njit
def _half_normal(x, grad, data):
    """Standard normal restricted to x[0] > 0 (-inf outside, with a non-finite gradient)."""
    if x[0] <= 0.0:
        grad[:] = np.nan
        return -np.inf
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i]
        grad[i] = -x[i]
    return -0.5 * s


def test_nonfinite_log_densities_inside_a_trajectory_are_counted():
    """Trajectories that leave the support stop there (divergent, counted in n_nonfinite), the
    draw comes from the states inside, and both twins count the same transitions."""
    t = fastmc.Target.from_numba(_half_normal, 2)
    runs = [nuts(t, [0.5, 0.0], 500, n_warmup=300, chains=2, seed=5, backend=be, warn=False)
            for be in fastmc.available_backends()]
    for r in runs:
        assert np.all(r.draws[..., 0] > 0) and np.all(np.isfinite(r.log_density))
        assert np.all(r.n_nonfinite > 0) and np.all(r.warmup.n_nonfinite > 0)
        assert np.all(r.n_nonfinite <= r.divergent.sum(axis=1))
    for r in runs[1:]:
        np.testing.assert_array_equal(r.n_nonfinite, runs[0].n_nonfinite)
        np.testing.assert_array_equal(r.draws, runs[0].draws)


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
