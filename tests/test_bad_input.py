"""Bad input: wrong arguments to the samplers, mixtures, models and user targets raise ValueError or
TypeError naming the argument, before any work is done; what a Python target returns is checked
and named; a wrong user gradient is reported by the start-point gradient check. The inputs just
inside those limits, which must still be accepted, are tested here too.
"""
import math

import numba
import numpy as np
import pytest
from numba import cfunc, types

import fastmc
from fastmc.nuts import nuts

from helpers import half_normal_c, std_normal_c, std_normal_nb


# ---------------------------------------------------------------- sampler arguments

BAD_COMMON = [
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


@pytest.mark.parametrize("kw, exc, match", BAD_COMMON)
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


@pytest.mark.parametrize("kw, match", [(dict(n_warmup=-1), "n_warmup must be >= 0"),
                                       (dict(target_accept=1.0), r"target_accept must be in \(0, 1\)"),
                                       (dict(target_accept=0.0), r"target_accept must be in \(0, 1\)")])
def test_bad_rwmh_warmup_input(kw, match):
    with pytest.raises(ValueError, match=match):
        fastmc.rwmh(fastmc.default_mixture(), [0.0, 0.0], 10, scale=1.0, **kw)


BAD_NUTS = [
    (dict(max_treedepth=0), ValueError, "max_treedepth must be >= 1"),
    (dict(max_treedepth=2.0), TypeError, "max_treedepth must be an integer"),
    (dict(target_accept=1.0), ValueError, r"target_accept must be in \(0, 1\)"),
    (dict(target_accept=0.0), ValueError, r"target_accept must be in \(0, 1\)"),
    (dict(target_accept="a"), TypeError, "target_accept must be a real number"),
    (dict(n_warmup=-1), ValueError, "n_warmup must be >= 0"),
    (dict(metric="full"), ValueError, "metric must be one of"),
    (dict(metric="dense", inv_metric=np.ones(2)), ValueError, r"inv_metric for metric='dense' must have shape"),
    (dict(metric="dense", inv_metric=[[1.0, 2.0], [2.0, 1.0]]), ValueError, "inv_metric.* must be positive definite"),
    (dict(metric="dense", inv_metric=[[1.0, 0.5], [0.0, 1.0]]), ValueError, r"inv_metric.* must be symmetric"),
    (dict(inv_metric=[1.0, -1.0]), ValueError, "inv_metric must be finite and > 0"),
    (dict(inv_metric=[1.0, 1.0, 1.0]), ValueError, r"inv_metric for metric='diag' must have shape"),
    (dict(inv_metric=[["a", "b"]]), TypeError, "inv_metric must contain real numbers"),
    (dict(step_size=0.0), ValueError, "step_size must be finite and > 0"),
    (dict(chains=0), ValueError, "chains must be >= 1"),
    (dict(resume=object()), TypeError, "resume must be an AdaptedState"),
    (dict(n_samples=0), ValueError, "n_samples must be >= 1"),
    (dict(temperature=-1.0), ValueError, "temperature must be finite and > 0"),
    (dict(temperature=np.inf), ValueError, "temperature must be finite and > 0"),
    (dict(temperature="2"), TypeError, "temperature must be a real number"),
]


@pytest.mark.parametrize("kw, exc, match", BAD_NUTS)
def test_bad_nuts_input_raises_before_work(kw, exc, match):
    mix = fastmc.default_mixture()
    kw = dict(kw)
    n = kw.pop("n_samples", 10)
    with pytest.raises(exc, match=match):
        nuts(mix, [0.0, 0.0], n, **kw)


def test_bad_hmc_warmup_input():
    mix = fastmc.default_mixture()
    with pytest.raises(ValueError, match="n_warmup must be >= 0"):
        fastmc.hmc(mix, [0.0, 0.0], 10, step_size=0.1, n_leapfrog=3, n_warmup=-5)
    with pytest.raises(ValueError, match="temperature must be finite and > 0"):
        fastmc.hmc(mix, [0.0, 0.0], 10, step_size=0.1, n_leapfrog=3, n_warmup=5, temperature=0.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fastmc.hmc(mix, [0.0, 0.0], 10, step_size=0.1, n_leapfrog=3, n_warmup=5, kappa_typo=1.0)


BAD_TIME = [
    (dict(n_leapfrog=5, integration_time=1.0), ValueError, "exactly one of n_leapfrog and integration_time.*both"),
    (dict(), ValueError, "exactly one of n_leapfrog and integration_time.*neither"),
    (dict(integration_time=0.0), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time=-1.0), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time=np.inf), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time=np.nan), ValueError, "integration_time must be finite and > 0"),
    (dict(integration_time="2"), TypeError, "integration_time must be a real number"),
    (dict(integration_time=1.0, max_leapfrog=0), ValueError, "max_leapfrog must be >= 1"),
    (dict(integration_time=1.0, max_leapfrog=2.5), TypeError, "max_leapfrog must be an integer"),
]


@pytest.mark.parametrize("n_warmup", [0, 10])
@pytest.mark.parametrize("kw, exc, match", BAD_TIME)
def test_bad_integration_time_raises_before_work(kw, exc, match, n_warmup):
    calls = []

    def logp_and_grad(x):
        calls.append(1)
        return -0.5 * float(x @ x), -x

    t = fastmc.Target.from_python(logp_and_grad, 2, check_gradient=False)
    with pytest.raises(exc, match=match):
        fastmc.hmc(t, [0.0, 0.0], 10, step_size=0.1, n_warmup=n_warmup, **kw)
    assert not calls


# ---------------------------------------------------------------- mixtures and models

@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=[1, -1], means=[[0], [1]], covs=[[[1]], [[1]]]), "weights must be non-negative"),
        (dict(weights=[0, 0], means=[[0], [1]], covs=[[[1]], [[1]]]), "weights must have a positive sum"),
        (dict(weights=[1, np.nan], means=[[0], [1]], covs=[[[1]], [[1]]]), "weights must be finite"),
        (dict(weights=[1, 1, 1], means=[[0], [1]], covs=[[[1]], [[1]]]), r"weights must have shape \(K,\)"),
        (dict(weights=[1, 1], means=[0, 1], covs=[[[1]], [[1]]]), "means must have 2 dimension"),
        (dict(weights=[1, 1], means=[[0], [np.inf]], covs=[[[1]], [[1]]]), "means must be finite"),
        (dict(weights=[1, 1], means=[[0], [1]], covs=[[[1]]]), r"covs must have shape \(K, d, d\)"),
        (dict(weights=[1, 1], means=[[0], [1]], covs=[[[1]], [[-1]]]), r"covs\[1\] must be positive definite"),
        (dict(weights=[1], means=[[0, 0]], covs=[[[1, 0.5], [0, 1]]]), r"covs\[0\] must be symmetric"),
        (dict(weights=[1], means=[[0, 0]], covs=[[[1, 2], [2, 1]]]), r"covs\[0\] must be positive definite"),
    ],
)
def test_mixture_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastmc.GaussianMixture(**kwargs)


def test_mixture_type_errors():
    with pytest.raises(TypeError, match="weights"):
        fastmc.GaussianMixture(["a", "b"], [[0], [1]], [[[1]], [[1]]])
    mix = fastmc.default_mixture()
    with pytest.raises(ValueError, match="x must have shape"):
        mix.logpdf([1.0, 2.0, 3.0])


def test_singular_or_overflowing_covariances_are_rejected():
    """covs that Cholesky accepts but whose precision is inf or rounding noise would make every
    evaluation NaN: rejected with a ValueError naming the component."""
    with pytest.raises(ValueError, match=r"covs\[0\] is too close to singular"):
        fastmc.GaussianMixture([1.0], [[0.0, 0.0]], [1e-320 * np.eye(2)])
    A = np.random.default_rng(0).standard_normal((3, 2))
    rank2 = A @ A.T  # np.linalg.cholesky accepts it: its last pivot is rounding noise (~1e-16)
    with pytest.raises(ValueError, match=r"covs\[1\] is numerically singular: coordinate 2"):
        fastmc.GaussianMixture([0.5, 0.5], np.zeros((2, 3)), [np.eye(3), rank2])


def test_badly_scaled_but_regular_covariances_are_accepted(backend):
    """The singularity test is scale-free: sds 1e-4 and 1e4 (which scipy.stats calls singular), a
    tiny but normal covariance and a strong correlation pass and evaluate like the closed form."""
    for S in (np.diag([1e-8, 1e8]), 1e-300 * np.eye(2), np.array([[1.0, 0.999], [0.999, 1.0]])):
        mix = fastmc.GaussianMixture([1.0], [[0.0, 0.0]], [S])
        x = np.sqrt(np.diag(S)) * np.array([0.3, -1.2])
        L = np.linalg.cholesky(S)
        z = np.linalg.solve(L, x)
        want = -0.5 * z @ z - np.log(np.diag(L)).sum() - np.log(2 * np.pi)
        assert mix.logpdf(x, backend=backend) == pytest.approx(want, rel=1e-12)


def test_model_argument_errors():
    with pytest.raises(ValueError, match="cov must be positive definite"):
        fastmc.models.gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="y must contain only 0 and 1"):
        fastmc.models.logistic_regression(np.ones((3, 1)), [0, 1, 2])
    with pytest.raises(ValueError, match="dim must be >= 2"):
        fastmc.models.funnel(1)
    with pytest.raises(ValueError, match="b must be finite and > 0"):
        fastmc.models.rosenbrock(b=-1.0)


# ---------------------------------------------------------------- user targets

def test_user_target_validation_at_construction():
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


# ---------------------------------------------------------------- wrong user gradients (the start-point gradient check)

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


def test_a_nan_gradient_at_the_start_point_is_an_error_before_sampling():
    """A NaN gradient where the log density is finite would make every trajectory diverge: the
    start points are evaluated in checked mode, and the error names the coordinate and chain."""
    with pytest.raises(ValueError, match="gradient is nan at coordinate 1") as exc:
        _start_warnings(_scaled(nan=1.0), [0.3, 0.7])
    assert "evaluating x0 of chain 0" in "\n".join(exc.value.__notes__)


def test_gradient_check_at_the_edge_of_the_support_is_one_sided_and_leaks_no_numpy_warning():
    """A start 1e-7 inside the support: the backward difference is -inf, so the check uses a
    one-sided difference; no RuntimeWarning from NumPy, a warning only for a wrong gradient."""
    x0 = [0.5 + 1e-7, 0.5]
    rec = _start_warnings(_scaled(edge=0.5), x0)
    assert not rec, [str(w.message) for w in rec]
    rec = _start_warnings(_scaled(edge=0.5, wrong=(3.0, 1.0)), x0)
    assert [w.category for w in rec] == [fastmc.GradientCheckWarning], [str(w.message) for w in rec]
    assert "coordinate 0" in str(rec[0].message) and "one-sided difference" in str(rec[0].message)


# ---------------------------------------------------------------- out-of-range numbers (issue 22 D11, D12, D17)

_HUGE = [
    (fastmc.rwmh, dict(scale=1.0, n_threads=2**70), "n_threads must be <= 2\\*\\*63 - 1"),
    (fastmc.rwmh, dict(scale=1.0, chains=2**64), "chains must be <= 2\\*\\*63 - 1"),
    (fastmc.rwmh, dict(scale=1.0, n_warmup=2**70), "n_warmup must be <= 2\\*\\*63 - 1"),
    (fastmc.rwmh, dict(scale=10**400), "scale holds an integer beyond the range of float64"),
    (fastmc.rwmh, dict(scale=1.0, temperature=10**400), "temperature must be finite, got an integer beyond"),
    (fastmc.rwmh, dict(scale=1.0, target_accept=10**400), r"target_accept must be in \(0, 1\), got an integer"),
    (fastmc.hmc, dict(step_size=10**400, n_leapfrog=2), "step_size must be finite, got an integer beyond"),
    (fastmc.hmc, dict(step_size=0.1, n_leapfrog=2**70), "n_leapfrog must be <= 1073741824"),
    (fastmc.hmc, dict(step_size=0.1, integration_time=1.0, max_leapfrog=2**70), "max_leapfrog must be <="),
    (nuts, dict(n_threads=2**70), "n_threads must be <= 2\\*\\*63 - 1"),
    (nuts, dict(init_buffer=2**70), "init_buffer must be <= 2\\*\\*63 - 1"),
    (nuts, dict(gamma=10**400), "gamma must be finite, got an integer beyond"),
    (nuts, dict(target_accept=10**400), r"target_accept must be in \(0, 1\), got an integer"),
    (nuts, dict(step_size_jitter=10**400), r"step_size_jitter must be in \[0, 1\], got an integer"),
    (nuts, dict(step_size=[10**400, 1]), "step_size holds an integer beyond the range of float64"),
]


@pytest.mark.parametrize("f, kw, match", _HUGE)
def test_numbers_beyond_64_bits_name_the_argument(backend, f, kw, match):
    """D11: pybind11's "incompatible function arguments" on C++, OverflowError on Numba, and the
    backends disagreed on n_threads=2**70: now the same ValueError on both."""
    if f is nuts:
        kw = dict(n_warmup=10, **kw)
    with pytest.raises(ValueError, match=match):
        f(fastmc.default_mixture(), [0.0, 0.0], 10, backend=backend, **kw)


_SUBNORMAL = [
    (fastmc.rwmh, dict(scale=1.0, temperature=1e-320), "temperature must be at least 2.23e-308"),
    (fastmc.rwmh, dict(scale=1e-320), "scale must be at least 2.23e-308"),
    (fastmc.rwmh, dict(scale=[1.0, 1e-320]), "scale must be at least 2.23e-308"),
    (fastmc.hmc, dict(step_size=1e-320, n_leapfrog=2), "step_size must be at least 2.23e-308"),
    (fastmc.hmc, dict(step_size=0.1, n_leapfrog=2, temperature=1e-320), "temperature must be at least"),
    (fastmc.hmc, dict(step_size=0.1, n_leapfrog=2, temperature=1.7e308), "temperature must be at most"),
    (fastmc.hmc, dict(step_size=0.1, n_leapfrog=2, inv_mass=[1e-320, 1.0]), "inv_mass must be at least"),
    (nuts, dict(temperature=1e-320), "temperature must be at least 2.23e-308"),
    (nuts, dict(kappa=5e-324), "kappa must be at least 2.23e-308"),
    (nuts, dict(inv_metric=[1e-320, 1.0]), "inv_metric must be at least 2.23e-308"),
    (nuts, dict(step_size=[1e-320, 1.0], chains=2), "step_size must be at least 2.23e-308"),
]


@pytest.mark.parametrize("f, kw, match", _SUBNORMAL)
def test_subnormal_and_absurd_values_are_rejected(backend, f, kw, match):
    """D12: temperature=1e-320 was recorded as 0 and NUTS returned NaN log densities with NumPy
    warnings; subnormal steps and scales froze the chains."""
    if f is nuts:
        kw = dict(n_warmup=10, **kw)
    with pytest.raises(ValueError, match=match):
        f(fastmc.default_mixture(), [0.0, 0.0], 10, backend=backend, **kw)


def test_tiny_and_huge_normal_values_are_still_accepted(backend):
    mix = fastmc.default_mixture()
    r = nuts(mix, [0.0, 0.0], 10, n_warmup=10, temperature=4e307, chains=1, backend=backend, warn=False)
    assert np.all(np.isfinite(r.log_density))
    r = fastmc.hmc(mix, [0.0, 0.0], 10, step_size=2.3e-308, n_leapfrog=2, backend=backend)
    assert np.all(r.draws == 0.0) or np.all(np.isfinite(r.draws))


@pytest.mark.parametrize("f, kw, match", [
    (fastmc.rwmh, dict(scale=1.0, n_warmup=10, adapt_scale="no"), "adapt_scale must be True or False"),
    (fastmc.rwmh, dict(scale=1.0, n_warmup=10, adapt_cov=1), "adapt_cov must be True or False"),
    (fastmc.rwmh, dict(scale=1.0, warn="yes"), "warn must be True or False"),
    (fastmc.hmc, dict(step_size=0.1, n_leapfrog=2, warn="no"), "warn must be True or False"),
    (fastmc.hmc, dict(step_size=0.1, n_leapfrog=2, n_warmup=10, adapt_step_size="no"), "adapt_step_size must be"),
    (nuts, dict(n_warmup=10, warn=None), "warn must be True or False"),
])
def test_flags_must_be_bools(backend, f, kw, match):
    """D17: adapt_scale="no" counted as True."""
    with pytest.raises(TypeError, match=match):
        f(fastmc.default_mixture(), [0.0, 0.0], 10, backend=backend, **kw)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(target_accept=7.5), ValueError, r"target_accept must be in \(0, 1\)"),
    (dict(metric="bogus"), ValueError, "metric must be one of"),
    (dict(metric=np.array(["diag", "dense"])), TypeError, "metric must be one of"),
    (dict(step_size_jitter=np.array([0.1, 0.2])), TypeError, "step_size_jitter must be a real number"),
    (dict(gamma=-1.0), ValueError, "gamma must be finite and > 0"),
])
def test_hmc_without_warmup_rejects_unused_adaptation_settings(backend, kw, exc, match):
    """D17: without warm-up HMC silently ignored target_accept=7.5 and metric="bogus"."""
    with pytest.raises(exc, match=match):
        fastmc.hmc(fastmc.default_mixture(), [0.0, 0.0], 10, step_size=0.1, n_leapfrog=2, backend=backend, **kw)


def test_hmc_step_size_jitter_zero_is_valid(backend):
    """D17: step_size_jitter=0.0, a valid value, raised TypeError; it is the plain run."""
    mix = fastmc.default_mixture()
    a = fastmc.hmc(mix, [0.0, 0.0], 20, step_size=0.3, n_leapfrog=3, seed=2, backend=backend,
                   step_size_jitter=0.0)
    b = fastmc.hmc(mix, [0.0, 0.0], 20, step_size=0.3, n_leapfrog=3, seed=2, backend=backend)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert a.settings.keys() == b.settings.keys() and a.settings["step_size"] == b.settings["step_size"]


# ---------------------------------------------------------------- errors that blamed the wrong argument (D16)

def _resume_state(backend):
    return nuts(fastmc.default_mixture(), [0.0, 0.0], 5, n_warmup=20, chains=2, seed=1, warn=False,
                backend=backend).state


@pytest.mark.parametrize("field, value, exc, match", [
    ("step_size", np.array([np.nan, 1.0]), ValueError, r"resume\.step_size must be finite"),
    ("position", np.full((2, 2), np.nan), ValueError, r"resume\.position must be finite"),
    ("position", np.zeros(2), ValueError, r"resume\.position must have 2 dimension"),
    ("inv_metric", -np.ones((2, 2)), ValueError, r"resume\.inv_metric must be finite and > 0"),
    ("inv_metric", np.ones((2, 3)), ValueError, r"resume\.inv_metric must have shape \(2, 2\)"),
    ("metric", "bogus", ValueError, r"resume\.metric must be one of"),
    ("rng_state", np.zeros((2, 4), np.uint64), ValueError, r"resume\.rng_state\[0\] is all zeros"),
    ("rng_state", np.ones((2, 4)), TypeError, r"resume\.rng_state must be a uint64 array"),
    ("rng_state", np.ones((2, 3), np.uint64), ValueError, r"resume\.rng_state must have shape \(2, 4\)"),
    ("seed", "a", TypeError, r"resume\.seed must be an integer"),
    ("step_size_jitter", 5.0, ValueError, r"resume\.step_size_jitter must be in \[0, 1\]"),
    ("temperature", 1e-320, ValueError, r"resume\.temperature must be at least"),
])
@pytest.mark.parametrize("sampler", ["nuts", "hmc"])
def test_corrupted_resume_state_is_named(backend, sampler, field, value, exc, match):
    """D16: a bad resume state was reported as a bad step_size or x0 (or an IndexError)."""
    import copy

    s = copy.deepcopy(_resume_state(backend))
    setattr(s, field, value)
    kw = dict(n_leapfrog=3) if sampler == "hmc" else {}
    with pytest.raises(exc, match=match):
        getattr(fastmc, sampler)(fastmc.default_mixture(), None, 5, resume=s, backend=backend, **kw)


def test_resume_accepts_a_state_written_as_lists(backend):
    """Integer lists (a state read back from text) convert, and continue exactly."""
    import copy

    s = _resume_state(backend)
    t = copy.deepcopy(s)
    t.rng_state = [[int(v) for v in row] for row in s.rng_state]
    t.position = s.position.tolist()
    a = nuts(fastmc.default_mixture(), None, 5, resume=s, backend=backend, warn=False)
    b = nuts(fastmc.default_mixture(), None, 5, resume=t, backend=backend, warn=False)
    np.testing.assert_array_equal(a.draws, b.draws)


@pytest.mark.parametrize("call, exc, match", [
    (lambda x, be: fastmc.ess(x, method="quantile", prob="a", backend=be), ValueError, "prob must be a single"),
    (lambda x, be: fastmc.ess(x, method="quantile", prob=1j, backend=be), TypeError, "prob must be a real number"),
    (lambda x, be: fastmc.ess(x, method="quantile", prob=10**400, backend=be), ValueError, r"prob must lie in"),
    (lambda x, be: fastmc.ess(x, method="tail", prob=(0.1, "b"), backend=be), TypeError, r"prob\[1\] must be a"),
    (lambda x, be: fastmc.ess(x, method="tail", prob=(0.1, 0.2, 0.3), backend=be), ValueError, "prob must be a pair"),
    (lambda x, be: fastmc.ess(x, method="local", prob=[[0.1], [0.2, 0.3]], backend=be), TypeError, r"prob\[0\]"),
    (lambda x, be: fastmc.ess(x, relative="yes", backend=be), TypeError, "relative must be True or False"),
    (lambda x, be: fastmc.mcse(x, method="quantile", prob=None, backend=be), ValueError, "prob must be a single"),
    (lambda x, be: fastmc.mcse(x, sd_variant=np.array(["a", "b"]), backend=be), TypeError, "sd_variant must be"),
    (lambda x, be: fastmc.summary(x, hdi_prob="a", backend=be), TypeError, "hdi_prob must be a real number"),
    (lambda x, be: fastmc.summary(x, hdi_prob=[1, 2], backend=be), TypeError, "hdi_prob must be a real number"),
    (lambda x, be: fastmc.summary(x, hdi_prob=None, backend=be), TypeError, "hdi_prob must be a real number"),
    (lambda x, be: fastmc.summary(x, names=5, backend=be), TypeError, "names must be a sequence of str"),
    (lambda x, be: fastmc.integrated_time(x, c=10**400), ValueError, "c must be finite"),
])
def test_diagnostics_probabilities_name_the_argument(backend, call, exc, match):
    """D16: prob / hdi_prob gave float()'s raw errors ("could not convert string to float")."""
    x = np.random.default_rng(0).standard_normal((2, 50))
    with pytest.raises(exc, match=match):
        call(x, backend)


@pytest.mark.parametrize("sampler", ["rwmh", "hmc", "nuts", "logpdf"])
def test_python_target_with_numba_backend_is_the_same_error_everywhere(cpp_only, sampler):
    """D16: RuntimeError in rwmh and hmc, while NUTS silently ran on C++."""
    t = fastmc.Target.from_python(lambda x: (-0.5 * float(x @ x), -x), 2)
    with pytest.raises(ValueError, match=r"backend='numba' cannot run a Python target"):
        if sampler == "logpdf":
            t.logpdf_and_grad(np.zeros(2), backend="numba")
        elif sampler == "rwmh":
            fastmc.rwmh(t, np.zeros(2), 10, scale=1.0, backend="numba")
        elif sampler == "hmc":
            fastmc.hmc(t, np.zeros(2), 10, step_size=0.1, n_leapfrog=2, backend="numba")
        else:
            nuts(t, np.zeros(2), 10, n_warmup=10, backend="numba")
