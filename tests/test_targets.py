"""GaussianMixture against scipy, central differences, exact moments and its validation."""
import numpy as np
import pytest

import fastmc
from fastmc.workloads import workload

from reference import mixture_grad, mixture_logpdf
from helpers import random_mixture


def test_cpp_and_numba_agree_to_1e12(rng, both_backends):
    for name in ("T1", "T2", "T3"):
        mix, _ = workload(name)
        X = mix.sample(200, seed=3) * 1.5
        lp_c, g_c = mix.logpdf_and_grad(X, backend="cpp")
        lp_n, g_n = mix.logpdf_and_grad(X, backend="numba")
        np.testing.assert_allclose(lp_c, lp_n, rtol=1e-12, atol=0)
        np.testing.assert_allclose(g_c, g_n, rtol=1e-12, atol=1e-12 * np.abs(g_c).max())


def test_exact_moments_against_sampling():
    mix, _ = workload("T1")
    X = mix.sample(400_000, seed=5)
    n = X.shape[0]
    # the sample mean's standard error is sqrt(diag(cov)/n); allow 5 of them
    se = np.sqrt(np.diag(mix.cov()) / n)
    assert np.all(np.abs(X.mean(0) - mix.mean()) < 5 * se)
    np.testing.assert_allclose(mix.mean(), [0.2, 0.9])
    # cov by hand: sum w (S + mu mu^T) - m m^T
    np.testing.assert_allclose(mix.cov(), [[3.56, -0.11], [-0.11, 2.88]], atol=1e-12)
    C = np.cov(X.T)
    se_c = np.sqrt((np.mean(((X - X.mean(0))[:, :, None] * (X - X.mean(0))[:, None, :]) ** 2, axis=0) - C**2) / n)
    assert np.all(np.abs(C - mix.cov()) < 5 * se_c)


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
def test_validation_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastmc.GaussianMixture(**kwargs)


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


def test_type_errors():
    with pytest.raises(TypeError, match="weights"):
        fastmc.GaussianMixture(["a", "b"], [[0], [1]], [[[1]], [[1]]])
    mix = fastmc.default_mixture()
    with pytest.raises(ValueError, match="x must have shape"):
        mix.logpdf([1.0, 2.0, 3.0])


@pytest.mark.parametrize("d", [2, 20, 100])
def test_single_gaussian_gradient_is_the_general_one(rng, d, both_backends):
    """With one component the C++ kernel writes the gradient before the quadratic form is known
    (a shortcut that must give gather_grad's bits): equal to the Numba twin bit for bit, and to
    -P (x - mu) from NumPy."""
    mix = random_mixture(rng, d, K=1)
    X = mix.sample(30, seed=5) + 3.0 * rng.standard_normal((30, d))
    lp_c, g_c = mix.logpdf_and_grad(X, backend="cpp")
    lp_n, g_n = mix.logpdf_and_grad(X, backend="numba")
    np.testing.assert_array_equal(lp_c, lp_n)
    np.testing.assert_array_equal(g_c, g_n)
    P = np.linalg.inv(mix.covs[0])
    np.testing.assert_allclose(g_c, -(X - mix.means[0]) @ P, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("d", [3, 8, 12, 16, 19, 24, 28, 32, 36, 63, 64, 65, 66, 67, 100])
def test_compiled_sizes_agree_with_numba_and_scipy(rng, d, both_backends):
    """The C++ module fixes small dimensions at compile time (d <= 4, multiples of 4 up to 32),
    and from d = 64 multiplies by the precisions in the panel layout (half the bytes) while the
    Numba twin keeps its order: each of those sizes, its neighbours and every d % 4 past the
    switch give the Numba twin's bits, scipy's log density and NumPy's gradient."""
    mix = random_mixture(rng, d)
    X = mix.sample(40, seed=4) + rng.standard_normal((40, d))
    lp_c, g_c = mix.logpdf_and_grad(X, backend="cpp")
    lp_n, g_n = mix.logpdf_and_grad(X, backend="numba")
    np.testing.assert_array_equal(lp_c, lp_n)
    np.testing.assert_array_equal(g_c, g_n)
    np.testing.assert_allclose(lp_c, mixture_logpdf(mix, X), rtol=1e-10, atol=1e-10)
    g_ref = mixture_grad(mix, X)
    np.testing.assert_allclose(g_c, g_ref, rtol=1e-8, atol=1e-8 * np.abs(g_ref).max())
