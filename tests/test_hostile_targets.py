"""Hostile targets and settings: non-finite log densities and gradients, steps that overflow,
divergences, proposals outside the support, stop requests and exceptions raised inside a target.
The run completes (or stops cleanly where asked), rejects and counts what went wrong, and keeps
the draws made before a stop or an exception.
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


# ---------------------------------------------------------------- the hostile-target matrix
# Targets that misbehave in one way each, on every sampler and both backends: the run finishes,
# what went wrong is counted (n_nonfinite, divergences) and warned about where a user must know,
# no NumPy warning escapes, and the twins give the same draws.

@numba.njit
def _hostile(x, grad, data):
    """A Gaussian N(0, data[1]^2 I) whose misbehaviour is chosen by data[0]:
    0 plain; 1 NaN gradient beyond x[0] > 1; 2 inf gradient beyond x[0] > 1; 3 gradient 3x too
    large; 4 log density +inf beyond x[0] > 1.5; 5 -inf outside the box |x_i| < 0.05;
    6 -inf for x[0] <= 0 (a boundary)."""
    mode = data[0]
    sd = data[1]
    lp = 0.0
    for i in range(x.size):
        z = x[i] / sd
        lp -= 0.5 * z * z
        grad[i] = -z / sd
    if mode == 1.0 and x[0] > 1.0:
        grad[0] = np.nan
    elif mode == 2.0 and x[0] > 1.0:
        grad[0] = np.inf
    elif mode == 3.0:
        for i in range(x.size):
            grad[i] *= 3.0
    elif mode == 4.0 and x[0] > 1.5:
        return np.inf
    elif mode == 5.0:
        for i in range(x.size):
            if abs(x[i]) >= 0.05:
                return -np.inf
    elif mode == 6.0 and x[0] <= 0.0:
        return -np.inf
    return lp


HOSTILE = {  # name -> (mode, sd, d, x0)
    "nan_gradient": (1.0, 1.0, 2, [0.0, 0.0]),
    "inf_gradient": (2.0, 1.0, 2, [0.0, 0.0]),
    "wrong_gradient": (3.0, 1.0, 2, [0.3, 0.7]),
    "plus_inf_density": (4.0, 1.0, 2, [0.0, 0.0]),
    "minus_inf_almost_everywhere": (5.0, 1.0, 2, [0.0, 0.0]),
    "start_on_the_boundary": (6.0, 1.0, 2, [1e-300, 0.0]),
    "sd_1e-8": (0.0, 1e-8, 2, [1e-8, -1e-8]),
    "sd_1e8": (0.0, 1e8, 2, [1e8, -1e8]),
    "d_1": (0.0, 1.0, 1, [0.5]),
    "d_1000": (0.0, 1.0, 1000, None),
}
# where a count must be non-zero: the trajectories or proposals do reach the bad region
MUST_COUNT = {"nan_gradient": ("hmc", "nuts"), "inf_gradient": ("hmc", "nuts"),
              "plus_inf_density": ("rwmh", "hmc", "nuts"), "minus_inf_almost_everywhere": ("rwmh", "hmc", "nuts"),
              "start_on_the_boundary": ("rwmh", "hmc", "nuts")}


_HOSTILE_DATA = {}


def _hostile_target(d, mode, sd):
    """One Target per dimension, its data (mode, sd) set in place: the sampler kernels compile once
    per Numba target (seconds each), not once per case."""
    if d not in _HOSTILE_DATA:
        data = np.array([0.0, 1.0])  # construction calls the function once: sd must not be 0
        _HOSTILE_DATA[d] = (fastmc.Target.from_numba(_hostile, d, data), data)
    t, data = _HOSTILE_DATA[d]
    data[:] = (mode, sd)
    return t


def _hostile_run(name, sampler, backend, chains=2):
    mode, sd, d, x0 = HOSTILE[name]
    t = _hostile_target(d, mode, sd)
    x0 = np.full(d, 0.1) if x0 is None else np.asarray(x0)
    n = 40 if d > 100 else 150
    if sampler == "rwmh":
        f = lambda: fastmc.rwmh(t, x0, n, scale=2.4 * sd / np.sqrt(d), n_warmup=n, chains=chains, seed=7,
                                backend=backend)
    elif sampler == "hmc":
        f = lambda: fastmc.hmc(t, x0, n, step_size=0.5 * sd, integration_time=2.0 * sd, n_warmup=n, chains=chains,
                               seed=7, backend=backend)
    else:
        f = lambda: nuts(t, x0, n, n_warmup=n, step_size=sd, chains=chains, seed=7, backend=backend)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = f()
    leaked = [str(w.message) for w in rec
              if not issubclass(w.category, (SamplingWarning, fastmc.GradientCheckWarning))]
    assert not leaked, leaked
    return r, rec


@pytest.mark.parametrize("sampler", ["rwmh", "hmc", "nuts"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_target_matrix(both_backends, name, sampler):
    runs = [_hostile_run(name, sampler, be) for be in both_backends]
    for r, rec in runs:
        assert np.all(np.isfinite(r.draws)) and np.all(np.isfinite(r.log_density))
        assert np.all(r.n_done == r.n_samples)
        if name in MUST_COUNT and sampler in MUST_COUNT[name]:
            assert r.n_nonfinite.sum() + r.warmup.n_nonfinite.sum() > 0
        if name == "minus_inf_almost_everywhere":
            assert np.all(np.abs(r.draws) < 0.05)
        if name == "start_on_the_boundary":
            assert np.all(r.draws[..., 0] > 0)
        if name == "plus_inf_density":  # a proposal at +inf is rejected, never a state
            assert np.all(r.draws[..., 0] <= 1.5)
        cats = {w.category for w in rec}
        if name == "wrong_gradient" and sampler != "rwmh":
            assert fastmc.GradientCheckWarning in cats
    (a, _), (b, _) = runs
    for field in ("draws", "log_density", "accepted", "n_nonfinite"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    if sampler != "rwmh":
        np.testing.assert_array_equal(a.divergent, b.divergent)
        np.testing.assert_array_equal(a.warmup.n_nonfinite, b.warmup.n_nonfinite)


@pytest.mark.parametrize("sampler", ["rwmh", "nuts"])
def test_64_chains_twins_agree(both_backends, sampler):
    runs = [_hostile_run("plus_inf_density", sampler, be, chains=64)[0] for be in both_backends]
    assert runs[0].draws.shape[0] == 64
    np.testing.assert_array_equal(runs[0].draws, runs[1].draws)
    np.testing.assert_array_equal(runs[0].n_nonfinite, runs[1].n_nonfinite)
    # the chains differ from each other: 64 streams, not one repeated
    assert len({runs[0].draws[c, -1, 0] for c in range(64)}) == 64


def test_rwmh_warns_when_a_chain_never_moves(backend):
    """D14: 80,000 draws all equal to the start point and no word about it."""
    mix = fastmc.default_mixture()
    with pytest.warns(SamplingWarning, match=r"chain\(s\) \[0, 1\] accepted none of their 8000 proposals"):
        r = fastmc.rwmh(mix, [0.0, 0.0], 8000, scale=1e300, chains=2, seed=1, backend=backend)
    assert np.all(r.draws == 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastmc.rwmh(mix, [0.0, 0.0], 8000, scale=1e300, chains=2, seed=1, backend=backend, warn=False)
        # a short run, or one whose chains move, is not reported
        fastmc.rwmh(mix, [0.0, 0.0], 49, scale=1e300, seed=1, backend=backend)
        fastmc.rwmh(mix, [0.0, 0.0], 2000, scale=1.0, chains=2, seed=1, backend=backend)
