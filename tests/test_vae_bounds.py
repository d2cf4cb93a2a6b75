"""Bounds against oracles: ELBO identities, monotonicity in k, an exactly solvable linear-Gaussian model."""
import os

# Before NumPy loads its BLAS: these matrices are small, and BLAS threads only add synchronisation
# (on a shared 2-core machine they made the suite ~30x slower). An explicit setting is respected.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from fastmc.vae import VAE, log_mean_exp, paired_se
from fastmc.vae.bounds import bernoulli_grad, bernoulli_log_prob, kl_standard_normal


def _random_bernoulli_model(seed=0, dtype=np.float64):
    m = VAE(n_visible=20, hidden=(16,), n_latent=4, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    for v in m.params.values():
        v[...] += rng.normal(0, 0.3, v.shape)
    return m


def _binary(n, d, seed):
    rng = np.random.default_rng(seed)
    p = rng.random(d)
    return (rng.random((n, d)) < p).astype(np.float64)


def test_iwae_k1_equals_mc_elbo_same_noise():
    m = _random_bernoulli_model()
    x = _binary(50, 20, 1)
    eps = np.random.default_rng(2).standard_normal((1, 50, 4))
    np.testing.assert_allclose(m.iwae_bound(x, 1, eps=eps), m.elbo(x, 1, kl="mc", eps=eps), rtol=1e-13)
    # with the same rng seed the two draw the same noise too
    np.testing.assert_allclose(m.iwae_bound(x, 1, rng=7), m.elbo(x, kl="mc", rng=7), rtol=1e-13)


def test_analytic_kl_elbo_is_expectation_of_mc_elbo():
    """Same noise: MC-ELBO - analytic ELBO = log p(z) - log q(z|x) + KL, mean zero; tested over images."""
    m = _random_bernoulli_model()
    x = np.repeat(_binary(1, 20, 3), 50000, axis=0)  # one image, 50000 independent draws
    eps = np.random.default_rng(4).standard_normal((1, 50000, 4))
    d = m.elbo(x, 1, kl="mc", eps=eps) - m.elbo(x, 1, kl="analytic", eps=eps)
    mean, se = paired_se(d)
    assert abs(mean) < 4 * se, (mean, se)
    assert se < 0.05  # the test has power: a KL off by even 0.2 nats would fail


def test_kl_matches_monte_carlo():
    rng = np.random.default_rng(5)
    mu, lv = rng.normal(size=(1, 3)), rng.normal(size=(1, 3))
    z = mu + np.exp(0.5 * lv) * rng.standard_normal((200000, 3))
    logq = multivariate_normal(mu[0], np.diag(np.exp(lv[0]))).logpdf(z)
    logp = multivariate_normal(np.zeros(3), np.eye(3)).logpdf(z)
    mean, se = paired_se(logq, logp)
    assert abs(mean - kl_standard_normal(mu, lv)[0]) < 4 * se


def test_bound_non_decreasing_in_k():
    m = _random_bernoulli_model(seed=3)
    x = _binary(2000, 20, 6)
    ls = {k: m.iwae_bound(x, k, rng=10 + k) for k in (1, 5, 50)}
    for a, b in ((1, 5), (5, 50)):
        d, se = paired_se(ls[b], ls[a])
        assert d > -3 * se, (a, b, d, se)
    d, se = paired_se(ls[50], ls[1])
    assert d > 3 * se  # a poor (random) q: the gain from more samples is clearly visible


@pytest.mark.parametrize("fused", [True, False])
def test_chunked_log_likelihood_equals_one_shot_bound(monkeypatch, fused):
    """log_likelihood (chunked; Numba-fused or NumPy evaluation path) against iwae_bound (generic path)."""
    from fastmc.vae import kernels

    if not fused:
        monkeypatch.setattr(kernels, "HAVE_FUSED", False)
    elif not kernels.HAVE_FUSED:
        pytest.skip("numba not installed: no fused path")
    m = _random_bernoulli_model(seed=4)
    x = _binary(5, 20, 7)
    one = m.iwae_bound(x, 50, rng=11)
    chunked = m.log_likelihood(x, 50, rng=11, max_rows=35)  # chunks of 7 samples, last one of 1
    np.testing.assert_allclose(chunked, one, rtol=1e-12)
    # image blocks (different noise order) still give a valid, finite estimate of the same quantity
    blocked = m.log_likelihood(x, 50, rng=11, max_rows=35, batch_size=2)
    assert np.all(np.isfinite(blocked))


def test_bernoulli_log_prob_from_logits_is_stable():
    logits = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    for x in (np.zeros((1, 5)), np.ones((1, 5))):
        lp = bernoulli_log_prob(x, logits)
        ref = np.where(x == 1, -np.logaddexp(0, -logits), -np.logaddexp(0, logits))  # NumPy's stable oracle
        p = np.exp(-np.logaddexp(0, -logits))
        np.testing.assert_allclose(lp, ref.sum(axis=1), rtol=1e-12)
        g = bernoulli_grad(x, logits.copy())
        np.testing.assert_allclose(g, x - p, atol=1e-15)
    # float32 logits of +-1e4 must not overflow either
    lp32 = bernoulli_log_prob(np.ones((1, 2), np.float32), np.array([[1e4, -1e4]], np.float32))
    assert np.isfinite(lp32).all() and abs(lp32[0] + 1e4) < 1


def test_log_mean_exp_is_stable():
    a = np.array([[-1e4, 1e4], [-1e4 + np.log(3.0), 1e4 + np.log(3.0)]])
    np.testing.assert_allclose(log_mean_exp(a, axis=0), [-1e4 + np.log(2.0), 1e4 + np.log(2.0)], rtol=1e-14)
    assert log_mean_exp(np.full((3, 1), -np.inf))[0] == -np.inf


# -- a linear-Gaussian model with exact log p(x) ----------------------------------------------


def _linear_gaussian(seed, D=6, dz=2, perturb=0.0):
    """x = b + W z + s * noise, z ~ N(0, I): p(x) = N(b, W W^T + s^2 I), known exactly.

    W has orthogonal columns, so the true posterior has diagonal covariance and a linear encoder can
    represent it exactly; ``perturb`` moves the encoder away from it.
    """
    rng = np.random.default_rng(seed)
    m = VAE(n_visible=D, hidden=(), n_latent=dz, decoder_hidden=(), likelihood="gaussian",
            dtype=np.float64, seed=seed)
    q, _ = np.linalg.qr(rng.normal(size=(D, dz)))
    scales = rng.uniform(0.5, 2.0, dz)
    W = q * scales  # (D, dz)
    b = rng.normal(size=D)
    log_s = np.log(0.7)
    m.params["dec_out_W"][...] = W.T
    m.params["dec_out_b"][...] = b
    m.params["dec_log_sigma"][...] = log_s
    s2 = np.exp(2 * log_s)
    post_var = 1.0 / (1.0 + scales**2 / s2)  # diag of (I + W^T W / s^2)^-1
    We = W * post_var / s2  # mu = (x - b) @ We
    m.params["enc_mu_W"][...] = We + perturb * rng.normal(size=We.shape)
    m.params["enc_mu_b"][...] = -b @ We
    m.params["enc_lv_W"][...] = 0.0
    m.params["enc_lv_b"][...] = np.log(post_var) + perturb * rng.normal(size=dz)
    cov = W @ W.T + s2 * np.eye(D)
    x = rng.multivariate_normal(b, cov, size=300)
    return m, x, multivariate_normal(b, cov).logpdf(x)


def test_exact_posterior_gives_exact_log_likelihood():
    """With q = p(z|x) every importance weight equals p(x): L_k = log p(x) for every k and noise."""
    m, x, logp = _linear_gaussian(0)
    for k in (1, 7):
        np.testing.assert_allclose(m.iwae_bound(x, k, rng=k), logp, rtol=0, atol=1e-9)
    np.testing.assert_allclose(m.log_likelihood(x, 100, rng=1, max_rows=1000), logp, rtol=0, atol=1e-9)
    # the analytic-KL ELBO still has MC reconstruction noise; its expectation is log p(x)
    d, se = paired_se(m.elbo(x, 1, kl="analytic", rng=3), logp)
    assert abs(d) < 4 * se


def test_bound_approaches_exact_log_likelihood():
    m, x, logp = _linear_gaussian(1, perturb=0.1)
    gaps, ses = {}, {}
    for k in (1, 10, 100, 5000):
        gaps[k], ses[k] = paired_se(logp, m.log_likelihood(x, k, rng=100 + k))
        assert gaps[k] > -3 * ses[k], (k, gaps[k], ses[k])  # a lower bound in expectation
    assert gaps[1] > 3 * ses[1]  # the perturbed q is visibly worse than the exact posterior
    # delta method: E[log p - L_k] ~= Var_q(w / p(x)) / (2k); estimate the relative variance per image
    eps = np.random.default_rng(9).standard_normal((20000, x.shape[0], 2))
    logw = m._log_weights(x, eps)[1]
    rel_var = np.var(np.exp(logw - logp), axis=0).mean()
    for k in (100, 5000):
        # within noise of the O(1/k) prediction (factor 2 allows for the next-order term)
        assert gaps[k] < 3 * ses[k] + 2 * rel_var / (2 * k), (k, gaps[k], ses[k], rel_var)
    assert gaps[5000] < gaps[1] / 50
