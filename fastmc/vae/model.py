"""The variational autoencoder: networks, hand-written gradients, save/load.

Conventions: a dense layer is ``h @ W + b`` with ``W`` of shape (fan_in,
fan_out); ``k`` samples for a batch of ``n`` images are laid out sample-major
as ``(k, n, .)`` and flattened to one ``(k * n, .)`` matrix so that the
decoder runs as a single matrix product per layer. The encoder runs once per
image and is shared by its ``k`` samples.

All objectives are *maximised*; gradients are of the batch mean.
"""
from __future__ import annotations

import json
import numbers
import os

import numpy as np

from . import bounds as _b

__all__ = ["VAE"]

_ACTIVATIONS = ("tanh", "relu", "linear")
_LIKELIHOODS = ("bernoulli", "gaussian")


def _act_forward(a, activation):
    """Apply the activation in place."""
    if activation == "tanh":
        np.tanh(a, out=a)
    elif activation == "relu":
        np.maximum(a, 0, out=a)
    return a


try:  # tanh backward and bias gradient in one pass instead of four
    import numba

    @numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
    def _tanh_backward_colsum(h, g, colsum):  # pragma: no cover - compiled
        # g *= 1 - h^2 in place; colsum = g.sum(axis=0), accumulated row by row
        rows, cols = g.shape
        one = g.dtype.type(1)
        for j in range(cols):
            colsum[j] = 0
        for r in range(rows):
            hr = h[r]
            gr = g[r]
            for j in range(cols):
                v = gr[j] * (one - hr[j] * hr[j])
                gr[j] = v
                colsum[j] += v

except ImportError:  # pragma: no cover - numba is a declared dependency
    _tanh_backward_colsum = None


def _act_backward(h, g, activation):
    """``g *= f'(pre)`` in place, written in terms of the output ``h = f(pre)``; returns ``g.sum(axis=0)``.

    The sum is the gradient of the layer's bias.
    """
    if activation == "tanh":
        if _tanh_backward_colsum is not None and g.flags.c_contiguous and h.flags.c_contiguous:
            colsum = np.empty(g.shape[1], dtype=g.dtype)
            _tanh_backward_colsum(h, g, colsum)
            return colsum
        d = np.multiply(h, h)
        np.subtract(1, d, out=d)
        g *= d
    elif activation == "relu":
        g *= h > 0
    return g.sum(axis=0)


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
        Parameters, in the fixed order ``param_names``.

    Notes
    -----
    A model keeps reusable work buffers for its largest temporaries, so one
    model must not be used from several threads at once.
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
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        hidden = self._check_sizes(hidden, "hidden")
        decoder_hidden = tuple(reversed(hidden)) if decoder_hidden is None else self._check_sizes(
            decoder_hidden, "decoder_hidden"
        )
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
        if likelihood not in _LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {_LIKELIHOODS}, got {likelihood!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.n_visible = int(n_visible)
        self.hidden = hidden
        self.n_latent = int(n_latent)
        self.decoder_hidden = decoder_hidden
        self.activation = activation
        self.likelihood = likelihood
        self.dtype = dtype
        self.params = self._init_params(np.random.default_rng(seed))

    # -- construction -----------------------------------------------------

    @staticmethod
    def _check_sizes(sizes, name):
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of positive integers, got {sizes!r}") from None
        for s in sizes:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(f"{name} must be a sequence of positive integers, got {sizes!r}")
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

    def _init_params(self, rng):
        p = {}

        def dense(prefix, fan_in, fan_out):
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            p[prefix + "W"] = rng.uniform(-lim, lim, size=(fan_in, fan_out)).astype(self.dtype)
            p[prefix + "b"] = np.zeros(fan_out, dtype=self.dtype)

        sizes = (self.n_visible,) + self.hidden
        for i in range(len(self.hidden)):
            dense(f"enc_{i}_", sizes[i], sizes[i + 1])
        dense("enc_mu_", sizes[-1], self.n_latent)
        dense("enc_lv_", sizes[-1], self.n_latent)
        sizes = (self.n_latent,) + self.decoder_hidden
        for i in range(len(self.decoder_hidden)):
            dense(f"dec_{i}_", sizes[i], sizes[i + 1])
        dense("dec_out_", sizes[-1], self.n_visible)
        if self.likelihood == "gaussian":
            p["dec_log_sigma"] = np.zeros(1, dtype=self.dtype)
        return p

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

    def _check_x(self, x, name="x"):
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

    # -- networks -------------------------------------------------------------

    def _encode_cache(self, x):
        p = self.params
        acts = [x]
        h = x
        for i in range(len(self.hidden)):
            a = h @ p[f"enc_{i}_W"]
            a += p[f"enc_{i}_b"]
            h = _act_forward(a, self.activation)
            acts.append(h)
        mu = h @ p["enc_mu_W"]
        mu += p["enc_mu_b"]
        lv = h @ p["enc_lv_W"]
        lv += p["enc_lv_b"]
        return acts, mu, lv

    def _encoder_backward(self, acts, gmu, glv, grads):
        p = self.params
        h = acts[-1]
        grads["enc_mu_W"] = h.T @ gmu
        grads["enc_mu_b"] = gmu.sum(axis=0)
        grads["enc_lv_W"] = h.T @ glv
        grads["enc_lv_b"] = glv.sum(axis=0)
        if not self.hidden:
            return
        gh = gmu @ p["enc_mu_W"].T
        gh += glv @ p["enc_lv_W"].T
        for i in reversed(range(len(self.hidden))):
            grads[f"enc_{i}_b"] = _act_backward(acts[i + 1], gh, self.activation)
            grads[f"enc_{i}_W"] = acts[i].T @ gh
            if i > 0:
                gh = gh @ p[f"enc_{i}_W"].T

    def _decode_hidden(self, z):
        p = self.params
        acts = [z]
        h = z
        for i in range(len(self.decoder_hidden)):
            a = h @ p[f"dec_{i}_W"]
            a += p[f"dec_{i}_b"]
            h = _act_forward(a, self.activation)
            acts.append(h)
        return acts, h

    def _decode_cache(self, z, scratch=False, bias=True):
        acts, h = self._decode_hidden(z)
        if scratch:  # reuse one (rows, D) buffer: fresh multi-MB arrays cost page faults
            out = self._scratch("dec_out", (h.shape[0], self.n_visible))
            np.dot(h, self.params["dec_out_W"], out=out)
        else:
            out = h @ self.params["dec_out_W"]
        if bias:
            out += self.params["dec_out_b"]
        return acts, out

    def _decode_loglik(self, x, z):
        """Decoder pass and ``log p(x|z)`` on the scratch buffers.

        Parameters
        ----------
        x : ndarray, shape (n, D)
        z : ndarray, shape (k * n, d_z)
            Latents, sample-major.

        Returns
        -------
        acts : list of ndarray
            Decoder activations for :meth:`_decoder_backward`.
        out : ndarray, shape (k * n, D)
            Decoder output (logits or means), a scratch buffer.
        logpx : ndarray, shape (k, n)
            float64 on the fused Bernoulli path, else the model dtype.
        e : ndarray or None
            ``exp(-|logits|)`` for :meth:`_loglik_grad` on the fused Bernoulli path.
        """
        n = x.shape[0]
        if self.likelihood == "bernoulli" and _b.HAVE_FUSED:
            # the output bias is added inside the fused pass
            acts, out = self._decode_cache(z, scratch=True, bias=False)
            e = self._scratch("ll_work", out.shape)
            logpx = _b.bernoulli_log_prob_rows(x, out, self.params["dec_out_b"], e)
            return acts, out, logpx.reshape(-1, n), e
        acts, out = self._decode_cache(z, scratch=True)
        logpx = self._loglik(x, out.reshape(-1, n, self.n_visible))
        return acts, out, logpx, None

    def _decoder_backward(self, acts, gout, grads, need_input_grad=True):
        p = self.params
        grads["dec_out_W"] = acts[-1].T @ gout
        if "dec_out_b" not in grads:  # the fused Bernoulli gradient pass already summed it
            grads["dec_out_b"] = gout.sum(axis=0)
        if not self.decoder_hidden and not need_input_grad:
            return None
        g = gout @ p["dec_out_W"].T
        for i in reversed(range(len(self.decoder_hidden))):
            grads[f"dec_{i}_b"] = _act_backward(acts[i + 1], g, self.activation)
            grads[f"dec_{i}_W"] = acts[i].T @ g
            if i > 0 or need_input_grad:
                g = g @ p[f"dec_{i}_W"].T
        return g

    def encode(self, x):
        """Parameters of ``q(z|x)``.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)

        Returns
        -------
        mu, logvar : ndarray, shape (n, n_latent)
        """
        x = self._check_x(x)
        _, mu, lv = self._encode_cache(x)
        return mu, lv

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
        return self._decode_cache(z)[1]

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

    # -- likelihood terms -----------------------------------------------------

    def _loglik(self, x, out):
        """log p(x|z) summed over pixels; ``out`` shape (k, n, D), x (n, D)."""
        if self.likelihood == "bernoulli":
            return _b.bernoulli_log_prob(
                x, out, work=self._scratch("ll_work", out.shape), work2=self._scratch("ll_work2", out.shape)
            )
        ls = self.params["dec_log_sigma"][0]
        r = x - out
        return (-0.5 * np.exp(-2 * ls)) * np.einsum("...j,...j->...", r, r) - self.n_visible * (
            ls + 0.5 * _b.LOG_2PI
        )

    def _loglik_grad(self, x, out, scale, grads, e=None):
        """Gradient of ``sum scale * log p(x|z)`` w.r.t. ``out`` (overwrites ``out``).

        ``out`` has shape (k, n, D) or (k * n, D); ``scale`` is a scalar or a (k, n) array of
        per-sample weights. ``e`` is the ``exp(-|logits|)`` from :meth:`_decode_loglik` (fused
        Bernoulli path), which also stores the output-bias gradient in ``grads``.
        """
        if e is not None:
            rows = e.shape[0]
            if np.ndim(scale):
                scale = np.ascontiguousarray(scale, dtype=self.dtype).reshape(rows)
            else:
                scale = np.full(rows, scale, dtype=self.dtype)
            g, grads["dec_out_b"] = _b.bernoulli_grad_rows(x, out.reshape(rows, -1), e, scale)
            return g.reshape(out.shape)
        scale_b = scale[..., None] if np.ndim(scale) else scale
        if self.likelihood == "bernoulli":
            return _b.bernoulli_grad(x, out, scale_b, out=out)
        ls = self.params["dec_log_sigma"][0]
        s2 = np.exp(-2 * ls)
        r = np.subtract(x, out, out=out)
        sq = np.einsum("...j,...j->...", r, r)
        grads["dec_log_sigma"] = np.array([np.sum(scale * (sq * s2 - self.n_visible))], dtype=self.dtype)
        r *= scale_b * s2
        return r

    def _log_weights_given_q(self, x, eps, mu, logvar, std):
        """log p(x, z) - log q(z|x) for z = mu + std * eps; returns (k, n).

        The evaluation path of :func:`fastmc.vae.bounds.log_likelihood`. For the
        Bernoulli likelihood ``sum_j x_j l_j`` is formed in the last hidden
        layer, ``g . (W_out x) + b_out . x``, and the softplus sum in fused
        passes, which saves about half of the element-wise work on the
        (k * n, D) logits.
        """
        k, n, dz = eps.shape
        z = eps * std
        z += mu
        if self.likelihood != "bernoulli":
            _, out = self._decode_cache(z.reshape(k * n, dz))
            logpx = self._loglik(x, out.reshape(k, n, self.n_visible))
        else:
            p = self.params
            acts, _ = self._decode_hidden(z.reshape(k * n, dz))
            g = acts[-1]
            out = self._scratch("eval_logits", (g.shape[0], self.n_visible))
            np.dot(g, p["dec_out_W"], out=out)
            u = x @ p["dec_out_W"].T  # (n, H): W_out x for each image
            xl = np.einsum("knh,nh->kn", g.reshape(k, n, -1), u) + x @ p["dec_out_b"]
            if _b.HAVE_FUSED:
                logpx = _b.bernoulli_log_prob_fused(out, p["dec_out_b"], xl.reshape(-1))
            else:
                out += p["dec_out_b"]
                logpx = _b.bernoulli_log_prob(x, out.reshape(k, n, self.n_visible)).reshape(-1)
            logpx = logpx.reshape(k, n)
        # log p(z) - log q(z|x): the -d/2 log(2 pi) terms cancel
        return logpx + 0.5 * (np.einsum("knd,knd->kn", eps, eps) - np.einsum("knd,knd->kn", z, z)) + (
            0.5 * logvar.sum(axis=-1)
        )

    def _log_weights(self, x, eps):
        """Return ``(log p(x|z), log w, mu, logvar)`` for fixed noise ``eps`` (k, n, d_z)."""
        k, n, dz = eps.shape
        _, mu, lv = self._encode_cache(x)
        std = np.exp(0.5 * lv)
        z = eps * std
        z += mu
        logpx = self._decode_loglik(x, z.reshape(k * n, dz))[2]
        logw = logpx + 0.5 * (np.einsum("knd,knd->kn", eps, eps) - np.einsum("knd,knd->kn", z, z)) + (
            0.5 * lv.sum(axis=-1)
        )
        return logpx, logw, mu, lv

    # -- objectives with gradients -------------------------------------------

    def objective_and_grad(self, x, objective, eps):
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

        Returns
        -------
        value : float
            The objective (batch mean).
        grads : dict of str -> ndarray
            Gradient for every parameter, same shapes as ``params``.
        """
        if objective not in ("elbo", "iwae"):
            raise ValueError(f"objective must be 'elbo' or 'iwae', got {objective!r}")
        x = self._check_x(x)
        eps = np.asarray(eps, dtype=self.dtype)
        if eps.ndim != 3 or eps.shape[1] != x.shape[0] or eps.shape[2] != self.n_latent:
            raise ValueError(f"eps must have shape (k, {x.shape[0]}, {self.n_latent}), got {eps.shape}")
        return self._objective_and_grad(x, objective, eps)

    def _objective_and_grad(self, x, objective, eps):
        """:meth:`objective_and_grad` without validation, for :func:`fastmc.vae.train.train`.

        ``x`` must be a C-contiguous array of the model dtype with valid values and ``eps`` of the
        model dtype and shape (k, n, n_latent); training checks its data once, not every batch.
        """
        k, n, dz = eps.shape
        D = self.n_visible
        grads = {}
        acts, mu, lv = self._encode_cache(x)
        std = np.exp(0.5 * lv)
        z = eps * std
        z += mu
        dacts, out, logpx, e = self._decode_loglik(x, z.reshape(k * n, dz))
        out3 = out.reshape(k, n, D)
        if objective == "iwae":
            logw = logpx + 0.5 * (np.einsum("knd,knd->kn", eps, eps) - np.einsum("knd,knd->kn", z, z)) + (
                0.5 * lv.sum(axis=-1)
            )
            lme, w = _b.log_mean_exp_and_weights(logw)
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
            kl = _b.kl_standard_normal(mu, lv)
            value = float(np.mean(np.mean(logpx, axis=0, dtype=np.float64)) - np.mean(kl, dtype=np.float64))
            scale = self.dtype.type(1.0 / (k * n))
            gout = self._loglik_grad(x, out3, scale, grads, e)
            gz = self._decoder_backward(dacts, gout.reshape(k * n, D), grads).reshape(k, n, dz)
            gmu = gz.sum(axis=0)
            glv = (gz * eps).sum(axis=0)
            glv *= 0.5 * std
            gmu -= mu / n
            glv -= (0.5 / n) * (std * std - 1)
        self._encoder_backward(acts, gmu, glv, grads)
        return value, grads

    def wake_objective_and_grad(self, x, z):
        """Wake phase: fit the generative model to ``(x, z)`` with ``z ~ q(z|x)``.

        Parameters
        ----------
        x : ndarray, shape (n, n_visible)
        z : ndarray, shape (k, n, n_latent)
            Latent samples from the recognition model, treated as data.

        Returns
        -------
        value : float
            ``mean log p(x, z)`` over samples and images.
        grads : dict
            Gradients for the generative (``dec_*``) parameters only.
        """
        x = self._check_x(x)
        z = np.asarray(z, dtype=self.dtype)
        k, n, dz = z.shape
        if n != x.shape[0] or dz != self.n_latent:
            raise ValueError(f"z must have shape (k, {x.shape[0]}, {self.n_latent}), got {z.shape}")
        D = self.n_visible
        grads = {}
        dacts, out, logpx, e = self._decode_loglik(x, z.reshape(k * n, dz))
        out3 = out.reshape(k, n, D)
        logpz = -0.5 * np.einsum("knd,knd->kn", z, z) - 0.5 * dz * _b.LOG_2PI
        value = float(np.mean(logpx, dtype=np.float64) + np.mean(logpz, dtype=np.float64))
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
        x = self._check_x(x)
        z = np.asarray(z, dtype=self.dtype)
        n = x.shape[0]
        if z.shape != (n, self.n_latent):
            raise ValueError(f"z must have shape ({n}, {self.n_latent}), got {z.shape}")
        grads = {}
        acts, mu, lv = self._encode_cache(x)
        ivar = np.exp(-lv)
        r = z - mu
        logq = -0.5 * (np.sum(r * r * ivar + lv, axis=-1) + self.n_latent * _b.LOG_2PI)
        value = float(np.mean(logq, dtype=np.float64))
        gmu = r * ivar
        glv = 0.5 * (r * gmu - 1)
        gmu /= n
        glv /= n
        self._encoder_backward(acts, gmu, glv, grads)
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
        n = _b._check_k(n, "n")
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((n, self.n_latent), dtype=self.dtype)
        out = self._decode_cache(z)[1]
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
        return _b.elbo(self, x, k=k, kl=kl, rng=rng, eps=eps)

    def iwae_bound(self, x, k, rng=None, eps=None):
        """Per-image ``L_k``; see :func:`fastmc.vae.bounds.iwae_bound`.

        Returns
        -------
        ndarray, float64, shape (n,)
        """
        return _b.iwae_bound(self, x, k, rng=rng, eps=eps)

    def log_likelihood(self, x, k=5000, rng=None, max_rows=1000, batch_size=None):
        """Per-image ``L_k`` for large ``k`` in chunks; see :func:`fastmc.vae.bounds.log_likelihood`.

        Returns
        -------
        ndarray, float64, shape (n,)
        """
        return _b.log_likelihood(self, x, k=k, rng=rng, max_rows=max_rows, batch_size=batch_size)

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
        """
        if not os.path.exists(path):
            raise FileNotFoundError(f"path: no model file at {path!r}")
        with np.load(path, allow_pickle=False) as f:
            if "__config__" not in f.files:
                raise ValueError(f"path: {path!r} is not a fastmc.vae model file (no __config__)")
            cfg = json.loads(str(f["__config__"]))
            model = cls(**cfg)
            for name in model.params:
                key = "param__" + name
                if key not in f.files:
                    raise ValueError(f"path: {path!r} lacks parameter {name!r}")
                arr = f[key]
                if arr.shape != model.params[name].shape or arr.dtype != model.dtype:
                    raise ValueError(f"path: parameter {name!r} in {path!r} has wrong shape or dtype")
                model.params[name] = arr.copy()
        return model
