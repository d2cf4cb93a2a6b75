"""Targets users write: cfunc, njit and Python paths, built-in models, rejection, errors."""
import math

import numba
import numpy as np
import pytest
from numba import cfunc, types

import fastmc
from helpers import CSIG, assert_within_mcse, half_normal_c, std_normal_c, std_normal_nb, std_normal_py


@cfunc(CSIG)
def stops_beyond_3(dim, x, grad, lp, data):
    """Asks the sampler to stop (negative return) once it proposes x[0] > 3."""
    if x[0] > 3.0:
        return -1
    lp[0] = -0.5 * x[0] * x[0]
    grad[0] = -x[0]
    return 0


# ---------------------------------------------------------------- the three paths agree


# ---------------------------------------------------------------- built-in models vs oracles


# ---------------------------------------------------------------- rejection, stop, errors

def test_cfunc_outside_support_is_rejected_and_counted(backend):
    t = fastmc.Target.from_cfunc(half_normal_c, 1)
    r = fastmc.rwmh(t, [0.5], 200_000, scale=1.5, chains=2, seed=3, backend=backend)
    assert r.n_nonfinite.sum() > 0.2 * r.draws.size  # about half the proposals land below 0
    assert np.all(r.draws > 0)
    assert_within_mcse(r.draws[..., 0], np.sqrt(2 / np.pi), 2)
    assert_within_mcse(r.draws[..., 0] ** 2, 1.0, 2)


def test_negative_return_stops_sampling_and_keeps_draws(backend):
    t = fastmc.Target.from_cfunc(stops_beyond_3, 1, check_gradient=False)
    with pytest.warns(RuntimeWarning, match="stopped sampling early"):
        r = fastmc.rwmh(t, [0.0], 100_000, scale=3.0, chains=2, seed=1, backend=backend)
    assert np.all(r.n_done < 100_000)
    for c in range(2):
        assert np.all(r.draws[c, : r.n_done[c], 0] <= 3.0)
        assert np.all(np.isnan(r.draws[c, r.n_done[c]:])) and not r.accepted[c, r.n_done[c]:].any()


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


def test_negative_return_stops_nuts_and_keeps_draws(backend):
    t = fastmc.Target.from_cfunc(stops_beyond_3, 1, check_gradient=False)
    with pytest.warns(RuntimeWarning, match="stopped sampling early"):
        r = fastmc.nuts(t, [0.0], 100_000, n_warmup=100, chains=2, seed=1, backend=backend)
    assert np.all(r.n_done < 100_000)
    for c in range(2):
        k = max(int(r.n_done[c]), 0)
        assert np.all(r.draws[c, :k, 0] <= 3.0) and np.all(np.isfinite(r.draws[c, :k]))
        assert np.all(np.isnan(r.draws[c, k:])) and not r.accepted[c, k:].any()
        assert np.all(r.sample_stats["n_leapfrog"][c, k:] == 0)


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


def test_python_logp_only_for_rwmh_and_not_for_hmc():
    t = fastmc.Target.from_python(logp=lambda x: -0.5 * float(x @ x), dim=2)
    if "cpp" in fastmc.available_backends():
        r = fastmc.rwmh(t, np.zeros(2), 50, scale=1.0, seed=1)
        assert r.draws.shape == (1, 50, 2)
    with pytest.raises(TypeError, match="hmc needs a gradient"):
        fastmc.hmc(t, np.zeros(2), 10, step_size=0.1, n_leapfrog=2)


@pytest.mark.parametrize("ret, exc, match", [
    (lambda x: "abc", TypeError, r"logp_and_grad must return a tuple \(logp, grad\), got str"),
    (lambda x: None, TypeError, r"logp_and_grad must return a tuple \(logp, grad\), got NoneType"),
    (lambda x: (0.0, -x, 1), ValueError, r"got a tuple of length 3"),
    (lambda x: ("abc", -x), TypeError, r"the logp returned by logp_and_grad must be a real number.*str 'abc'"),
    (lambda x: (0.0, [1.0]), ValueError, r"the grad returned by logp_and_grad must have shape \(2,\), got \(1,\)"),
    (lambda x: (0.0, np.zeros((2, 1))), ValueError, r"must have shape \(2,\), got \(2, 1\)"),
    (lambda x: (0.0, ["a", "b"]), TypeError, r"the grad returned by logp_and_grad must contain real numbers"),
])
def test_python_target_wrong_return_names_what_was_wrong(ret, exc, match, cpp_only):
    """Not pybind11's "Unable to cast ... to C++ type '?'": the error says what was returned."""
    t = fastmc.Target.from_python(ret, 2)
    with pytest.raises(exc, match=match):
        t.logpdf_and_grad(np.zeros(2))
    with pytest.raises(exc, match=match):
        fastmc.rwmh(fastmc.Target.from_python(ret, 2, check_gradient=False), np.zeros(2), 10, scale=1.0)
    with pytest.raises(TypeError, match=r"logp must be a real number.*got list"):
        fastmc.Target.from_python(logp=lambda x: [0.0], dim=2).logpdf(np.zeros(2))


def test_python_target_accepts_what_the_casts_accepted(cpp_only):
    """Lists, numpy scalars, 0-d arrays and integer gradients are converted as before."""
    x = np.array([0.5, -1.0])
    for ret in (lambda x: [-0.5 * float(x @ x), list(-x)], lambda x: (np.float32(-0.625), -x),
                lambda x: (np.array(-0.625), (-x).astype(np.float32)), lambda x: (-1, np.array([0, 1]))):
        lp, g = fastmc.Target.from_python(ret, 2).logpdf_and_grad(x)
        want_lp, want_g = ret(x)[0], np.asarray(ret(x)[1], dtype=float)
        assert lp == float(want_lp) and np.array_equal(g, want_g)
    assert fastmc.Target.from_python(logp=lambda x: np.float32(2.5), dim=2).logpdf(x) == 2.5


def test_validation_at_construction():
    with pytest.raises(ValueError, match="dim must be >= 1"):
        fastmc.Target.from_cfunc(std_normal_c, 0)
    with pytest.raises(TypeError, match="cfunc_or_address has signature"):
        fastmc.Target.from_cfunc(cfunc(types.float64(types.float64))(lambda x: x), 2)
    with pytest.raises(TypeError, match="cfunc_or_address must be"):
        fastmc.Target.from_cfunc("not a function", 2)
    with pytest.raises(TypeError, match="fn must be a numba @njit function"):
        fastmc.Target.from_numba(lambda x, g, d: 0.0, 2)
    with pytest.raises(TypeError, match="fn must accept"):
        fastmc.Target.from_numba(numba.njit(lambda x: 0.0), 2)
    with pytest.raises(TypeError, match="data must be None or a C-contiguous float64"):
        fastmc.Target.from_numba(std_normal_nb, 2, data=[1, 2])
    with pytest.raises(TypeError, match="exactly one of"):
        fastmc.Target.from_python(dim=2)


def test_wrong_dimension_of_start_point():
    t = fastmc.Target.from_numba(std_normal_nb, 3)
    with pytest.raises(ValueError, match=r"x0 must have shape \(d,\) = \(3,\)"):
        fastmc.hmc(t, np.zeros(2), 10, step_size=0.1, n_leapfrog=2)


def test_nonfinite_start_names_the_chain():
    t = fastmc.Target.from_cfunc(half_normal_c, 1)
    with pytest.raises(ValueError, match="x0 for chain 1 has a non-finite log density"):
        fastmc.rwmh(t, [[1.0], [-1.0]], 10, scale=1.0, chains=2)


@numba.njit
def wrong_gradient(x, grad, data):
    grad[0] = -x[0]
    grad[1] = -3.0 * x[1]  # should be -x[1]
    return -0.5 * (x[0] ** 2 + x[1] ** 2)


def test_gradient_check_warns_with_worst_coordinate():
    t = fastmc.Target.from_numba(wrong_gradient, 2)
    with pytest.warns(fastmc.GradientCheckWarning, match="coordinate 1"):
        fastmc.hmc(t, np.array([0.3, 0.7]), 5, step_size=0.1, n_leapfrog=2)
    quiet = fastmc.Target.from_numba(wrong_gradient, 2, check_gradient=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastmc.hmc(quiet, np.array([0.3, 0.7]), 5, step_size=0.1, n_leapfrog=2)


@numba.njit
def scaled_gaussian(x, grad, data):
    """N(0, diag(data[0:2]^2)), -inf for x[0] <= data[4]; the gradient is multiplied by data[2:4]
    (1 = correct) and is NaN in coordinate 1 when data[5] != 0."""
    if x[0] <= data[4]:
        return -np.inf
    lp = 0.0
    for i in range(2):
        z = x[i] / data[i]
        lp -= 0.5 * z * z + math.log(data[i])
        grad[i] = -data[2 + i] * x[i] / (data[i] * data[i])
    if data[5] != 0.0:
        grad[1] = np.nan
    return lp


def _scaled(sd=(1.0, 1.0), wrong=(1.0, 1.0), edge=-np.inf, nan=0.0):
    return fastmc.Target.from_numba(scaled_gaussian, 2, np.array([*sd, *wrong, edge, nan]))


def _start_warnings(t, x0):
    """The warnings of a short HMC run from x0, all recorded (none escape as errors)."""
    import warnings

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fastmc.hmc(t, np.asarray(x0, dtype=float), 3, step_size=1e-6, n_leapfrog=1)
    return rec


@pytest.mark.parametrize("x0", [[0.3, 0.7], [2e-4, -1.5e4], [-1e-5, 3e3], [0.0, 0.0]])
def test_gradient_check_is_quiet_on_an_ill_conditioned_gaussian(x0):
    """sds 1e-4 and 1e4: correct gradients pass from near and far starts (at [0.3, 0.7] the log
    density is -4.5e6, whose rounding swamps differences in the flat coordinate)."""
    rec = _start_warnings(_scaled(sd=(1e-4, 1e4)), x0)
    assert not rec, [str(w.message) for w in rec]


@pytest.mark.parametrize("x0, wrong, coord", [
    ([0.3, 0.7], (3.0, 1.0), 0),
    ([2e-4, -1.5e4], (1.0, 3.0), 1),
    ([2e-4, -1.5e3], (1.0, 3.0), 1),  # gradient 1.5e-5 vs 4.5e-5: below the old absolute 1e-4 floor
    ([2e-4, -1.5e4], (1.0, 1.01), 1),
])
def test_gradient_check_still_warns_on_an_ill_conditioned_gaussian(x0, wrong, coord):
    rec = _start_warnings(_scaled(sd=(1e-4, 1e4), wrong=wrong), x0)
    assert [w.category for w in rec] == [fastmc.GradientCheckWarning], [str(w.message) for w in rec]
    assert f"coordinate {coord}" in str(rec[0].message)


def test_gradient_check_warns_on_a_nan_gradient():
    rec = _start_warnings(_scaled(nan=1.0), [0.3, 0.7])
    assert rec and rec[0].category is fastmc.GradientCheckWarning
    assert "coordinate 1: the gradient is nan" in str(rec[0].message)


def test_gradient_check_at_the_edge_of_the_support_is_one_sided_and_leaks_no_numpy_warning():
    """A start 1e-7 inside the support: the backward difference is -inf, so the check uses a
    one-sided difference; no RuntimeWarning from NumPy, a warning only for a wrong gradient."""
    x0 = [0.5 + 1e-7, 0.5]
    rec = _start_warnings(_scaled(edge=0.5), x0)
    assert not rec, [str(w.message) for w in rec]
    rec = _start_warnings(_scaled(edge=0.5, wrong=(3.0, 1.0)), x0)
    assert [w.category for w in rec] == [fastmc.GradientCheckWarning], [str(w.message) for w in rec]
    assert "coordinate 0" in str(rec[0].message) and "one-sided difference" in str(rec[0].message)


def test_model_argument_errors():
    with pytest.raises(ValueError, match="cov must be positive definite"):
        fastmc.models.gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="y must contain only 0 and 1"):
        fastmc.models.logistic_regression(np.ones((3, 1)), [0, 1, 2])
    with pytest.raises(ValueError, match="dim must be >= 2"):
        fastmc.models.funnel(1)
    with pytest.raises(ValueError, match="b must be finite and > 0"):
        fastmc.models.rosenbrock(b=-1.0)


_NS = 8


@cfunc(CSIG)
def normal_with_stack_scratch(dim, x, grad, lp, data):
    s = fastmc.stack_array(_NS)
    for i in range(dim):
        s[i] = -x[i]
    t = 0.0
    for i in range(dim):
        grad[i] = s[i]
        t += x[i] * s[i]
    lp[0] = 0.5 * t
    return 0


def test_stack_array_scratch_in_a_cfunc(backend):
    a = fastmc.Target.from_cfunc(normal_with_stack_scratch, 3)
    b = fastmc.Target.from_cfunc(std_normal_c, 3)
    X = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_array_equal(a.logpdf_and_grad(X, backend=backend)[1], -X)
    np.testing.assert_allclose(a.logpdf(X, backend=backend), b.logpdf(X, backend=backend), rtol=1e-15)
    with pytest.raises(Exception):
        numba.njit(lambda n: fastmc.stack_array(n))(4)  # the length must be a compile-time constant
