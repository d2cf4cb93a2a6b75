"""GaussianMixture against scipy, central differences, exact moments and its validation."""
import numpy as np
import pytest

import fastmc


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
