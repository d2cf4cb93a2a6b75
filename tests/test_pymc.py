"""Target.from_pymc: the compiled entry point against PyMC's own log density and gradient, the
posterior against PyMC's sampler (within 5 Monte Carlo standard errors), draws independent of the
thread count and the backend, hand-written targets with declared transforms against the PyMC
version, data swaps, ArviZ groups, and the errors. Skipped without the ``pymc`` extra."""
import math

import numba
import numpy as np
import pytest
from helpers import assert_same_draws

import fastmc
from fastmc import models

pm = pytest.importorskip("pymc")
pt = pytest.importorskip("pytensor.tensor")

MODELS = {
    "eight_schools_centred": lambda: models.eight_schools_pymc(centered=True),
    "eight_schools_noncentred": lambda: models.eight_schools_pymc(centered=False),
    "radon": lambda: models.radon_pymc(n_counties=12, n_obs=150),
    "logistic25": lambda: models.logistic_regression_pymc(n=200, p=25),
}
_COMPILED = {}


def compiled(name):
    """(model, target), compiled once per test session."""
    if name not in _COMPILED:
        m = MODELS[name]()
        _COMPILED[name] = (m, fastmc.Target.from_pymc(m))
    return _COMPILED[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_entry_point_equals_pymc_logp_and_dlogp(name, backend):
    model, t = compiled(name)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    rng = np.random.default_rng(7)
    U = rng.normal(size=(8, t.dim))
    lp, g = t.logpdf_and_grad(U, backend=backend)
    for u, l, gu in zip(U, lp, g):
        point = t.layout.split(u)
        ref = logp(point)
        assert abs(l - ref) <= 1e-12 * max(1.0, abs(ref)), (l, ref)
        refg = dlogp(point)
        np.testing.assert_allclose(gu, refg, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(refg).max()))


def test_layout_from_the_model():
    _, t = compiled("eight_schools_noncentred")
    lay = t.layout
    assert [p.name for p in lay.params] == ["mu", "tau", "z"]
    assert [p.unconstrained_name for p in lay.params] == ["mu", "tau_log__", "z"]
    assert [p.transform for p in lay.params] == [None, "log", None]
    assert [d.name for d in lay.deterministics] == ["theta"]
    assert lay.params[2].dims == ("school",) and lay.deterministics[0].shape == (8,)
    assert list(lay.coords["school"]) == list(models.EIGHT_SCHOOLS["schools"])
    assert t.dim == 10 and t.compile_time > 0
    u = np.random.default_rng(1).normal(size=(3, 10))
    post = lay.constrain(u)
    np.testing.assert_allclose(post["tau"], np.exp(u[:, 1]), rtol=1e-15)
    np.testing.assert_allclose(post["theta"], u[:, :1] + np.exp(u[:, 1:2]) * u[:, 2:], rtol=1e-14)


def test_initial_points_follow_pymc_with_jitter():
    model, t = compiled("eight_schools_noncentred")
    ip = model.initial_point()
    flat = np.concatenate([np.ravel(ip[n]) for n in ("mu", "tau_log__", "z")])
    np.testing.assert_array_equal(t.initial_points(3, seed=1, jitter=False), np.tile(flat, (3, 1)))
    x = t.initial_points(4, seed=1)
    assert np.all(np.abs(x - flat) <= 1.0) and len({tuple(r) for r in x}) == 4
    np.testing.assert_array_equal(x, t.initial_points(4, seed=1))
    np.testing.assert_array_equal(x[:2], t.initial_points(2, seed=1))  # chain c depends on (seed, c) only
    assert not np.array_equal(x, t.initial_points(4, seed=2))


def _z(a, b, kind):
    """|mean or sd of a - that of b| over their combined Monte Carlo standard error, per element;
    a, b (chains, draws, ...)."""
    fa = np.mean if kind == "mean" else (lambda x, axis: np.std(x, axis=axis, ddof=1))
    a2 = a.reshape(a.shape[0], a.shape[1], -1)
    b2 = b.reshape(b.shape[0], b.shape[1], -1)
    ea = fastmc.mcse(a2, method=kind)
    eb = fastmc.mcse(b2, method=kind)
    da = fa(a2.reshape(-1, a2.shape[2]), axis=0)
    db = fa(b2.reshape(-1, b2.shape[2]), axis=0)
    return np.abs(da - db) / np.sqrt(ea ** 2 + eb ** 2)


@pytest.mark.parametrize("name", ["eight_schools_noncentred", "radon", "logistic25"])
def test_posterior_agrees_with_pm_sample(name):
    """Every named quantity's mean and sd, deterministics included, within 5 MCSE of PyMC's own
    NUTS (Numba mode, so no C compilation)."""
    model, t = compiled(name)
    r = fastmc.nuts(t, None, 1000, n_warmup=500, chains=2, seed=3, warn=False)
    with model:
        idata = pm.sample(draws=1000, tune=500, chains=2, cores=1, random_seed=3, progressbar=False,
                          compile_kwargs={"mode": "NUMBA"})
    ref = idata.posterior
    names = [p.name for p in t.layout.params] + [d.name for d in t.layout.deterministics]
    assert set(names) <= set(ref.data_vars)
    for v in names:
        ours = r.posterior[v]
        theirs = ref[v].values
        assert ours.shape[2:] == theirs.shape[2:]
        for kind in ("mean", "sd"):
            z = _z(ours, theirs, kind)
            assert np.all(z < 5), (v, kind, z.max())


@pytest.mark.parametrize("name", list(MODELS))
def test_draws_independent_of_threads(name):
    _, t = compiled(name)
    kw = dict(n_warmup=100, chains=3, seed=9, warn=False)
    a = fastmc.nuts(t, None, 100, n_threads=1, **kw)
    b = fastmc.nuts(t, None, 100, n_threads=2, **kw)
    np.testing.assert_array_equal(a.warmup.draws, b.warmup.draws)
    np.testing.assert_array_equal(a.draws, b.draws)


@pytest.mark.slow  # the Numba backend compiles its kernels around the model: a minute or two here
def test_draws_identical_on_both_backends(both_backends):
    _, t = compiled("eight_schools_noncentred")
    kw = dict(n_warmup=100, chains=3, seed=9, warn=False, n_threads=2)
    a = fastmc.nuts(t, None, 100, backend="cpp", **kw)
    c = fastmc.nuts(t, None, 100, backend="numba", **kw)
    assert_same_draws(a, c)


# ------------------------------------------------- hand-written targets with declared transforms

def test_hand_written_eight_schools_has_pymcs_density():
    """The Numba eight schools with tau declared "log" is PyMC's centred model: the same
    unconstrained log density up to a constant (PyMC rounds its normalising constants), the same
    gradient, and the same names."""
    model, t = compiled("eight_schools_centred")
    h = models.eight_schools()
    U = np.random.default_rng(2).normal(size=(10, 10))
    lp_h, g_h = h.logpdf_and_grad(U)
    lp_p, g_p = t.logpdf_and_grad(U)
    np.testing.assert_allclose(np.diff(lp_h), np.diff(lp_p), rtol=1e-12, atol=1e-12)
    assert abs(lp_h[0] - lp_p[0]) < 1e-6
    np.testing.assert_allclose(g_h, g_p, rtol=1e-12, atol=1e-13)
    assert h.layout.unconstrained_labels() == t.layout.unconstrained_labels()[:2] + [
        f"theta[{i}]" for i in range(8)]


@numba.njit(error_model="numpy")
def _small_nb(x, grad, data):
    # mu ~ N(0, 2), sigma ~ HalfNormal(1), p ~ Beta(2, 2); y_i ~ N(mu, sigma), k ~ Binomial(n, p)
    mu, s, p = x[0], x[1], x[2]
    n_y = data.size - 2
    k, n = data[n_y], data[n_y + 1]
    lp = -0.125 * mu * mu - 0.5 * s * s + math.log(p) + math.log1p(-p) + k * math.log(p) + (n - k) * math.log1p(-p)
    g_mu = -0.25 * mu
    g_s = -s
    grad[2] = (1.0 + k) / p - (1.0 + n - k) / (1.0 - p)
    for i in range(n_y):
        e = (data[i] - mu) / s
        lp += -0.5 * e * e - math.log(s)
        g_mu += e / s
        g_s += (e * e - 1.0) / s
    grad[0] = g_mu
    grad[1] = g_s
    return lp


def _small_pymc(y, k, n):
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 2.0)
        s = pm.HalfNormal("sigma", 1.0)
        p = pm.Beta("p", 2.0, 2.0)
        pm.Normal("y", mu, s, observed=y)
        pm.Binomial("k", n, p, observed=k)
    return m


def test_log_and_logit_params_sample_the_pymc_posterior():
    y = np.random.default_rng(5).normal(0.7, 1.3, size=12)
    k, n = 7.0, 20.0
    h = fastmc.Target.from_numba(_small_nb, data=np.concatenate([y, [k, n]]),
                                 params={"mu": (), "sigma": ((), "log"), "p": ((), "logit")})
    t = fastmc.Target.from_pymc(_small_pymc(y, k, n))
    assert [p.unconstrained_name for p in t.layout.params] == h.layout.unconstrained_labels()
    U = np.random.default_rng(6).normal(size=(6, 3))
    lp_h, g_h = h.logpdf_and_grad(U)
    lp_p, g_p = t.logpdf_and_grad(U)
    np.testing.assert_allclose(np.diff(lp_h), np.diff(lp_p), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(g_h, g_p, rtol=1e-12, atol=1e-12)
    rh = fastmc.nuts(h, np.zeros(3), 2000, chains=2, seed=1, warn=False)
    rp = fastmc.nuts(t, None, 2000, chains=2, seed=2, warn=False)
    for v in ("mu", "sigma", "p"):
        for kind in ("mean", "sd"):
            assert np.all(_z(rh.posterior[v], rp.posterior[v], kind) < 5), (v, kind)


# --------------------------------------------------------------------------------- data and ArviZ

def test_with_data_swaps_without_recompiling():
    m = models.eight_schools_pymc(centered=False)
    t = fastmc.Target.from_pymc(m, freeze=False)
    y2 = models.EIGHT_SCHOOLS["y"] * 0.5 + 3.0
    t2 = t.with_data(y=y2)
    assert t2._address == t._address  # the same compiled entry point, other data pointers
    with m:
        pm.set_data({"y": y2})
    logp, dlogp = m.compile_logp(), m.compile_dlogp()
    for u in np.random.default_rng(3).normal(size=(4, 10)):
        lp, g = t2.logpdf_and_grad(u)
        point = t2.layout.split(u)
        assert lp == pytest.approx(logp(point), rel=1e-12)
        np.testing.assert_allclose(g, dlogp(point), rtol=1e-12, atol=1e-14)
    # the original target keeps its data
    with m:
        pm.set_data({"y": models.EIGHT_SCHOOLS["y"]})
    u = np.zeros(10)
    assert t.logpdf(u) == pytest.approx(m.compile_logp()(t.layout.split(u)), rel=1e-12)
    np.testing.assert_array_equal(t2.layout.observed_data["obs"], y2)


def test_with_data_on_a_frozen_target_recompiles():
    _, t = compiled("eight_schools_noncentred")
    y2 = models.EIGHT_SCHOOLS["y"] + 1.0
    t2 = t.with_data(y=y2)
    m = models.eight_schools_pymc(centered=False)
    with m:
        pm.set_data({"y": y2})
    u = np.full(10, 0.3)
    assert t2.logpdf(u) == pytest.approx(m.compile_logp()(t2.layout.split(u)), rel=1e-12)


def test_with_data_errors_name_the_variable():
    t = fastmc.Target.from_pymc(models.eight_schools_pymc(centered=False), freeze=False)
    with pytest.raises(ValueError, match="y must keep its rank 1"):
        t.with_data(y=np.zeros((8, 1)))
    with pytest.raises(ValueError, match="'nope' is not a pm.Data variable"):
        t.with_data(nope=np.zeros(8))
    with pytest.raises(ValueError, match="new y"):
        t.with_data(y=np.zeros(5))  # 8 schools' sigma against 5 observations
    with pytest.raises(ValueError, match="at least one"):
        t.with_data()


def test_to_arviz_has_the_models_groups():
    pytest.importorskip("arviz_base")
    _, t = compiled("radon")
    r = fastmc.nuts(t, None, 100, n_warmup=100, chains=2, seed=1, warn=False)
    dt = r.to_arviz()
    assert {"posterior", "sample_stats", "observed_data", "constant_data", "unconstrained_posterior"} <= set(
        dt.children)
    post = dt["posterior"]
    assert set(post.data_vars) == {"mu_a", "sigma_a", "z_a", "a", "b", "sigma_y"}
    assert post["a"].dims == ("chain", "draw", "county") and post["a"].shape == (2, 100, 12)
    assert dt["observed_data"]["y"].dims == ("obs_id",)
    assert set(dt["constant_data"].data_vars) == {"county_idx", "floor"}
    assert "sigma_a_log__" in dt["unconstrained_posterior"].data_vars
    np.testing.assert_allclose(post["a"].values, post["mu_a"].values[..., None]
                               + post["sigma_a"].values[..., None] * post["z_a"].values, rtol=1e-13)


# ------------------------------------------------------------------------------------ bad input

def test_bad_models_are_named():
    with pytest.raises(TypeError, match="model must be a pymc.Model"):
        fastmc.Target.from_pymc("not a model")
    with pm.Model() as discrete:
        pm.Poisson("count", 3.0)
        pm.Normal("x")
    with pytest.raises(ValueError, match="discrete free variable 'count'"):
        fastmc.Target.from_pymc(discrete)
    with pm.Model() as empty:
        pm.Normal("y", 0.0, 1.0, observed=np.zeros(3))
    with pytest.raises(ValueError, match="no free variables"):
        fastmc.Target.from_pymc(empty)

    from pytensor.compile.ops import wrap_py
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    @wrap_py(itypes=[pt.dscalar], otypes=[pt.dscalar])
    def python_term(a):
        return np.asarray(-a ** 2)

    with pm.Model() as no_grad:
        a = pm.Normal("a")
        pm.Potential("my_potential", python_term(a))
    with pytest.raises(ValueError, match="pm.Potential 'my_potential' uses .*python_term.*has no gradient"):
        fastmc.Target.from_pymc(no_grad)

    class PythonSquare(Op):
        """An Op with a gradient but only a Python implementation."""

        def make_node(self, x):
            x = pt.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = np.asarray(inputs[0] ** 2)

        def grad(self, inputs, g):
            return [2.0 * inputs[0] * g[0]]

    with pm.Model() as no_numba:
        a = pm.Normal("a")
        pm.Potential("python_potential", -PythonSquare()(a))
    with pytest.raises(ValueError, match="pm.Potential 'python_potential' uses PythonSquare.*Numba backend"):
        fastmc.Target.from_pymc(no_numba)
    with pytest.raises(TypeError, match="freeze must be a bool"):
        fastmc.Target.from_pymc(empty, freeze=1)
