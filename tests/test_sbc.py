"""Simulation-based calibration (fastmc.sbc) on eight schools, non-centred: uniform ranks for the
right model, ranks far from uniform for a model with a wrong prior scale; Target.with_data.

The fits need the C++ backend (``cpp_only``): on Numba alone the first fit compiles a sampler for
the model (a minute or more on 2 cores), and sbc's logic does not depend on the backend
(FASTMC_BACKEND=numba runs them in 1.2 s each once compiled)."""
import functools

import numpy as np
import pytest

import fastmc
from fastmc.sbc import eight_schools_prior, eight_schools_simulate
from fastmc.targets.user import gradient_problem

NC = fastmc.models.eight_schools_noncentered()


def test_noncentered_gradient_matches_finite_differences(rng):
    for _ in range(5):
        x = rng.normal(size=10)
        lp, g = NC.logpdf_and_grad(x)
        assert gradient_problem(NC.logpdf, x, lp, g) is None


def test_with_data_equals_a_target_built_for_that_data(cpp_only):
    """On the C++ backend (on Numba each of the two targets would compile a sampler of its own)."""
    y = np.arange(8.0)
    sigma = np.full(8, 3.0)
    fresh = fastmc.models.eight_schools_noncentered(y, sigma, mu_scale=2.0)
    swapped = NC.with_data(np.concatenate([y, sigma, [2.0, 5.0]]))
    kw = dict(n_warmup=100, chains=2, seed=4, warn=False, backend="cpp")
    a, b = fastmc.nuts(fresh, np.zeros(10), 100, **kw), fastmc.nuts(swapped, np.zeros(10), 100, **kw)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert swapped._address == NC._address  # one compiled entry point for both
    NC._numba_target()
    assert NC.with_data(swapped._data)._numba[False].logp_grad is NC._numba[False].logp_grad
    with pytest.raises(ValueError, match="data must have the shape"):
        NC.with_data(np.zeros(3))


def test_sbc_ranks_uniform_for_the_right_model(cpp_only):
    """100 simulations; each of the 10 parameters' chi-square p-value above 0.001, a family-wise
    level of 1 % (Bonferroni) under uniform ranks. Seeded: the run is fixed."""
    out = fastmc.sbc(NC, eight_schools_prior, eight_schools_simulate, 100, seed=1, n_warmup=300)
    assert out.n_sims == 100 and out.n_draws == 99
    assert out.ranks["z"].shape == (100, 8) and out.ranks["mu"].shape == (100,)
    assert out.ranks["mu"].min() >= 0 and out.ranks["mu"].max() <= 99
    p = {k: v[1] for k, v in out.uniformity().items()}
    assert len(p) == 10 and min(p.values()) > 0.001, p


def test_sbc_catches_a_wrong_prior_scale(cpp_only):
    """The fitted model's mu prior has scale 1 where the simulator draws mu with scale 5: the
    posterior of mu is too narrow and shrunk to 0, and its ranks pile at both ends."""
    wrong = functools.partial(eight_schools_simulate, mu_scale=1.0)
    out = fastmc.sbc(NC, eight_schools_prior, wrong, 100, seed=1, n_warmup=300)
    p = out.uniformity()["mu"][1]
    assert p < 1e-10
    r = out.ranks["mu"]
    assert np.mean((r < 10) | (r > 89)) > 0.5  # more than half in the outer 20 % of the rank values


def test_sbc_plot(cpp_only):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    out = fastmc.sbc(NC, eight_schools_prior, eight_schools_simulate, 10, seed=2, n_warmup=100, n_draws=19)
    axes = out.plot()
    assert sum(ax.get_visible() for ax in axes) == 10
    assert "smallest uniformity p-value" in repr(out)


@pytest.mark.parametrize("args, kw, err, match", [
    ((fastmc.default_mixture(), eight_schools_prior, eight_schools_simulate, 5), {}, TypeError, "target"),
    ((NC, 3, eight_schools_simulate, 5), {}, TypeError, "prior"),
    ((NC, eight_schools_prior, eight_schools_simulate, 0), {}, ValueError, "n_sims"),
    ((NC, eight_schools_prior, eight_schools_simulate, 5), dict(thin=0), ValueError, "thin"),
    ((NC, eight_schools_prior, eight_schools_simulate, 5), dict(seed=1, x0=np.zeros(3)), ValueError, "x0"),
    ((NC, eight_schools_prior, eight_schools_simulate, 5), dict(n_samples=3), TypeError, "n_samples"),
])
def test_sbc_bad_input(args, kw, err, match):
    with pytest.raises(err, match=match):
        fastmc.sbc(*args, **kw)


def test_uniformity_bins_must_divide(cpp_only):
    out = fastmc.sbc(NC, eight_schools_prior, eight_schools_simulate, 5, seed=2, n_warmup=50, n_draws=9)
    with pytest.raises(ValueError, match="n_bins must divide"):
        out.uniformity(n_bins=3)
