"""Slow NumPy oracles the kernels are checked against."""
import numpy as np
from scipy import stats
from scipy.special import logsumexp


_FROZEN = {}


def _component_logpdfs(mix, X):
    """log w_k + log N(x; mu_k, Sigma_k) by scipy for the components with w_k > 0: (K', n), with
    their means and covariances."""
    X = np.atleast_2d(X)
    if id(mix) not in _FROZEN:  # scipy factorises each covariance once per frozen distribution
        _FROZEN[id(mix)] = (mix, [(np.log(w), stats.multivariate_normal(m, S), m, S)
                                  for w, m, S in zip(mix.weights, mix.means, mix.covs) if w > 0])
    comps = _FROZEN[id(mix)][1]
    logs = np.reshape([lw + dist.logpdf(X) for lw, dist, _, _ in comps], (len(comps), X.shape[0]))
    return logs, [(m, S) for _, _, m, S in comps]


def mixture_logpdf(mix, X):
    """log sum_k w_k N(x; mu_k, Sigma_k) by scipy, one component at a time."""
    return logsumexp(_component_logpdfs(mix, X)[0], axis=0)


def mixture_grad(mix, X):
    """grad log p(x) = -sum_k r_k(x) Sigma_k^-1 (x - mu_k), r_k the responsibilities: (n, d)."""
    X = np.atleast_2d(X)
    logs, comps = _component_logpdfs(mix, X)
    r = np.exp(logs - logsumexp(logs, axis=0))
    return -sum(r[k][:, None] * np.linalg.solve(S, (X - m).T).T for k, (m, S) in enumerate(comps))


def central_diff_grad(f, x, h=1e-5):
    """Central differences of a scalar function f at x (d,)."""
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def batch_means_mcse(y, n_batches=40):
    """Monte Carlo standard error of the mean of y (chains, n) by batch means over all chains.

    Independent of fastmc.diagnostics, so the sampler tests do not lean on the code they judge."""
    chains, n = y.shape
    b = n // n_batches
    means = y[:, : b * n_batches].reshape(chains, n_batches, b).mean(axis=2).ravel()
    return means.std(ddof=1) / np.sqrt(means.size)


def random_spd(rng, d, lo=0.25, hi=4.0):
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    Q = Q * np.sign(np.diag(R))
    lam = np.exp(rng.uniform(np.log(lo), np.log(hi), size=d))
    S = (Q * lam) @ Q.T
    return 0.5 * (S + S.T)
