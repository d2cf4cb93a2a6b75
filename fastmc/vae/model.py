"""The variational autoencoder: networks and likelihood tied together, gradients, save/load.

Layout: ``k`` samples for a batch of ``n`` images are ``(k, n, .)`` arrays, flattened
sample-major to one ``(k * n, .)`` matrix so that the decoder runs as a single matrix product per
layer. The encoder runs once per image and is shared by its ``k`` samples.

All objectives are *maximised*; gradients are of the batch mean.
"""
from __future__ import annotations

import json
import numbers
import os
import zipfile
from typing import NamedTuple

import numpy as np

from . import bounds as _bounds
from . import kernels, networks
from ._checks import check_count, MAX_COUNT, check_fits
from .likelihood import (
    bernoulli_grad,
    bernoulli_grad_rows,
    bernoulli_log_prob,
    bernoulli_log_prob_from_hidden,
    bernoulli_log_prob_rows,
    gaussian_grad,
    gaussian_log_prob,
    kl_standard_normal,
    log_mean_exp_and_weights,
    log_prior,
    log_q,
    log_weight,
)

__all__ = ["VAE", "LogWeightTerms"]

_LIKELIHOODS = ("bernoulli", "gaussian")


class LogWeightTerms(NamedTuple):
    """Log importance weights of reparameterised samples and the terms a bound needs besides.

    Attributes
    ----------
    log_px : ndarray, shape (k, n)
        ``log p(x|z_s)``.
    log_w : ndarray, shape (k, n)
        ``log p(x|z_s) + log p(z_s) - log q(z_s|x)``.
    mu, logvar : ndarray, shape (n, n_latent)
        Parameters of ``q(z|x)``.
    """

    log_px: np.ndarray
    log_w: np.ndarray
    mu: np.ndarray
    logvar: np.ndarray


class VAE:
    """Variational autoencoder with a diagonal Gaussian encoder (NumPy).

    The default is the one-stochastic-layer architecture of Burda et al.
    (2016): 784-200-200-50 with tanh, a decoder 50-200-200-784 with tanh and a
    Bernoulli likelihood through logits, and the prior ``N(0, I)``.

    Parameters
    ----------
    n_visible : int, optional
        Data dimension ``D``.
    hidden : sequence of int, optional
        Encoder hidden layer sizes (may be empty: a linear encoder).
    n_latent : int, optional
        Latent dimension ``d_z``.
    decoder_hidden : sequence of int, optional
        Decoder hidden sizes; default ``hidden`` reversed.
    activation : {"tanh", "relu", "linear"}
        Hidden-layer activation.
    likelihood : {"bernoulli", "gaussian"}
        ``"bernoulli"``: pixel logits. ``"gaussian"``: ``N(x; m(z), s^2 I)``
        with a learned scalar ``log s`` (parameter ``dec_log_sigma``); with
        ``decoder_hidden=()`` this is a linear-Gaussian model whose marginal
        ``N(x; b, W W^T + s^2 I)`` is known exactly (used in tests).
    dtype : {numpy.float32, numpy.float64}
        Parameter and compute dtype; float64 for gradient checks.
    seed : int or numpy.random.Generator, optional
        Initialisation seed (Glorot-uniform weights, zero biases).

    Attributes
    ----------
    params : dict of str -> ndarray
        Parameters, in the fixed order ``param_names`` (names in :mod:`fastmc.vae.networks`).

    Notes
    -----
    A model keeps reusable work buffers for its largest temporaries, so one
    model must not be used from several threads at once.

    The methods the bounds (:mod:`fastmc.vae.bounds`) and training loop
    (:mod:`fastmc.vae.train`) build on are :meth:`check_data`, :meth:`encode`,
    :meth:`sample_latent`, :meth:`log_weights`, :meth:`log_weight_terms`,
    :meth:`objective_and_grad`, :meth:`wake_objective_and_grad`,
    :meth:`sleep_objective_and_grad` and :meth:`dream`.
    """

    def __init__(
        self,
        n_visible=784,
        hidden=(200, 200),
        n_latent=50,
        decoder_hidden=None,
        activation="tanh",
        likelihood="bernoulli",
        dtype=np.float32,
        seed=0,
    ):
        for name, v in (("n_visible", n_visible), ("n_latent", n_latent)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 or v > MAX_COUNT:
                raise ValueError(f"{name} must be a positive integer at most {MAX_COUNT}, got {v!r}")
        hidden = self._check_sizes(hidden, "hidden")
        decoder_hidden = tuple(reversed(hidden)) if decoder_hidden is None else self._check_sizes(
            decoder_hidden, "decoder_hidden"
        )
        if activation not in networks.ACTIVATIONS:
            raise ValueError(f"activation must be one of {networks.ACTIVATIONS}, got {activation!r}")
        if likelihood not in _LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {_LIKELIHOODS}, got {likelihood!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        widths = (int(n_visible), *hidden, int(n_latent))
        back = (int(n_latent), *decoder_hidden, int(n_visible))
        n_weights = sum(a * b for a, b in zip(widths, widths[1:])) + sum(a * b for a, b in zip(back, back[1:]))
        check_fits(n_weights, "n_visible, hidden, n_latent", np.dtype(dtype).itemsize)
        self.n_visible = int(n_visible)
        self.hidden = hidden
        self.n_latent = int(n_latent)
        self.decoder_hidden = decoder_hidden
        self.activation = activation
        self.likelihood = likelihood
        self.dtype = dtype
        self.params = networks.init_params(
            np.random.default_rng(seed), self.n_visible, hidden, self.n_latent, decoder_hidden, likelihood, dtype
        )

    # -- construction -----------------------------------------------------

    @staticmethod
    def _check_sizes(sizes, name):
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of positive integers, got {sizes!r}") from None
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 or s > MAX_COUNT:
                raise ValueError(f"{name} must be a sequence of positive integers at most {MAX_COUNT}, got {sizes!r}")
        return tuple(int(s) for s in sizes)

    def config(self):
        """Constructor arguments (JSON-serialisable) describing the architecture.

        Returns
        -------
        dict
        """
        return dict(
            n_visible=self.n_visible,
            hidden=list(self.hidden),
            n_latent=self.n_latent,
            decoder_hidden=list(self.decoder_hidden),
            activation=self.activation,
            likelihood=self.likelihood,
            dtype=self.dtype.name,
        )

    def _scratch(self, name, shape):
        """A reusable work array (not a parameter; makes the model not thread-safe)."""
        cache = self.__dict__.setdefault("_scratch_arrays", {})
        a = cache.get(name)
        if a is None or a.shape != shape:
            a = cache[name] = np.empty(shape, dtype=self.dtype)
        return a

    @property
    def param_names(self):
        """Parameter names in a fixed order (list of str)."""
        return list(self.params)

    @property
    def encoder_param_names(self):
        """Names of the recognition-network parameters (list of str)."""
        return [n for n in self.params if n.startswith("enc_")]

    @property
    def decoder_param_names(self):
        """Names of the generative-network parameters (list of str)."""
        return [n for n in self.params if n.startswith("dec_")]

    def set_output_bias(self, mean_image):
        """Set the decoder output bias to the logit (or value) of the data mean.

        A common initialisation that removes the first epochs spent learning
        the average image.

        Parameters
        ----------
        mean_image : array_like, shape (n_visible,)
            Mean pixel intensity of the training data.
        """
        m = np.asarray(mean_image, dtype=np.float64).reshape(-1)
        if m.shape != (self.n_visible,):
            raise ValueError(f"mean_image must have shape ({self.n_visible},), got {m.shape}")
        if self.likelihood == "bernoulli":
            m = np.clip(m, 1e-3, 1 - 1e-3)
            m = np.log(m) - np.log1p(-m)
        self.params["dec_out_b"][...] = m.astype(self.dtype)

    # -- validation ---------------------------------------------------------

    def check_data(self, x, name="x"):
        """Validate a batch of data and convert it to the model's dtype.

        Parameters
        ----------
        x : array_like, shape (n, n_visible)
            Finite values; in [0, 1] for the Bernoulli likelihood.
        name : str, optional
            Argument name used in error messages.

        Returns
        -------
        ndarray, shape (n, n_visible)
            C-contiguous, of the model dtype (``x`` itself if it already is).

        Raises
        ------
        TypeError
            If ``x`` is not numeric.
        ValueError
            If the shape is wrong, ``x`` is empty, not finite, or outside [0, 1] (Bernoulli).
        """
        try:
            arr = np.asarray(x)
        except Exception as exc:  # pragma: no cover - exotic inputs
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}") from exc
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[1] != self.n_visible:
            raise ValueError(
                f"{name} must have shape (n, {self.n_visible}) (n_visible={self.n_visible}), got {arr.shape}"
            )
        if arr.shape[0] < 1:
            raise ValueError(f"{name} must contain at least one row, got shape {arr.shape}")
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite")
        if self.likelihood == "bernoulli" and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(
                f"{name} must have values in [0, 1] for the Bernoulli likelihood, "
                f"got range [{arr.min()}, {arr.max()}]"
            )
        return arr

    def _check_eps(self, eps, n, name="eps"):
        eps = np.asarray(eps, dtype=self.dtype)
        if eps.ndim != 3 or eps.shape[0] < 1 or eps.shape[1] != n or eps.shape[2] != self.n_latent:
            raise ValueError(f"{name} must have shape (k, {n}, {self.n_latent}), got {eps.shape}")
        return eps

    def _check_latent(self, a, n, name):
        a = np.asarray(a, dtype=self.dtype)
        if a.shape != (n, self.n_latent):
            raise ValueError(f"{name} must have shape ({n}, {self.n_latent}), got {a.shape}")
        return a

    # -- networks and likelihood (unchecked internals) --------------------------

    def _encode(self, x):
        return networks.encoder_forward(self.params, x, len(self.hidden), self.activation)

    def _decode(self, z, out=None, bias=True):
        return networks.decoder_forward(self.params, z, len(self.decoder_hidden), self.activation, out, bias)

    def _decoder_backward(self, acts, gout, grads, need_input_grad=True):
        return networks.decoder_backward(self.params, acts, gout, grads, self.activation, need_input_grad)

    @staticmethod
    def _reparameterise(mu, logvar, eps):
        """``(std, z)`` with ``z = mu + std * eps``, ``std = exp(logvar / 2)``; ``z`` is (k, n, d_z)."""
        std = np.exp(0.5 * logvar)
        z = eps * std
        z += mu
        return std, z

    def _loglik(self, x, out):
        """NumPy ``log p(x|z)`` summed over pixels; ``out`` (k, n, D), ``x`` (n, D); returns (k, n)."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_prob(
                x, out, work=self._scratch("ll_work", out.shape), work2=self._scratch("ll_work2", out.shape)
            )
        return gaussian_log_prob(x, out, self.params["dec_log_sigma"][0])

    def _decode_loglik(self, x, z):
        """Decoder pass and ``log p(x|z)`` on the scratch buffers, keeping what the gradient needs.

        Parameters
        ----------
        x : ndarray, shape (n, D)
        z : ndarray, shape (k * n, d_z)
            Latents, sample-major.

        Returns
        -------
        acts : list of ndarray
            Decoder activations for the backward pass.
        out : ndarray, shape (k * n, D)
            Decoder output (logits or means), a scratch buffer.
        logpx : ndarray, shape (k, n)
            float64 on the fused Bernoulli path, else the model dtype.
        e : ndarray or None
            ``exp(-|logits|)`` for :meth:`_loglik_grad` on the fused Bernoulli path.
        """
        n = x.shape[0]
        # one reused (rows, D) output buffer: fresh multi-megabyte arrays cost page faults
        out = self._scratch("dec_out", (z.shape[0], self.n_visible))
        if self.likelihood == "bernoulli" and kernels.HAVE_FUSED:
            acts, out = self._decode(z, out=out, bias=False)  # the fused pass adds the output bias
            e = self._scratch("ll_work", out.shape)
            logpx = bernoulli_log_prob_rows(x, out, self.params["dec_out_b"], e)
            return acts, out, logpx.reshape(-1, n), e
        acts, out = self._decode(z, out=out)
        logpx = self._loglik(x, out.reshape(-1, n, self.n_visible))
        return acts, out, logpx, None

    def _loglik_grad(self, x, out, scale, grads, e=None):
        """Gradient of ``sum scale * log p(x|z)`` w.r.t. ``out`` (overwrites ``out``).

        ``out`` has shape (k, n, D) or (k * n, D); ``scale`` is a scalar or a (k, n) array of
        per-sample weights. ``e`` is the ``exp(-|logits|)`` from :meth:`_decode_loglik` (fused
        Bernoulli path), which also stores the output-bias gradient in ``grads``; the Gaussian
        likelihood stores the ``dec_log_sigma`` gradient there.
        """
        if e is not None:
            rows = e.shape[0]
            if np.ndim(scale):
                scale = np.ascontiguousarray(scale, dtype=self.dtype).reshape(rows)
            else:
                scale = np.full(rows, scale, dtype=self.dtype)
            g, grads["dec_out_b"] = bernoulli_grad_rows(x, out.reshape(rows, -1), e, scale)
            return g.reshape(out.shape)
        if self.likelihood == "bernoulli":
            return bernoulli_grad(x, out, scale[..., None] if np.ndim(scale) else scale, out=out)
        g, grads["dec_log_sigma"] = gaussian_grad(x, out, self.params["dec_log_sigma"][0], scale)
        return g

    def _log_weights(self, x, eps):
        """:meth:`log_weight_terms` without validation; returns a :class:`LogWeightTerms`."""
        k, n, dz = eps.shape
        _, mu, lv = self._encode(x)
        _, z = self._reparameterise(mu, lv, eps)
        logpx = self._decode_loglik(x, z.reshape(k * n, dz))[2]
        return LogWeightTerms(logpx, log_weight(logpx, eps, z, lv), mu, lv)

    def _log_weights_eval(self, x, eps, mu, logvar):
        """Log weights (k, n) given the encoder output, on the evaluation-only likelihood path."""
        k, n, dz = eps.shape
        _, z = self._reparameterise(mu, logvar, eps)
        if self.likelihood == "bernoulli":
            acts = networks.mlp_forward(self.params, "dec_", len(self.decoder_hidden), z.reshape(k * n, dz),
                                        self.activation)
            h = acts[-1]
            out = self._scratch("eval_logits", (h.shape[0], self.n_visible))
            p = self.params
            logpx = bernoulli_log_prob_from_hidden(x, h, p["dec_out_W"], p["dec_out_b"], out)
        else:
            _, out = self._decode(z.reshape(k * n, dz))
            logpx = self._loglik(x, out.reshape(k, n, self.n_visible))
        return log_weight(logpx, eps, z, logvar)

    # -- public interface: networks ---------------------------------------------------

    def encode(self, x):
        """Parameters of ``q(z|x)``.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)

        Returns
        -------
        mu, logvar : ndarray, shape (n, n_latent)
        """
        x = self.check_data(x)
        _, mu, lv = self._encode(x)
        return mu, lv

    def sample_latent(self, mu, logvar, eps):
        """Reparameterised samples ``z = mu + exp(logvar / 2) * eps`` from ``q(z|x)``.

        Parameters
        ----------
        mu, logvar : ndarray, shape (n, n_latent)
            From :meth:`encode`.
        eps : ndarray, shape (k, n, n_latent)
            Standard normal noise.

        Returns
        -------
        ndarray, shape (k, n, n_latent)
        """
        mu = np.asarray(mu)
        if mu.ndim != 2:
            raise ValueError(f"mu must have shape (n, {self.n_latent}), got {mu.shape}")
        n = mu.shape[0]
        mu = self._check_latent(mu, n, "mu")
        logvar = self._check_latent(logvar, n, "logvar")
        eps = self._check_eps(eps, n)
        return self._reparameterise(mu, logvar, eps)[1]

    def decode(self, z):
        """Decoder output: logits (Bernoulli) or means (Gaussian).

        Parameters
        ----------
        z : ndarray, shape (n, n_latent)

        Returns
        -------
        ndarray, shape (n, n_visible)
        """
        z = np.asarray(z, dtype=self.dtype)
        if z.ndim != 2 or z.shape[1] != self.n_latent:
            raise ValueError(f"z must have shape (n, {self.n_latent}), got {z.shape}")
        return self._decode(z)[1]

    def mean_image(self, z):
        """Expected image ``E[x|z]`` (pixel probabilities for Bernoulli).

        Parameters
        ----------
        z : ndarray, shape (n, n_latent)

        Returns
        -------
        ndarray, shape (n, n_visible)
        """
        out = self.decode(z)
        if self.likelihood == "bernoulli":
            out = 0.5 + 0.5 * np.tanh(0.5 * out)
        return out

    # -- public interface: importance weights --------------------------------------------

    def log_weights(self, x, eps, q=None, validate=True):
        """Log importance weights ``log p(x, z_s) - log q(z_s|x)`` for fixed noise.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)
        eps : ndarray, shape (k, n, n_latent)
            Standard normal noise; ``z_s = mu + exp(logvar / 2) * eps_s``.
        q : tuple of ndarray, optional
            ``(mu, logvar)``, each (n, n_latent), from :meth:`encode` of the same ``x``, so that
            a caller evaluating many chunks of samples of the same images runs the encoder
            once. Given ``q``, ``log p(x|z)`` is computed on an evaluation-only path (no
            buffers kept for a gradient); the result equals the one without ``q`` up to
            rounding.
        validate : bool, optional
            False skips the input checks: ``x`` must then come from :meth:`check_data` and
            ``eps`` (and ``q``) be arrays of the model dtype and the right shapes.

        Returns
        -------
        ndarray, shape (k, n)
            float64 for the Bernoulli likelihood with Numba, else the model dtype.
        """
        if validate:
            x = self.check_data(x)
            eps = self._check_eps(eps, x.shape[0])
        if q is None:
            return self._log_weights(x, eps).log_w
        mu, logvar = q
        if validate:
            mu = self._check_latent(mu, x.shape[0], "q[0] (mu)")
            logvar = self._check_latent(logvar, x.shape[0], "q[1] (logvar)")
        return self._log_weights_eval(x, eps, mu, logvar)

    def log_weight_terms(self, x, eps, validate=True):
        """Log importance weights with ``log p(x|z)`` and ``q(z|x)``, for bounds that need them.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)
        eps : ndarray, shape (k, n, n_latent)
            Standard normal noise.
        validate : bool, optional
            As in :meth:`log_weights`.

        Returns
        -------
        LogWeightTerms
            ``log_px`` and ``log_w`` of shape (k, n) (float64 for the Bernoulli likelihood with
            Numba, else the model dtype); ``mu`` and ``logvar`` of shape (n, n_latent).
        """
        if validate:
            x = self.check_data(x)
            eps = self._check_eps(eps, x.shape[0])
        return self._log_weights(x, eps)

    # -- public interface: objectives with gradients ---------------------------------------

    def objective_and_grad(self, x, objective, eps, validate=True):
        """Monte Carlo objective and its exact gradient for fixed noise.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)
            A (binarised) batch.
        objective : {"elbo", "iwae"}
            ``"elbo"``: mean over images of ``mean_s log p(x|z_s) - KL`` (analytic
            KL). ``"iwae"``: mean of ``L_k``; its gradient is the
            normalised-importance-weighted sum of the per-sample gradients of
            ``log w_s`` (Burda et al., eq. 14).
        eps : ndarray, shape (k, n, n_latent)
            Standard normal noise; with it fixed the objective is a
            deterministic, differentiable function of the parameters.
        validate : bool, optional
            False skips the checks of ``x`` and ``eps`` (the training loop checks its data
            once, not every batch): ``x`` must then be a C-contiguous array of the model dtype
            with valid values and ``eps`` of the model dtype and shape (k, n, n_latent).

        Returns
        -------
        value : float
            The objective (batch mean).
        grads : dict of str -> ndarray
            Gradient for every parameter, same shapes as ``params``.
        """
        if objective not in ("elbo", "iwae"):
            raise ValueError(f"objective must be 'elbo' or 'iwae', got {objective!r}")
        if validate:
            x = self.check_data(x)
            eps = self._check_eps(eps, x.shape[0])
        k, n, dz = eps.shape
        D = self.n_visible
        grads = {}
        acts, mu, lv = self._encode(x)
        std, z = self._reparameterise(mu, lv, eps)
        dacts, out, logpx, e = self._decode_loglik(x, z.reshape(k * n, dz))
        out3 = out.reshape(k, n, D)
        if objective == "iwae":
            lme, w = log_mean_exp_and_weights(log_weight(logpx, eps, z, lv))
            value = float(np.mean(lme))
            w /= n
            G = w.astype(self.dtype)  # d value / d log w
            gout = self._loglik_grad(x, out3, G, grads, e)
            gz = self._decoder_backward(dacts, gout.reshape(k * n, D), grads).reshape(k, n, dz)
            gz -= G[..., None] * z  # d log p(z) / dz
            gmu = gz.sum(axis=0)
            glv = (gz * eps).sum(axis=0)
            glv *= 0.5 * std
            glv += 0.5 / n  # -log q contributes +0.5 * logvar per sample, weights sum to 1/n
        else:
            kl = kl_standard_normal(mu, lv)
            value = float(np.mean(np.mean(logpx, axis=0, dtype=np.float64)) - np.mean(kl, dtype=np.float64))
            scale = self.dtype.type(1.0 / (k * n))
            gout = self._loglik_grad(x, out3, scale, grads, e)
            gz = self._decoder_backward(dacts, gout.reshape(k * n, D), grads).reshape(k, n, dz)
            gmu = gz.sum(axis=0)
            glv = (gz * eps).sum(axis=0)
            glv *= 0.5 * std
            gmu -= mu / n
            glv -= (0.5 / n) * (std * std - 1)
        networks.encoder_backward(self.params, acts, gmu, glv, grads, self.activation)
        return value, grads

    def wake_objective_and_grad(self, x, z):
        """Wake phase: fit the generative model to ``(x, z)`` with ``z ~ q(z|x)``.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)
        z : ndarray, shape (k, n, n_latent)
            Latent samples from the recognition model (see :meth:`sample_latent`), treated as data.

        Returns
        -------
        value : float
            ``mean log p(x, z)`` over samples and images.
        grads : dict
            Gradients for the generative (``dec_*``) parameters only.
        """
        x = self.check_data(x)
        z = np.asarray(z, dtype=self.dtype)
        if z.ndim != 3 or z.shape[1] != x.shape[0] or z.shape[2] != self.n_latent:
            raise ValueError(f"z must have shape (k, {x.shape[0]}, {self.n_latent}), got {z.shape}")
        k, n, dz = z.shape
        D = self.n_visible
        grads = {}
        dacts, out, logpx, e = self._decode_loglik(x, z.reshape(k * n, dz))
        out3 = out.reshape(k, n, D)
        value = float(np.mean(logpx, dtype=np.float64) + np.mean(log_prior(z), dtype=np.float64))
        gout = self._loglik_grad(x, out3, self.dtype.type(1.0 / (k * n)), grads, e)
        self._decoder_backward(dacts, gout.reshape(k * n, D), grads, need_input_grad=False)
        return value, grads

    def sleep_objective_and_grad(self, x, z):
        """Sleep phase: fit ``q(z|x)`` to dreams ``(x, z) ~ p(x, z)``.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)
            Dreamed images (see :meth:`dream`).
        z : ndarray, shape (n, n_latent)
            The latents that generated them.

        Returns
        -------
        value : float
            ``mean log q(z|x)``.
        grads : dict
            Gradients for the recognition (``enc_*``) parameters only.
        """
        x = self.check_data(x)
        n = x.shape[0]
        z = self._check_latent(z, n, "z")
        grads = {}
        acts, mu, lv = self._encode(x)
        value = float(np.mean(log_q(z, mu, lv), dtype=np.float64))
        # d log q / d mu = (z - mu) / var; d log q / d logvar = ((z - mu)^2 / var - 1) / 2
        r = z - mu
        gmu = r * np.exp(-lv)
        glv = 0.5 * (r * gmu - 1)
        gmu /= n
        glv /= n
        networks.encoder_backward(self.params, acts, gmu, glv, grads, self.activation)
        return value, grads

    def dream(self, n, rng=None):
        """Sample ``(x, z)`` from the generative model: ``z ~ N(0, I)``, ``x ~ p(x|z)``.

        Parameters
        ----------
        n : int
            Number of samples.
        rng : numpy.random.Generator or int or None

        Returns
        -------
        x : ndarray, shape (n, n_visible)
            Binary images (Bernoulli) or Gaussian samples.
        z : ndarray, shape (n, n_latent)
        """
        n = check_count(n, "n")
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((n, self.n_latent), dtype=self.dtype)
        out = self._decode(z)[1]
        if self.likelihood == "bernoulli":
            p = 0.5 + 0.5 * np.tanh(0.5 * out)
            x = (rng.random(out.shape, dtype=self.dtype) < p).astype(self.dtype)
        else:
            s = np.exp(self.params["dec_log_sigma"][0])
            x = out + s * rng.standard_normal(out.shape, dtype=self.dtype)
        return x, z

    # -- bounds (thin wrappers of fastmc.vae.bounds) -----------------------------

    def elbo(self, x, k=1, kl="analytic", rng=None, eps=None):
        """Per-image ELBO; see :func:`fastmc.vae.bounds.elbo`.

        Returns
        -------
        ndarray, float64, shape (n,)
        """
        return _bounds.elbo(self, x, k=k, kl=kl, rng=rng, eps=eps)

    def iwae_bound(self, x, k, rng=None, eps=None):
        """Per-image ``L_k``; see :func:`fastmc.vae.bounds.iwae_bound`.

        Returns
        -------
        ndarray, float64, shape (n,)
        """
        return _bounds.iwae_bound(self, x, k, rng=rng, eps=eps)

    def log_likelihood(self, x, k=5000, rng=None, max_rows=1000, batch_size=None):
        """Per-image ``L_k`` for large ``k`` in chunks; see :func:`fastmc.vae.bounds.log_likelihood`.

        Returns
        -------
        ndarray, float64, shape (n,)
        """
        return _bounds.log_likelihood(self, x, k=k, rng=rng, max_rows=max_rows, batch_size=batch_size)

    # -- persistence --------------------------------------------------------------

    def save(self, path):
        """Save architecture and parameters to a NumPy ``.npz`` file (bit-exact).

        Parameters
        ----------
        path : str or os.PathLike
        """
        arrays = {"param__" + k: v for k, v in self.params.items()}
        np.savez(path, __config__=np.array(json.dumps(self.config())), **arrays)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        VAE

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If ``path`` is not a readable model file (a directory, not an ``.npz`` archive,
            truncated or corrupt, a bad architecture, missing parameters, wrong shapes or dtypes,
            or non-finite parameter values). The message names the file.
        """
        if not os.path.exists(path):
            raise FileNotFoundError(f"path: no model file at {path!r}")
        if os.path.isdir(path):
            raise ValueError(f"path: {path!r} is a directory, not a fastmc.vae model file")
        try:  # read everything first: a corrupt archive may fail on any member, not only on open
            f = np.load(path, allow_pickle=False)
            if not hasattr(f, "files"):  # a .npy file: np.load returned the array itself
                raise _BadModelFile("a single array, not an .npz archive")
            with f:
                if "__config__" not in f.files:
                    raise _BadModelFile("no __config__")
                cfg = json.loads(str(f["__config__"]))
                arrays = {key: f[key] for key in f.files if key.startswith("param__")}
            if not isinstance(cfg, dict):
                raise _BadModelFile(f"__config__ is {type(cfg).__name__}, not a dict")
            model = cls(**cfg)
        except _BadModelFile as exc:
            raise ValueError(f"path: {path!r} is not a fastmc.vae model file ({exc})") from None
        except (OSError, EOFError, zipfile.BadZipFile, ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"path: {path!r} is not a readable fastmc.vae model file ({type(exc).__name__}: {exc})"
            ) from exc
        for name in model.params:
            arr = arrays.get("param__" + name)
            if arr is None:
                raise ValueError(f"path: {path!r} lacks parameter {name!r}")
            if arr.shape != model.params[name].shape or arr.dtype != model.dtype:
                raise ValueError(f"path: parameter {name!r} in {path!r} has wrong shape or dtype")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"path: parameter {name!r} in {path!r} has non-finite values")
            model.params[name] = arr.copy()
        return model


class _BadModelFile(Exception):
    """A readable file that is not a model file (turned into a ValueError naming the file)."""
