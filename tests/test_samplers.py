"""RWMH and HMC: twin parity, reproducibility, integrator properties, robustness, bad input."""
import numpy as np
import pytest

import fastmc
from fastmc.workloads import workload
from helpers import run_sampler


def test_result_fields(backend):
    r = run_sampler("hmc", "T1", 200, backend, chains=3, seed=1)
    assert r.draws.shape == (3, 200, 2) and r.log_density.shape == (3, 200)
    for a in (r.accepted, r.accept_prob, r.energy, r.divergent):
        assert a.shape == (3, 200)
    assert r.accepted.dtype == bool and r.divergent.dtype == bool
    np.testing.assert_array_equal(r.n_grad_evals, [1 + 200 * 20] * 3)
    np.testing.assert_array_equal(r.acceptance_rate, r.accepted.mean(axis=1))
    mix = fastmc.default_mixture()
    np.testing.assert_allclose(r.log_density, mix.logpdf(r.draws.reshape(-1, 2)).reshape(3, 200), rtol=1e-13)
    assert np.all((r.accept_prob >= 0) & (r.accept_prob <= 1))
    assert r.wall_time > 0 and r.backend == backend and "hmc" in repr(r)


def test_x0_per_chain_is_used(backend):
    mix = fastmc.default_mixture()
    x0 = np.array([[5.0, 5.0], [-5.0, -5.0]])
    r = fastmc.rwmh(mix, x0, 1, scale=1e-9, chains=2, seed=1, backend=backend)
    np.testing.assert_allclose(r.draws[:, 0, :], x0, atol=1e-8)


# ---------------------------------------------------------------- integrator


# ---------------------------------------------------------------- robustness

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


# ---------------------------------------------------------------- bad input

BAD = [
    (dict(x0=[np.nan, 0.0]), ValueError, "x0 must be finite"),
    (dict(x0=[0.0, 0.0, 0.0]), ValueError, r"x0 must have shape"),
    (dict(x0=np.zeros((3, 2)), chains=2), ValueError, r"x0 must have shape"),
    (dict(n_samples=0), ValueError, "n_samples must be >= 1"),
    (dict(n_samples=2.5), TypeError, "n_samples must be an integer"),
    (dict(chains=0), ValueError, "chains must be >= 1"),
    (dict(temperature=0.0), ValueError, "temperature must be finite and > 0"),
    (dict(temperature=-1.0), ValueError, "temperature must be finite and > 0"),
    (dict(seed=-1), ValueError, "seed must be in"),
    (dict(seed="a"), TypeError, "seed must be None or an integer"),
    (dict(backend="gpu"), ValueError, "backend must be"),
]


@pytest.mark.parametrize("kw, exc, match", BAD)
@pytest.mark.parametrize("sampler", ["rwmh", "hmc"])
def test_bad_common_input(sampler, kw, exc, match):
    mix = fastmc.default_mixture()
    args = dict(x0=[0.0, 0.0], n_samples=10)
    args.update(kw)
    x0, n = args.pop("x0"), args.pop("n_samples")
    if sampler == "rwmh":
        args.setdefault("scale", 1.0)
        f = fastmc.rwmh
    else:
        args.setdefault("step_size", 0.1)
        args.setdefault("n_leapfrog", 5)
        f = fastmc.hmc
    with pytest.raises(exc, match=match):
        f(mix, x0, n, **args)


@pytest.mark.parametrize(
    "scale, match",
    [(0.0, "scale must be finite and > 0"), (-1.0, "scale must be finite and > 0"),
     ([1.0, -1.0], "scale must be finite and > 0 in every dimension"),
     ([1.0, 2.0, 3.0], "scale must be a scalar, shape"),
     ([[1.0, 2.0], [2.0, 1.0]], "scale .* must be positive definite"),
     ([[1.0, 0.2], [0.0, 1.0]], "scale .* must be symmetric")],
)
def test_bad_rwmh_scale(scale, match):
    with pytest.raises(ValueError, match=match):
        fastmc.rwmh(fastmc.default_mixture(), [0.0, 0.0], 10, scale=scale)


@pytest.mark.parametrize(
    "kw, exc, match",
    [(dict(step_size=0.0), ValueError, "step_size must be finite and > 0"),
     (dict(step_size=np.inf), ValueError, "step_size must be finite and > 0"),
     (dict(n_leapfrog=0), ValueError, "n_leapfrog must be >= 1"),
     (dict(inv_mass=[1.0, 0.0]), ValueError, "inv_mass must be finite and > 0"),
     (dict(inv_mass=-2.0), ValueError, "inv_mass must be finite and > 0"),
     (dict(inv_mass=[1.0, 1.0, 1.0]), ValueError, "inv_mass must be a scalar or have shape")],
)
def test_bad_hmc_input(kw, exc, match):
    args = dict(step_size=0.1, n_leapfrog=5)
    args.update(kw)
    with pytest.raises(exc, match=match):
        fastmc.hmc(fastmc.default_mixture(), [0.0, 0.0], 10, **args)


def test_bad_target_and_start_point():
    with pytest.raises(TypeError, match="target must be a fastmc.GaussianMixture"):
        fastmc.rwmh(lambda x: 0.0, [0.0], 10, scale=1.0)
    mix = fastmc.default_mixture()
    with pytest.raises(ValueError, match="x0 for chain 1 has a non-finite log density"):
        fastmc.rwmh(mix, [[0.0, 0.0], [1e300, 1e300]], 10, scale=1.0, chains=2)


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
