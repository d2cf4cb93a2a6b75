"""Hand-written gradients of every VAE objective against central finite differences (float64)."""
import os

# Before NumPy loads its BLAS: these matrices are small, and BLAS threads only add synchronisation
# (on a shared 2-core machine they made the suite ~30x slower). An explicit setting is respected.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import pytest

from fastmc.vae import VAE

H = 1e-5  # central differences: truncation O(H^2) ~ 1e-10, rounding O(1e-16 / H) ~ 1e-11
TOL = 1e-6


def _small_model(likelihood, activation="tanh", decoder_hidden=None, seed=0):
    m = VAE(n_visible=7, hidden=(6, 5), n_latent=3, decoder_hidden=decoder_hidden, activation=activation,
            likelihood=likelihood, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for v in m.params.values():  # non-zero biases and scales so that no gradient term vanishes
        v[...] = rng.normal(0.0, 0.5, v.shape)
    return m


def _data(likelihood, n, rng):
    if likelihood == "bernoulli":
        return rng.random((n, 7))  # intensities: the likelihood is smooth in x, any value in [0, 1] is fine
    return rng.normal(size=(n, 7))


def _check(model, f):
    value, grads = f()
    assert np.isfinite(value)
    for name, p in model.params.items():
        fd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + H
            up = f()[0]
            p[i] = old - H
            down = f()[0]
            p[i] = old
            fd[i] = (up - down) / (2 * H)
        g = grads.get(name, np.zeros_like(p))  # a phase that ignores a parameter must have zero FD gradient
        denom = np.linalg.norm(g) + np.linalg.norm(fd)
        err = 0.0 if denom == 0 else np.linalg.norm(g - fd) / denom
        assert err < TOL, f"{name}: relative error {err:.2e} (|g|={np.linalg.norm(g):.3e})"
        if name in grads:  # the check must not pass trivially on a parameter the objective ignores
            assert np.linalg.norm(fd) > 0, name


CASES = [("bernoulli", "tanh"), ("gaussian", "tanh"), ("bernoulli", "relu")]


@pytest.mark.parametrize("likelihood,activation", CASES)
@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_reparameterised_objectives(likelihood, activation, objective):
    rng = np.random.default_rng(1)
    m = _small_model(likelihood, activation)
    x = _data(likelihood, 4, rng)
    eps = rng.standard_normal((3, 4, 3))  # fixed noise: the objective is a deterministic function
    _check(m, lambda: m.objective_and_grad(x, objective, eps))


@pytest.mark.parametrize("likelihood,activation", CASES)
def test_wake_phase(likelihood, activation):
    rng = np.random.default_rng(2)
    m = _small_model(likelihood, activation)
    x = _data(likelihood, 4, rng)
    z = rng.standard_normal((2, 4, 3))  # z ~ q(z|x) is data for the wake phase
    _check(m, lambda: m.wake_objective_and_grad(x, z))


@pytest.mark.parametrize("likelihood,activation", CASES)
def test_sleep_phase(likelihood, activation):
    rng = np.random.default_rng(3)
    m = _small_model(likelihood, activation)
    x, z = m.dream(5, rng)  # dreamed (x, z) are data for the sleep phase
    _check(m, lambda: m.sleep_objective_and_grad(x, z))


def test_linear_networks():
    """No hidden layers at all (the linear-Gaussian model of the bound tests)."""
    rng = np.random.default_rng(4)
    m = VAE(n_visible=5, hidden=(), n_latent=2, decoder_hidden=(), likelihood="gaussian", dtype=np.float64, seed=1)
    for v in m.params.values():
        v[...] = rng.normal(0.0, 0.5, v.shape)
    x = rng.normal(size=(3, 5))
    eps = rng.standard_normal((4, 3, 2))
    for obj in ("elbo", "iwae"):
        _check(m, lambda: m.objective_and_grad(x, obj, eps))


def test_iwae_gradient_k1_equals_mc_elbo_gradient_direction():
    """For k = 1 the normalised weights are 1: the IWAE gradient is the MC-KL ELBO gradient, which
    differs from the analytic-KL one only through the KL term; the decoder gradients must coincide."""
    rng = np.random.default_rng(5)
    m = _small_model("bernoulli")
    x = _data("bernoulli", 4, rng)
    eps = rng.standard_normal((1, 4, 3))
    _, gi = m.objective_and_grad(x, "iwae", eps)
    _, ge = m.objective_and_grad(x, "elbo", eps)
    for name in m.decoder_param_names:
        np.testing.assert_allclose(gi[name], ge[name], rtol=1e-12, atol=1e-15)



@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_training_value_matches_public_bounds(objective):
    """The value returned with the gradient is the public bound with the same noise."""
    rng = np.random.default_rng(6)
    m = _small_model("bernoulli")
    x = (rng.random((4, 7)) < 0.5).astype(float)
    eps = rng.standard_normal((3, 4, 3))
    value, _ = m.objective_and_grad(x, objective, eps)
    ref = m.iwae_bound(x, 3, eps=eps) if objective == "iwae" else m.elbo(x, 3, eps=eps)
    np.testing.assert_allclose(value, ref.mean(), rtol=1e-12)
