"""Named and constrained parameters (fastmc.Layout): spellings, errors, the transforms against
closed forms and finite differences, the three target forms agreeing exactly, draws of a known
constrained distribution, and what results expose by name. Also the acceptance-rate meaning."""

import numba
import numpy as np
import pytest
from numba import cfunc
from scipy import stats

import fastmc
from fastmc.layout import Layout, Param, constrain_point
from helpers import CSIG, assert_within_mcse, nan_outside_support

# ---------------------------------------------------------------- a target with every transform
# mu ~ N(0, 1), tau ~ Exp(1) (log), p ~ Beta(2, 3) (logit), w ~ U(1, 3) (interval),
# v = 2 - Exp(1) (upper bound 2), theta ~ N(0, 1) x 3


all_kinds_nb = nan_outside_support  # the model with mu, tau (log), p (logit), w, v, theta


@cfunc(CSIG, error_model="numpy")
def all_kinds_c(dim, x_ptr, grad_ptr, lp_ptr, data_ptr):
    x = numba.carray(x_ptr, (8,))
    g = numba.carray(grad_ptr, (8,))
    lp_ptr[0] = all_kinds_nb(x, g, x)
    return 0


def all_kinds_py(x):
    g = np.empty(8)
    lp = all_kinds_nb(x, g, x)
    return lp, g


PARAMS = {"mu": (), "tau": ((), "log"), "p": ((), "logit"), "w": Param((), lower=1.0, upper=3.0),
          "v": Param((), upper=2.0), "theta": Param((3,), dims="k")}
COORDS = {"k": ["a", "b", "c"]}


def test_spellings_give_the_same_layout():
    a = Layout.from_params({"tau": ((), "log"), "theta": 3, "p": Param((), "logit")})
    b = Layout.from_params({"tau": Param((), lower=0.0), "theta": (3,), "p": Param(lower=0, upper=1)})
    for x, y in zip(a.params, b.params):
        assert (x.name, x.shape, x.kind, x.lower, x.upper) == (y.name, y.shape, y.kind, y.lower, y.upper)
    assert a.dim == 5 and a.unconstrained_labels() == ["tau_log__", "theta[0]", "theta[1]", "theta[2]",
                                                       "p_logodds__"]
    np.testing.assert_array_equal(a.codes, [1, 0, 0, 0, 3])


@pytest.mark.parametrize("params, kwargs, match", [
    ({"a": (), "b": (3,)}, {"dim": 5}, "params sizes add up to 4.*dim is 5"),
    ({"a": ((), "exp")}, {}, r"params\['a'\] transform"),
    ({"a": Param((), "log", lower=1.0)}, {}, r"params\['a'\]: give either"),
    ({"a": Param((), lower=2.0, upper=1.0)}, {}, r"params\['a'\]: lower"),
    ({"a": Param((2,), dims=("i", "j"))}, {}, r"params\['a'\] dims"),
    ({"a": Param((2,), dims="i")}, {"coords": {"i": [1, 2, 3]}}, r"coords\['i'\] has 3 labels"),
    ({"1a": ()}, {}, "params keys must be identifiers"),
    ({}, {}, "at least one parameter"),
    ({"a": (0,)}, {}, "at least one value"),
])
def test_bad_params_name_the_argument(params, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Layout.from_params(params, **kwargs)


def test_bad_params_types():
    with pytest.raises(TypeError, match="params must be a dict"):
        Layout.from_params([("a", ())])
    with pytest.raises(TypeError, match=r"params\['a'\] shape"):
        Layout.from_params({"a": (1.5,)})


def test_constructors_check_params_against_dim():
    with pytest.raises(ValueError, match="params sizes add up to 8 .* but dim is 9"):
        fastmc.Target.from_numba(all_kinds_nb, 9, params=PARAMS, coords=COORDS)
    with pytest.raises(ValueError, match="params sizes add up to 8 .* but dim is 7"):
        fastmc.Target.from_cfunc(all_kinds_c, 7, params=PARAMS)
    with pytest.raises(ValueError, match="params sizes add up to 8 .* but dim is 2"):
        fastmc.Target.from_python(all_kinds_py, 2, params=PARAMS)
    with pytest.raises(ValueError, match="coords needs params"):
        fastmc.Target.from_numba(all_kinds_nb, 8, coords=COORDS)


def test_transforms_against_closed_forms_and_finite_differences():
    lay = Layout.from_params(PARAMS, coords=COORDS)
    rng = np.random.default_rng(3)
    for u in rng.normal(scale=3.0, size=(20, 8)):
        x, dx, dl = np.empty(8), np.empty(8), np.empty(8)
        lj = constrain_point(u, x, dx, dl, lay.codes, lay.lower, lay.upper)
        s = 1 / (1 + np.exp(-u[[2, 3]]))
        np.testing.assert_allclose(x[:5], [u[0], np.exp(u[1]), s[0], 1 + 2 * s[1], 2 - np.exp(u[4])], rtol=1e-14)
        np.testing.assert_array_equal(x[5:], u[5:])
        # log|J| = sum log|dx_i/du_i|, and its derivative, against central differences
        assert lj == pytest.approx(np.log(np.abs(dx)).sum(), rel=1e-12, abs=1e-12)
        h = 1e-6
        for i in range(5):
            up, dn = u.copy(), u.copy()
            up[i] += h
            dn[i] -= h
            xu, xd, t1, t2 = np.empty(8), np.empty(8), np.empty(8), np.empty(8)
            lu = constrain_point(up, xu, t1, t2, lay.codes, lay.lower, lay.upper)
            ld = constrain_point(dn, xd, t1, t2, lay.codes, lay.lower, lay.upper)
            assert dx[i] == pytest.approx((xu[i] - xd[i]) / (2 * h), rel=1e-6, abs=1e-9)
            assert dl[i] == pytest.approx((lu - ld) / (2 * h), rel=1e-6, abs=1e-8)
        # the inverse
        vals = lay.constrain(u)
        np.testing.assert_allclose(lay.unconstrain(vals), u, rtol=1e-9, atol=1e-9)


def test_unconstrain_rejects_values_outside_the_support():
    lay = Layout.from_params(PARAMS, coords=COORDS)
    good = {"mu": 0.0, "tau": 1.0, "p": 0.5, "w": 2.0, "v": 1.0, "theta": np.zeros(3)}
    lay.unconstrain(good)
    with pytest.raises(ValueError, match=r"values\['tau'\] must lie inside"):
        lay.unconstrain(dict(good, tau=-1.0))
    with pytest.raises(ValueError, match=r"values\['theta'\] must have shape"):
        lay.unconstrain(dict(good, theta=np.zeros(2)))
    with pytest.raises(ValueError, match="exactly the parameters"):
        lay.unconstrain({"mu": 0.0})


def test_three_forms_agree_exactly_with_the_jacobian(backend):
    """numba, cfunc and Python targets with the same params give the same unconstrained log
    density and gradient, bit for bit, which is the user's log density plus log|J| with the chain
    rule applied (checked against central differences)."""
    ts = [fastmc.Target.from_numba(all_kinds_nb, params=PARAMS, coords=COORDS),
          fastmc.Target.from_cfunc(all_kinds_c, params=PARAMS, coords=COORDS)]
    if backend == "cpp":
        ts.append(fastmc.Target.from_python(all_kinds_py, params=PARAMS, coords=COORDS))
    U = np.random.default_rng(4).normal(size=(10, 8))
    lp0, g0 = ts[0].logpdf_and_grad(U, backend=backend)
    for t in ts[1:]:
        lp, g = t.logpdf_and_grad(U, backend=backend)
        np.testing.assert_array_equal(lp, lp0)
        np.testing.assert_array_equal(g, g0)
    lay = ts[0].layout
    for u, lpu, gu in zip(U, lp0, g0):
        x, dx, dl = np.empty(8), np.empty(8), np.empty(8)
        lj = constrain_point(u, x, dx, dl, lay.codes, lay.lower, lay.upper)
        gx = np.empty(8)
        assert lpu == all_kinds_nb(x, gx, x) + lj
        h = 1e-6
        fd = [(ts[0].logpdf(u + h * e, backend=backend) - ts[0].logpdf(u - h * e, backend=backend)) / (2 * h)
              for e in np.eye(8)]
        np.testing.assert_allclose(gu, fd, rtol=1e-6, atol=1e-7)


def test_transformed_target_samples_the_constrained_distribution(backend):
    """The draws, mapped to the constrained space, have the exact means and variances of each
    parameter's distribution (within MCSE). Warm-up's first trajectories overflow exp/sigmoid,
    so the run meets non-finite values."""
    t = fastmc.Target.from_numba(all_kinds_nb, params=PARAMS, coords=COORDS)
    r = fastmc.nuts(t, np.zeros(8), 2000, chains=4, seed=11, backend=backend, warn=False)
    post = r.posterior
    assert list(post) == ["mu", "tau", "p", "w", "v", "theta"]
    assert post["theta"].shape == (4, 2000, 3) and post["tau"].shape == (4, 2000)
    assert np.all(post["tau"] > 0) and np.all((post["p"] > 0) & (post["p"] < 1))
    assert np.all((post["w"] > 1) & (post["w"] < 3)) and np.all(post["v"] < 2)
    exact = {"mu": stats.norm(), "tau": stats.expon(), "p": stats.beta(2, 3), "w": stats.uniform(1, 2),
             "v": stats.expon()}
    checks = 2 * len(exact)
    for name, dist in exact.items():
        y = post[name] if name != "v" else 2.0 - post["v"]
        assert_within_mcse(y, dist.mean(), checks)  # y (chains, draws)
        assert_within_mcse((y - dist.mean()) ** 2, dist.var(), checks)


def test_result_names_summary_and_unconstrained():
    t = fastmc.Target.from_numba(all_kinds_nb, params=PARAMS, coords=COORDS)
    r = fastmc.nuts(t, np.zeros(8), 200, chains=2, seed=1, n_warmup=200, warn=False)
    assert r.layout is t.layout and r.warmup.layout is t.layout
    assert r.unconstrained is r.draws
    assert r.names == ["mu", "tau_log__", "p_logodds__", "w_interval__", "v_log__", "theta[0]", "theta[1]",
                       "theta[2]"]
    s = r.summary()
    assert s.names == ["mu", "tau", "p", "w", "v", "theta[0]", "theta[1]", "theta[2]"]
    np.testing.assert_allclose(s["mean"][1], r.posterior["tau"].mean(), rtol=1e-12)
    # the summary of one quantity equals fastmc.summary of its constrained draws
    one = r.summary(var_names=["theta"])
    ref = fastmc.summary(r.posterior["theta"])
    np.testing.assert_array_equal(one.values, ref.values)
    assert one.names == ["theta[0]", "theta[1]", "theta[2]"]
    with pytest.raises(ValueError, match="var_names"):
        r.summary(var_names=["nope"])
    # fastmc.summary(result) summarises the unconstrained draws, under their names
    assert fastmc.summary(r).names == r.names


def test_result_without_layout_has_one_vector_x(backend):
    mix = fastmc.default_mixture()
    r = fastmc.rwmh(mix, np.zeros(2), 100, scale=1.0, chains=2, seed=1, backend=backend)
    assert list(r.posterior) == ["x"] and r.posterior["x"].shape == (2, 100, 2)
    np.testing.assert_array_equal(r.posterior["x"], r.draws)
    assert r.summary().names == ["x[0]", "x[1]"]


def test_acceptance_rate_is_the_mean_acceptance_statistic(backend):
    """NUTS: the mean of accept_prob per chain (dual averaging aims it at target_accept; on a
    Gaussian it ends above), clearly below the fraction of transitions that moved, near 1;
    RWMH: the fraction accepted."""
    t = fastmc.models.gaussian(np.zeros(5), np.diag(np.arange(1.0, 6.0)))
    r = fastmc.nuts(t, np.zeros(5), 1000, chains=2, seed=3, target_accept=0.7, backend=backend, warn=False)
    np.testing.assert_array_equal(r.acceptance_rate, r.accept_prob.mean(axis=1))
    assert np.all((r.acceptance_rate > 0.6) & (r.acceptance_rate < 0.92)), r.acceptance_rate
    moved = r.accepted.mean(axis=1)
    # (the Fisher warm-up ends nearer target_accept than Stan's, with a larger step: 0.94 moved)
    assert np.all(moved > 0.9) and np.all(moved - r.acceptance_rate > 0.05), (moved, r.acceptance_rate)
    q = fastmc.rwmh(t, np.zeros(5), 1000, scale=1.0, chains=2, seed=3, backend=backend)
    np.testing.assert_array_equal(q.acceptance_rate, q.accepted.mean(axis=1))
