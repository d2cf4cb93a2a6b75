"""Hostile targets and settings: non-finite log densities and gradients, steps that overflow,
divergences, proposals outside the support, stop requests and exceptions raised inside a target.
The run completes (or stops cleanly where asked), rejects and counts what went wrong, and keeps
the draws made before a stop or an exception.
"""
import numba
import numpy as np
import pytest
from numba import cfunc

import fastmc
from fastmc.adaptation import SamplingWarning
from fastmc.nuts import nuts
from fastmc.workloads import workload

from helpers import CSIG, assert_within_mcse, half_normal_c, std_normal_py


# ---------------------------------------------------------------- non-finite values and divergences

def test_rwmh_counts_nonfinite_proposals(backend):
    mix = fastmc.default_mixture()
    # proposals ~1e300 away: the quadratic form overflows to inf, log density -inf
    r = fastmc.rwmh(mix, [0.0, 0.0], 200, scale=1e300, chains=2, seed=1, backend=backend)
    assert np.all(r.n_nonfinite == 200) and not r.accepted.any()
    assert np.all(np.isfinite(r.draws)) and np.all(np.isfinite(r.log_density))


def test_hmc_nonfinite_trajectories_are_rejected_and_flagged(backend):
    mix = fastmc.default_mixture()
    r = fastmc.hmc(mix, [0.0, 0.0], 100, step_size=1e200, n_leapfrog=3, chains=2, seed=1, backend=backend)
    assert np.all(r.n_nonfinite == 100) and r.divergent.all() and not r.accepted.any()
    assert np.all(np.isfinite(r.draws)) and np.all(np.isfinite(r.energy))
    assert np.all(r.accept_prob == 0)


def test_hmc_large_energy_error_is_divergent(backend):
    mix, _ = workload("T3")
    r = fastmc.hmc(mix, np.zeros(100), 50, step_size=0.5, n_leapfrog=5, seed=1, backend=backend)
    assert r.divergent.mean() > 0.9 and r.acceptance_rate[0] < 0.1


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


def test_cfunc_outside_support_is_rejected_and_counted(backend):
    t = fastmc.Target.from_cfunc(half_normal_c, 1)
    r = fastmc.rwmh(t, [0.5], 200_000, scale=1.5, chains=2, seed=3, backend=backend)
    assert r.n_nonfinite.sum() > 0.2 * r.draws.size  # about half the proposals land below 0
    assert np.all(r.draws > 0)
    assert_within_mcse(r.draws[..., 0], np.sqrt(2 / np.pi), 2)
    assert_within_mcse(r.draws[..., 0] ** 2, 1.0, 2)


# ---------------------------------------------------------------- stop requests and exceptions inside a target

@cfunc(CSIG)
def stops_beyond_3(dim, x, grad, lp, data):
    """Asks the sampler to stop (negative return) once it proposes x[0] > 3."""
    if x[0] > 3.0:
        return -1
    lp[0] = -0.5 * x[0] * x[0]
    grad[0] = -x[0]
    return 0


def test_negative_return_stops_sampling_and_keeps_draws(backend):
    t = fastmc.Target.from_cfunc(stops_beyond_3, 1, check_gradient=False)
    with pytest.warns(RuntimeWarning, match="the target stopped chain 0 at iteration"):
        r = fastmc.rwmh(t, [0.0], 100_000, scale=3.0, chains=2, seed=1, backend=backend)
    assert np.all(r.n_done < 100_000)
    for c in range(2):
        assert np.all(r.draws[c, : r.n_done[c], 0] <= 3.0)
        assert np.all(np.isnan(r.draws[c, r.n_done[c]:])) and not r.accepted[c, r.n_done[c]:].any()


def test_negative_return_stops_nuts_and_keeps_draws(backend):
    t = fastmc.Target.from_cfunc(stops_beyond_3, 1, check_gradient=False)
    with pytest.warns(RuntimeWarning, match="the target stopped chain 0 at iteration"):
        r = fastmc.nuts(t, [0.0], 100_000, n_warmup=100, chains=2, seed=1, backend=backend)
    assert np.all(r.n_done < 100_000)
    for c in range(2):
        k = max(int(r.n_done[c]), 0)
        assert np.all(r.draws[c, :k, 0] <= 3.0) and np.all(np.isfinite(r.draws[c, :k]))
        assert np.all(np.isnan(r.draws[c, k:])) and not r.accepted[c, k:].any()
        assert np.all(r.sample_stats["n_leapfrog"][c, k:] == 0)


def _std_normal_raising_after(n_calls):
    """A 2-d standard normal Python target whose calls after the first n_calls raise (np.inf: none)."""
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] > n_calls:
            raise ZeroDivisionError("boom")
        return -0.5 * float(x @ x), -x

    return fastmc.Target.from_python(flaky, 2, check_gradient=False)


def test_python_exception_stops_with_partial_draws(cpp_only):
    t = _std_normal_raising_after(150)
    with pytest.raises(ZeroDivisionError, match="boom") as info:
        fastmc.rwmh(t, np.zeros(2), 100, scale=1.0, chains=3, seed=1)
    exc = info.value
    assert any("chain 1 at iteration" in n for n in exc.__notes__)
    part = exc.partial_result
    assert part.draws.shape[0] == 2 and part.n_done[0] == 100 and part.n_done[1] < 100
    # the first chain is intact: identical to the same chain of a clean run
    clean = fastmc.rwmh(fastmc.Target.from_python(std_normal_py, 2), np.zeros(2), 100, scale=1.0, chains=1, seed=1)
    np.testing.assert_array_equal(part.draws[0], clean.draws[0])


def test_python_exception_in_nuts_keeps_partial_draws(cpp_only):
    t = _std_normal_raising_after(3000)
    with pytest.raises(ZeroDivisionError, match="boom") as info:
        fastmc.nuts(t, np.zeros(2), 200, n_warmup=100, chains=3, seed=1)
    exc = info.value
    part = exc.partial_result
    c = part.draws.shape[0] - 1
    assert any(f"chain {c} at iteration" in n for n in exc.__notes__)
    assert part.n_done[c] < 200 and np.all(part.n_done[:c] == 200)
    k = max(int(part.n_done[c]), 0)
    assert np.all(np.isfinite(part.draws[c, :k])) and np.all(np.isnan(part.draws[c, k:]))
    # the chains before the failing one are intact: identical to a clean run's
    clean = fastmc.nuts(_std_normal_raising_after(np.inf), np.zeros(2), 200,
                        n_warmup=100, chains=c, seed=1, warn=False)
    np.testing.assert_array_equal(part.draws[:c], clean.draws)
