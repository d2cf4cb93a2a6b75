"""RWMH and HMC: twin parity, reproducibility, integrator properties, robustness, bad input."""
import numpy as np
import pytest

import fastmc
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


# ---------------------------------------------------------------- bad input


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
