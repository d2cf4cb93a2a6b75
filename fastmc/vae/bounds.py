"""Variational bounds on a :class:`fastmc.vae.VAE`: ``elbo``, ``iwae_bound`` and ``log_likelihood``.

All bounds return one value per image so that callers can form means and *paired* standard
errors (:func:`paired_se`). They use only the model's public interface (``check_data``,
``encode``, ``log_weights``, ``log_weight_terms``). The numerically careful pieces they rest on
(log-mean-exp, Bernoulli log-probabilities from logits, the Gaussian KL) live in
:mod:`fastmc.vae.likelihood` and are re-exported here.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_count, check_fits, check_seed
from .likelihood import (  # part of this module's public names; defined with the other log-densities
    LOG_2PI,  # noqa: F401
    bernoulli_grad,
    bernoulli_log_prob,
    kl_standard_normal,
    log_mean_exp,
    normalized_weights,
)

__all__ = [
    "log_mean_exp",
    "normalized_weights",
    "bernoulli_log_prob",
    "bernoulli_grad",
    "kl_standard_normal",
    "elbo",
    "iwae_bound",
    "log_likelihood",
    "paired_se",
]


def paired_se(a, b=None):
    """Mean and standard error of ``a - b`` over images (paired comparison).

    Parameters
    ----------
    a : array_like, shape (n,)
    b : array_like, shape (n,), optional
        If omitted, the mean and standard error of ``a`` itself.

    Returns
    -------
    mean, se : float
    """
    from .._validation import as_float_array, require_finite

    d = as_float_array("a", a, ndim=1)
    require_finite("a", d)
    if b is not None:
        bb = as_float_array("b", b, ndim=1)
        require_finite("b", bb)
        if bb.shape != d.shape:
            raise ValueError(f"b must have the shape of a {d.shape}, got {bb.shape}")
        d = d - bb
    n = d.size
    if n == 0:
        raise ValueError("a must hold at least one value")
    se = float(np.std(d, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(np.mean(d)), se


# ---------------------------------------------------------------------------
# bounds on a model


def _get_eps(model, rng, eps, k, n):
    if eps is not None:
        eps = np.asarray(eps, dtype=model.dtype)
        if eps.shape != (k, n, model.n_latent):
            raise ValueError(f"eps must have shape (k, n, n_latent) = {(k, n, model.n_latent)}, got {eps.shape}")
        return eps
    check_fits(k * n * model.n_latent, "k", np.dtype(model.dtype).itemsize)
    rng = np.random.default_rng(check_seed(rng, "rng"))
    return rng.standard_normal((k, n, model.n_latent), dtype=model.dtype)


def elbo(model, x, k=1, kl="analytic", rng=None, eps=None):
    """Evidence lower bound per image.

    ``ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))``, with the reconstruction
    term estimated by ``k`` reparameterised samples ``z = mu + sigma * eps``.

    Parameters
    ----------
    model : VAE
    x : array_like, shape (n, n_visible)
        Images (values in [0, 1] for the Bernoulli likelihood).
    k : int, optional
        Number of Monte Carlo samples for the reconstruction term.
    kl : {"analytic", "mc"}
        ``"analytic"``: closed-form Gaussian KL (lower variance, used in
        training). ``"mc"``: the single-sample estimate
        ``mean_s [log p(x, z_s) - log q(z_s|x)]``, identical to
        ``iwae_bound(x, 1)`` for the same noise.
    rng : numpy.random.Generator or int or None
        Source of the noise when ``eps`` is not given.
    eps : array_like, shape (k, n, n_latent), optional
        Standard normal noise, fixing the estimate (for tests).

    Returns
    -------
    ndarray, float64, shape (n,)
    """
    x = model.check_data(x)
    k = check_count(k, "k")
    if kl not in ("analytic", "mc"):
        raise ValueError(f"kl must be 'analytic' or 'mc', got {kl!r}")
    eps = _get_eps(model, rng, eps, k, x.shape[0])
    logpx, logw, mu, logvar = model.log_weight_terms(x, eps, validate=False)
    if kl == "mc":
        return np.mean(logw.astype(np.float64), axis=0)
    return np.mean(logpx.astype(np.float64), axis=0) - kl_standard_normal(
        mu.astype(np.float64), logvar.astype(np.float64)
    )


def iwae_bound(model, x, k, rng=None, eps=None):
    """Importance-weighted bound ``L_k`` per image (Burda et al., 2016).

    ``L_k(x) = log (1/k) sum_s p(x, z_s) / q(z_s|x)`` with ``z_s ~ q(z|x)``,
    evaluated with a stable log-sum-exp. For ``k = 1`` this *is* the ELBO with
    a Monte Carlo KL term (``elbo(x, kl="mc")`` with the same noise, equal up to
    rounding); its expectation equals the analytic-KL ELBO. ``E[L_k]`` is
    non-decreasing in ``k`` and tends to ``log p(x)``.

    Parameters
    ----------
    model : VAE
    x : array_like, shape (n, n_visible)
    k : int
        Number of importance samples, >= 1. Memory is ``k * n`` decoder rows;
        use :func:`log_likelihood` for large ``k``.
    rng : numpy.random.Generator or int or None
    eps : array_like, shape (k, n, n_latent), optional
        Fixed standard normal noise.

    Returns
    -------
    ndarray, float64, shape (n,)
    """
    x = model.check_data(x)
    k = check_count(k, "k")
    eps = _get_eps(model, rng, eps, k, x.shape[0])
    logw = model.log_weights(x, eps, validate=False)
    return log_mean_exp(logw, axis=0)


def log_likelihood(model, x, k=5000, rng=None, max_rows=1000, batch_size=None):
    """Estimate ``log p(x)`` by ``L_k`` with large ``k`` in bounded memory.

    Images are processed in blocks and the ``k`` samples in chunks, combining
    chunks with a running (streaming) log-sum-exp in float64, so memory is
    about ``max_rows * n_visible`` floats whatever ``k`` is. Within one block
    the noise is drawn chunk by chunk from ``rng`` in the same order as a
    single ``(k, n, n_latent)`` draw, so for ``n <= batch_size`` the result
    equals ``iwae_bound(x, k, rng)`` up to rounding.

    Parameters
    ----------
    model : VAE
    x : array_like, shape (n, n_visible)
    k : int, optional
        Number of importance samples (5000 as in Burda et al.).
    rng : numpy.random.Generator or int or None
    max_rows : int, optional
        Decoder rows (samples x images) evaluated at once.
    batch_size : int, optional
        Images per block; default ``max(1, min(n, 100))``.

    Returns
    -------
    ndarray, float64, shape (n,)
        ``L_k`` per image (a stochastic lower bound on ``log p(x)`` in
        expectation).
    """
    x = model.check_data(x)
    k = check_count(k, "k")
    max_rows = check_count(max_rows, "max_rows")
    n = x.shape[0]
    if batch_size is None:
        batch_size = max(1, min(n, 100))
    batch_size = check_count(batch_size, "batch_size")
    rng = np.random.default_rng(rng)
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, batch_size):
        xb = x[start : start + batch_size]
        nb = xb.shape[0]
        chunk = max(1, min(k, max_rows // nb))
        run_max = np.full(nb, -np.inf)
        run_sum = np.zeros(nb)
        q = model.encode(xb)
        done = 0
        while done < k:
            c = min(chunk, k - done)
            eps = rng.standard_normal((c, nb, model.n_latent), dtype=model.dtype)
            logw = model.log_weights(xb, eps, q=q, validate=False).astype(np.float64)
            cmax = logw.max(axis=0)
            new_max = np.maximum(run_max, cmax)
            new_max = np.where(np.isfinite(new_max), new_max, 0.0)
            run_sum = run_sum * np.exp(run_max - new_max) + np.exp(logw - new_max).sum(axis=0)
            run_max = new_max
            done += c
        out[start : start + nb] = np.log(run_sum / k) + run_max
    return out
