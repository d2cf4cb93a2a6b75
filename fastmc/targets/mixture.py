"""The built-in target: a Gaussian mixture, evaluated by the C++ or Numba kernels."""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .. import _backends
from .._numba.core.linalg import SYM_PANEL_MIN_DIM
from .._numba.targets import mixture as _numba_mixture
from .._validation import (as_float_array, as_int, as_points, as_seed, cholesky_or_raise, refuse_if_too_large,
                           require_finite)
from ._base import NumbaTarget, logp_grad_batch

__all__ = ["GaussianMixture", "default_mixture"]


def _aligned(a):
    """A C-contiguous float64 copy of ``a`` starting on a 64-byte boundary.

    The kernels read the precision matrices four doubles (32 bytes) at a time: from a 64-byte start
    those loads do not straddle cache lines, where NumPy's 16-byte alignment splits about half.
    """
    a = np.asarray(a, dtype=np.float64)
    buf = np.empty(a.size + 8)
    start = (-buf.ctypes.data % 64) // 8
    out = buf[start:start + a.size].reshape(a.shape)
    out[...] = a
    return out


def _factor(name: str, cov: np.ndarray, eye: np.ndarray):
    r"""Cholesky factor, precision and log-determinant of one component covariance.

    Parameters
    ----------
    name : str
        How errors name the matrix, e.g. ``"covs[0]"``.
    cov : ndarray, shape (d, d)
    eye : ndarray, shape (d, d)
        The identity.

    Returns
    -------
    L : ndarray, shape (d, d)
        Lower Cholesky factor.
    P : ndarray, shape (d, d)
        Symmetric precision :math:`\Sigma^{-1}`.
    logdet : float

    Raises
    ------
    ValueError
        Naming ``name`` when the matrix is not symmetric positive definite, is numerically
        singular, or its factor, precision or log-determinant is not finite in float64 (e.g.
        ``1e-320 * I``, whose precision overflows); such a matrix would make every evaluation NaN.
    """
    L = cholesky_or_raise(name, cov)
    # Pivot i squared over cov[i, i] is the fraction of coordinate i's variance not explained by the
    # coordinates before it: the Cholesky pivots of the correlation matrix, so the test does not
    # depend on the coordinates' scales. At or below d * eps (numpy.linalg.matrix_rank's tolerance)
    # the matrix is rank deficient at working precision and its precision is rounding noise.
    d = cov.shape[0]
    with np.errstate(all="ignore"):
        frac = np.diag(L) ** 2 / np.diag(cov)
        Linv = solve_triangular(L, eye, lower=True)
        P = Linv.T @ Linv
        logdet = 2.0 * np.log(np.diag(L)).sum()
    if not (np.all(np.isfinite(L)) and np.all(np.isfinite(P)) and np.isfinite(logdet)):
        raise ValueError(f"{name} is too close to singular for float64: its Cholesky factor, inverse or "
                         f"log-determinant is not finite (smallest diagonal {np.diag(cov).min():.3g}); "
                         "rescale the coordinates")
    if not frac.min() > d * np.finfo(float).eps:
        i = int(np.argmin(frac))
        raise ValueError(f"{name} is numerically singular: coordinate {i} is a linear combination of the ones "
                         f"before it up to rounding (unexplained variance fraction {frac[i]:.3g})")
    return L, 0.5 * (P + P.T), logdet


class GaussianMixture:
    r"""A mixture of multivariate normals :math:`p(x) = \sum_k w_k N(x; \mu_k, \Sigma_k)`.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative, finite, with a positive sum; normalised internally. Components with zero
        weight are kept for display but skipped in every evaluation.
    means : array_like, shape (K, d)
        Component means.
    covs : array_like, shape (K, d, d)
        Symmetric positive-definite component covariances, each invertible in float64 (not
        numerically singular, with a finite precision and log-determinant).

    Notes
    -----
    Evaluation works with the precisions :math:`P_k = \Sigma_k^{-1}` and the constants
    :math:`c_k = \log w_k - \frac12 \log\det(2\pi\Sigma_k)`, and combines components by
    log-sum-exp, so log density and gradient stay finite far into the tails (1e3 standard
    deviations out) and tiny weights never overflow or underflow the normalisation.

    Examples
    --------
    >>> import fastmc
    >>> mix = fastmc.GaussianMixture([0.5, 0.5], [[-1.0], [1.0]], [[[1.0]], [[1.0]]])
    >>> float(mix.logpdf([0.0]))  # doctest: +ELLIPSIS
    -1.418...
    """

    def __init__(self, weights, means, covs):
        w = as_float_array("weights", weights, ndim=1)
        mu = as_float_array("means", means, ndim=2)
        S = as_float_array("covs", covs, ndim=3)
        K, d = mu.shape
        if K == 0 or d == 0:
            raise ValueError(f"means must have shape (K, d) with K >= 1 and d >= 1, got {mu.shape}")
        if w.shape != (K,):
            raise ValueError(f"weights must have shape (K,) = ({K},) to match means, got {w.shape}")
        if S.shape != (K, d, d):
            raise ValueError(f"covs must have shape (K, d, d) = ({K}, {d}, {d}), got {S.shape}")
        require_finite("weights", w)
        if np.any(w < 0):
            raise ValueError(f"weights must be non-negative, weights[{int(np.argmax(w < 0))}] = {w[w < 0][0]}")
        total = w.sum()
        if not total > 0:
            raise ValueError("weights must have a positive sum")
        require_finite("means", mu)
        chol = np.empty_like(S)
        prec = np.empty_like(S)
        logdet = np.empty(K)
        eye = np.eye(d)
        for k in range(K):
            chol[k], prec[k], logdet[k] = _factor(f"covs[{k}]", S[k], eye)
        # the arguments as given rebuild this mixture exactly in another process (see _travel)
        self._recipe = ("mixture", (np.array(w), mu, S), {})
        self._blob = None
        self.weights = w / total
        self.means = mu
        self.covs = S
        self._chol = chol
        keep = w > 0
        with np.errstate(divide="ignore"):
            logw = np.log(w) - np.log(total)  # not log(w / total): that underflows for tiny weights
        logc = logw - 0.5 * logdet - 0.5 * d * np.log(2.0 * np.pi)
        self._logc = np.ascontiguousarray(logc[keep])
        self._kmeans = _aligned(mu[keep])
        self._prec = _aligned(prec[keep])

    # ----------------------------------------------------------------- shape
    @property
    def dim(self) -> int:
        """Dimension d."""
        return self.means.shape[1]

    @property
    def layout(self):
        """One unconstrained vector ``x`` of shape (d,) (:class:`fastmc.Layout`)."""
        from ..layout import Layout

        return Layout.default(self.dim)

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return self.means.shape[0]

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.n_components}, d={self.dim})"

    def __reduce__(self):
        # its recipe, rebuilt once per process: the aligned copies the kernels read are remade there
        from ._travel import reduce_target

        return reduce_target(self)

    # ------------------------------------------------------------ kernel views
    kind = "mixture"
    has_grad = True
    check_gradient = False  # the gradient is exact by construction (and tested)

    def _arrays(self):
        return self._logc, self._kmeans, self._prec

    def _cpp_spec(self, checked=False):
        return ("mixture",) + self._arrays()

    def _numba_target(self, checked=False):
        """The jitted functions and data the Numba kernels take (see ``_base.NumbaTarget``)."""
        m = _numba_mixture
        return NumbaTarget(m.mixture_logp, m.mixture_logp_grad, m.mixture_grad, m.mixture_failed,
                           m.mixture_failure, m.mixture_make_work, self._numba_arrays())

    def _numba_arrays(self):
        """The Numba twin's data: the kernel arrays, and the precisions again when d calls for
        the panel order of the symmetric products (None otherwise; see _numba/mixture.py)."""
        return self._arrays() + (self._prec if self.dim >= SYM_PANEL_MIN_DIM else None,)

    # -------------------------------------------------------------- evaluation
    def logpdf_and_grad(self, x, *, backend: str = "auto"):
        """Log density and its gradient.

        Parameters
        ----------
        x : array_like, shape (d,) or (n, d)
        backend : {"auto", "cpp", "numba"}

        Returns
        -------
        logp : float or ndarray, shape (n,)
        grad : ndarray, shape (d,) or (n, d)
        """
        return logp_grad_batch(self, x, backend)

    def logpdf(self, x, *, backend: str = "auto"):
        """Log density at ``x`` (d,) -> float, or (n, d) -> (n,)."""
        X, single = as_points(x, self.dim)
        lp = _backends.get(backend).mixture_logp(self, X)
        return float(lp[0]) if single else lp

    def grad_logpdf(self, x, *, backend: str = "auto"):
        """Gradient of the log density: ``x`` (d,) -> (d,), or (n, d) -> (n, d)."""
        return self.logpdf_and_grad(x, backend=backend)[1]

    # ----------------------------------------------------------------- moments
    def mean(self) -> np.ndarray:
        """Exact mixture mean, shape (d,)."""
        return self.weights @ self.means

    def cov(self) -> np.ndarray:
        r"""Exact mixture covariance :math:`\sum_k w_k(\Sigma_k + \mu_k\mu_k^T) - m m^T`, shape (d, d)."""
        m = self.mean()
        second = np.einsum("k,kij->ij", self.weights, self.covs)
        second += np.einsum("k,ki,kj->ij", self.weights, self.means, self.means)
        return second - np.outer(m, m)

    def sample(self, n: int, seed=None) -> np.ndarray:
        """Exact independent draws.

        Parameters
        ----------
        n : int
            Number of draws (>= 0).
        seed : int in [0, 2**64), numpy.random.Generator or None

        Returns
        -------
        ndarray, shape (n, d)
        """
        n = as_int("n", n, minimum=0)
        if not (seed is None or isinstance(seed, np.random.Generator)):
            seed = as_seed(seed)
        refuse_if_too_large(1, n, self.dim)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        comp = rng.choice(self.n_components, size=n, p=self.weights)
        eps = rng.standard_normal((n, self.dim))
        out = np.empty((n, self.dim))
        for k in range(self.n_components):
            idx = comp == k
            out[idx] = self.means[k] + eps[idx] @ self._chol[k].T
        return out


def default_mixture() -> GaussianMixture:
    """The default 2-D, 3-component mixture (benchmark workload T1, ``hw-mixture-2d``)."""
    return GaussianMixture(
        [0.3, 0.4, 0.3],
        [[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]],
        [[[1.0, 0.5], [0.5, 1.0]], [[0.5, -0.2], [-0.2, 1.5]], [[1.0, 0.0], [0.0, 0.3]]],
    )
