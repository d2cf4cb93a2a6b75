"""result.to_arviz(): the DataTree's groups, names, dims, coords, shapes and sample statistics
match the result; ArviZ 0.23 converts it and its summary, rhat and plots run on it, with numbers
equal to fastmc's own."""
import math

import numba
import numpy as np
import pytest

import fastmc

arviz_base = pytest.importorskip("arviz_base")
az = pytest.importorskip("arviz")


@numba.njit(error_model="numpy")
def _model_nb(x, grad, data):
    # mu ~ N(1, 1), sigma ~ Gamma(3, 1) (positive), theta[k] ~ N(mu, sigma)
    mu, s = x[0], x[1]
    lp = -0.5 * (mu - 1.0) ** 2 + 2.0 * math.log(s) - s
    grad[0] = -(mu - 1.0)
    grad[1] = 2.0 / s - 1.0
    for i in range(2, x.size):
        e = (x[i] - mu) / s
        lp += -0.5 * e * e - math.log(s)
        grad[i] = -e / s
        grad[0] += e / s
        grad[1] += (e * e - 1.0) / s
    return lp


PARAMS = {"mu": (), "sigma": ((), "log"), "theta": fastmc.Param((3,), dims="group")}
COORDS = {"group": ["a", "b", "c"]}


@pytest.fixture(scope="module")
def run():
    t = fastmc.Target.from_numba(_model_nb, params=PARAMS, coords=COORDS)
    return fastmc.nuts(t, np.full(5, 0.5), 300, n_warmup=200, chains=2, seed=5, warn=False)


def test_groups_names_dims_and_shapes(run):
    dt = run.to_arviz()
    assert set(dt.children) == {"posterior", "sample_stats", "warmup_posterior", "warmup_sample_stats",
                                "unconstrained_posterior"}
    post = dt["posterior"]
    assert list(post.data_vars) == ["mu", "sigma", "theta"]
    assert post["theta"].dims == ("chain", "draw", "group")
    assert list(post["group"].values) == ["a", "b", "c"]
    assert post["mu"].shape == (2, 300) and dt["warmup_posterior"]["theta"].shape == (2, 200, 3)
    for name, arr in run.posterior.items():
        np.testing.assert_array_equal(post[name].values, arr)
    np.testing.assert_array_equal(dt["warmup_posterior"]["sigma"].values, run.warmup.layout.constrain(
        run.warmup.draws)["sigma"])
    unc = dt["unconstrained_posterior"]
    assert list(unc.data_vars) == ["mu", "sigma_log__", "theta"]
    np.testing.assert_array_equal(unc["sigma_log__"].values, run.draws[:, :, 1])
    np.testing.assert_array_equal(unc["theta"].values, run.draws[:, :, 2:])
    assert dt.attrs["inference_library"] == "fastmc" and dt.attrs["inference_library_version"] == fastmc.__version__
    assert dt["posterior"].attrs["sampling_time"] == run.wall_time
    assert dt["posterior"].attrs["max_treedepth"] == 10 and dt["posterior"].attrs["sampler"] == "nuts"
    assert "warmup_posterior" not in run.to_arviz(save_warmup=False).children


def test_sample_stats_names_and_values(run):
    ss = run.to_arviz()["sample_stats"]
    assert set(ss.data_vars) == {"lp", "acceptance_rate", "step_size", "step_size_bar", "tree_depth",
                                 "reached_max_treedepth", "n_steps", "diverging", "energy", "energy_error",
                                 "max_energy_error"}
    same = {"lp": run.log_density, "acceptance_rate": run.accept_prob, "energy": run.energy,
            "diverging": run.divergent, "tree_depth": run.sample_stats["tree_depth"],
            "n_steps": run.sample_stats["n_leapfrog"], "step_size": run.sample_stats["step_size"],
            "energy_error": run.sample_stats["energy_error"], "max_energy_error": run.sample_stats["max_energy_error"]}
    for name, arr in same.items():
        np.testing.assert_array_equal(ss[name].values, arr)
    assert ss["diverging"].dtype == bool
    np.testing.assert_array_equal(ss["step_size_bar"].values[:, 0], run.state.step_size)
    # without jitter the kept draws run at the adapted step size
    np.testing.assert_array_equal(ss["step_size_bar"].values, ss["step_size"].values)
    np.testing.assert_array_equal(ss["reached_max_treedepth"].values, run.sample_stats["tree_depth"] >= 10)
    wss = run.to_arviz()["warmup_sample_stats"]
    np.testing.assert_array_equal(wss["acceptance_rate"].values, run.warmup.accept_prob)
    # during warm-up step_size_bar is dual averaging's average: it ends at the adapted step, and
    # the energy errors bound each other as their definitions say
    np.testing.assert_array_equal(wss["step_size_bar"].values[:, -1], run.state.step_size)
    assert np.all(np.abs(ss["max_energy_error"].values) >= np.abs(ss["energy_error"].values))


def test_rwmh_and_static_hmc_stats():
    t = fastmc.Target.from_numba(_model_nb, params=PARAMS, coords=COORDS)
    q = fastmc.rwmh(t, np.full(5, 0.5), 200, scale=0.3, chains=2, seed=1)
    ss = q.to_arviz()["sample_stats"]
    assert set(ss.data_vars) == {"lp", "acceptance_rate"}
    np.testing.assert_array_equal(ss["acceptance_rate"].values, q.accepted.astype(float))
    h = fastmc.hmc(t, np.full(5, 0.5), 200, step_size=0.2, n_leapfrog=7, chains=2, seed=1)
    ss = h.to_arviz()["sample_stats"]
    assert set(ss.data_vars) == {"lp", "acceptance_rate", "step_size", "n_steps", "diverging", "energy",
                                 "step_size_bar", "energy_error", "max_energy_error"}
    # static HMC: both errors are the proposal's, and the acceptance is min(1, exp(-error))
    np.testing.assert_array_equal(ss["energy_error"].values, ss["max_energy_error"].values)
    np.testing.assert_allclose(ss["acceptance_rate"].values, np.minimum(1.0, np.exp(-ss["energy_error"].values)))
    assert np.all(ss["n_steps"].values == 7) and np.all(ss["step_size"].values == 0.2)


def test_arviz_023_reads_it_and_agrees_with_fastmc(run):
    idata = az.InferenceData.from_datatree(run.to_arviz())
    assert {"posterior", "sample_stats", "warmup_posterior"} <= set(idata.groups())
    s = az.summary(idata, round_to="none", var_names=["mu", "sigma", "theta"])
    ours = run.summary()
    assert list(s.index) == ["mu", "sigma", "theta[a]", "theta[b]", "theta[c]"]
    for col in ("mean", "sd", "hdi_3%", "hdi_97%", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"):
        np.testing.assert_allclose(s[col].values, ours[col], rtol=1e-9, err_msg=col)
    rh = az.rhat(idata)
    np.testing.assert_allclose(rh["theta"].values, fastmc.rhat(run.posterior["theta"]), rtol=1e-12)
    np.testing.assert_allclose(float(rh["sigma"]), fastmc.rhat(run.posterior["sigma"]), rtol=1e-12)


def test_arviz_plots_run(run):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    idata = az.InferenceData.from_datatree(run.to_arviz())
    try:
        az.plot_trace(idata)
        az.plot_pair(idata, var_names=["mu", "sigma"], divergences=True)
        ax = az.plot_energy(idata)
        assert ax is not None
    finally:
        plt.close("all")
