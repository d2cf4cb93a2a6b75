"""Log-densities of the VAE: the decoder likelihoods, the prior, ``q(z|x)`` and the log weight.

Everything here is a function of arrays (no model): the Bernoulli likelihood from logits (NumPy,
and the fused Numba passes of :mod:`.kernels`), the Gaussian likelihood with a scalar scale, the
standard normal prior, the diagonal Gaussian ``q(z|x)``, its KL to the prior, and log-mean-exp
over importance weights.

:func:`log_weight` is the one place where ``log w = log p(x|z) + log p(z) - log q(z|x)`` is
written; every bound and objective of :class:`fastmc.vae.VAE` goes through it.

Shapes: ``x`` is ``(n, D)``; ``k`` samples per image are ``(k, n, .)`` or, flattened
sample-major, ``(k * n, .)`` with row ``r`` belonging to image ``r % n``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import kernels

__all__ = [
    "LOG_2PI",
    "bernoulli_grad",
    "bernoulli_grad_rows",
    "bernoulli_log_prob",
    "bernoulli_log_prob_fused",
    "bernoulli_log_prob_from_hidden",
    "bernoulli_log_prob_rows",
    "gaussian_grad",
    "gaussian_log_prob",
    "kl_standard_normal",
    "log_mean_exp",
    "log_mean_exp_and_weights",
    "log_prior",
    "log_q",
    "log_weight",
    "normalized_weights",
]

LOG_2PI = float(np.log(2.0 * np.pi))


# -- the importance weight ---------------------------------------------------------------------


def log_weight(log_px, eps, z, logvar):
    """Log importance weight ``log p(x|z) + log p(z) - log q(z|x)`` of reparameterised samples.

    With ``z = mu + exp(logvar / 2) * eps``, ``log q(z|x) = -|eps|^2 / 2 - sum(logvar) / 2 - d/2
    log(2 pi)`` and ``log p(z) = -|z|^2 / 2 - d/2 log(2 pi)``; the ``log(2 pi)`` terms cancel.

    Parameters
    ----------
    log_px : ndarray, shape (k, n)
        ``log p(x|z)`` of each sample.
    eps : ndarray, shape (k, n, d_z)
        The standard normal noise that made ``z``.
    z : ndarray, shape (k, n, d_z)
        The latent samples.
    logvar : ndarray, shape (n, d_z)
        Log-variances of ``q(z|x)``.

    Returns
    -------
    ndarray, shape (k, n)
        In the dtype of ``log_px`` (float64 when ``log_px`` is float64).
    """
    return log_px + 0.5 * (np.einsum("knd,knd->kn", eps, eps) - np.einsum("knd,knd->kn", z, z)) + (
        0.5 * logvar.sum(axis=-1)
    )


def log_prior(z):
    """Standard normal log-density ``log N(z; 0, I)`` of each sample.

    Parameters
    ----------
    z : ndarray, shape (k, n, d_z)

    Returns
    -------
    ndarray, shape (k, n)
    """
    return -0.5 * np.einsum("knd,knd->kn", z, z) - 0.5 * z.shape[-1] * LOG_2PI


def log_q(z, mu, logvar):
    """Diagonal Gaussian log-density ``log N(z; mu, diag(exp(logvar)))`` per row.

    Parameters
    ----------
    z, mu, logvar : ndarray, shape (n, d_z)

    Returns
    -------
    ndarray, shape (n,)
    """
    r = z - mu
    return -0.5 * (np.sum(r * r * np.exp(-logvar) + logvar, axis=-1) + z.shape[-1] * LOG_2PI)


def kl_standard_normal(mu, logvar):
    """Analytic ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per row.

    Parameters
    ----------
    mu, logvar : ndarray, shape (n, d_z)

    Returns
    -------
    ndarray, shape (n,)
    """
    return 0.5 * np.sum(mu * mu + np.exp(logvar) - 1.0 - logvar, axis=-1)


def log_mean_exp(a, axis=0):
    """Stable ``log(mean(exp(a), axis))``, accumulated in float64.

    Parameters
    ----------
    a : array_like, shape (k, ...)
        Log-values, e.g. log importance weights with samples along ``axis``.
    axis : int, optional
        Axis to average over.

    Returns
    -------
    ndarray, float64
        ``a`` with ``axis`` removed.
    """
    from .._validation import as_float_array

    a = as_float_array("a", a)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis {axis} is out of range for a of shape {a.shape}")
    if a.shape[axis] == 0:
        raise ValueError(f"a must have at least one value along axis {axis}, got shape {a.shape}")
    m = np.max(a, axis=axis, keepdims=True)
    # an all -inf slice would give nan from (-inf) - (-inf); shift by 0 instead
    m = np.where(np.isfinite(m), m, 0.0)
    # a - m may overflow to -inf (a = -1e308, m = 1e308): its exp, 0, is the right term;
    # all weights zero: log 0 = -inf is the right answer
    with np.errstate(over="ignore", divide="ignore"):
        s = np.mean(np.exp(a - m), axis=axis)
        return np.log(s) + np.squeeze(m, axis=axis)


def normalized_weights(a, axis=0):
    """Self-normalised importance weights ``softmax(a, axis)`` in float64.

    Parameters
    ----------
    a : array_like, shape (k, ...)
        Log importance weights.
    axis : int, optional
        Sample axis.

    Returns
    -------
    ndarray, float64, same shape as ``a``
        Non-negative weights summing to one along ``axis``.
    """
    a = np.asarray(a, dtype=np.float64)
    w = np.exp(a - np.max(a, axis=axis, keepdims=True))
    w /= w.sum(axis=axis, keepdims=True)
    return w


def log_mean_exp_and_weights(a):
    """:func:`log_mean_exp` and :func:`normalized_weights` along axis 0, sharing one ``exp`` pass.

    Parameters
    ----------
    a : array_like, shape (k, ...)
        Log importance weights.

    Returns
    -------
    lme : ndarray, float64, shape ``a.shape[1:]``
        ``log_mean_exp(a, axis=0)``.
    w : ndarray, float64, same shape as ``a``
        ``normalized_weights(a, axis=0)``.
    """
    a = np.asarray(a, dtype=np.float64)
    m = a.max(axis=0)
    if not np.isfinite(m).all():  # an all -inf (or inf/nan) column: the careful general versions
        return log_mean_exp(a, axis=0), normalized_weights(a, axis=0)
    w = np.subtract(a, m)
    np.exp(w, out=w)
    s = w.sum(axis=0)
    w /= s
    s /= a.shape[0]
    return np.log(s) + m, w


# -- Bernoulli likelihood, NumPy --------------------------------------------------------------


def bernoulli_log_prob(x, logits, work=None, work2=None):
    """``sum_j x_j l_j - softplus(l_j)``: the Bernoulli log-likelihood from logits.

    ``softplus(l) = max(l, 0) + log(1 + exp(-|l|))`` never overflows, and every pass is a
    vectorised NumPy ufunc (``logaddexp`` is far slower).

    Parameters
    ----------
    x : ndarray, shape (..., D)
        Targets in [0, 1] (binary for a proper likelihood); broadcast against
        ``logits``.
    logits : ndarray, shape (..., D)
        Logits of the pixel probabilities.
    work, work2 : ndarray, shape like ``logits``, optional
        Scratch buffers (avoid allocating two temporaries).

    Returns
    -------
    ndarray, shape (...)
        Log-likelihood summed over the last axis, in the dtype of ``logits``.
    """
    t = np.abs(logits, out=work)
    np.negative(t, out=t)
    np.exp(t, out=t)
    # t = softplus(l) - max(l, 0) = log(1 + t). Not log1p: NumPy's float32 log1p takes a slow path
    # for tiny (e.g. subnormal) arguments, which trained models produce in bulk; log(1 + t) errs by
    # at most t < machine epsilon when 1 + t rounds to 1, i.e. < 1e-4 nats over 784 float32 pixels.
    t += 1
    np.log(t, out=t)
    u = np.maximum(logits, 0, out=work2)
    u += t
    np.multiply(logits, x, out=t)
    t -= u
    return t.sum(axis=-1)


def bernoulli_grad(x, logits, scale=None, out=None):
    """``scale * (x - sigmoid(l))``: derivative of :func:`bernoulli_log_prob`.

    Uses ``sigmoid(l) = (1 + tanh(l / 2)) / 2``, which cannot overflow.

    Parameters
    ----------
    x : ndarray, shape (..., D)
        Targets, broadcast against ``logits``.
    logits : ndarray, shape (..., D)
        Logits. May be the same array as ``out`` (overwritten in place).
    scale : float or ndarray broadcastable to ``logits``, optional
        Per-row weights (e.g. normalised importance weights / batch size).
    out : ndarray, optional
        Output buffer.

    Returns
    -------
    ndarray, shape like ``logits``
    """
    g = np.multiply(logits, 0.5, out=out)
    np.tanh(g, out=g)
    g *= -0.5
    g += x
    g -= 0.5
    if scale is not None:
        g *= scale
    return g


# -- Bernoulli likelihood, fused passes (require Numba) ----------------------------------------


def bernoulli_log_prob_fused(logits, bias, xl):
    """Per-row Bernoulli log-likelihood in three in-place passes (evaluation path).

    With ``l = logits + bias``, ``sum_j x_j l_j - softplus(l_j) = xl - sum_j max(l_j, 0)
    - sum_j log(1 + exp(-|l_j|))``, where ``xl = sum_j x_j l_j`` is supplied by the
    caller (see :func:`bernoulli_log_prob_from_hidden`). Requires Numba. Works in place:
    fresh multi-megabyte temporaries cost page faults comparable to the arithmetic.

    Parameters
    ----------
    logits : ndarray, shape (R, D), C-contiguous
        Logits without the output bias; overwritten.
    bias : ndarray, shape (D,)
    xl : ndarray, shape (R,)

    Returns
    -------
    ndarray, float64, shape (R,)
    """
    relu_sum = np.empty(logits.shape[0])
    kernels.relusum_negabs(logits, bias, logits, relu_sum)
    np.exp(logits, out=logits)
    soft = np.empty(logits.shape[0])
    kernels.sum_log1p_rows(logits, soft)
    return xl - relu_sum - soft


def bernoulli_log_prob_rows(x, out, bias, e):
    """Bernoulli log-likelihood of sample rows in three passes, keeping what the gradient needs.

    Row ``r`` of ``out`` is a sample for image ``r % n`` (the sample-major
    ``(k * n, D)`` layout). With ``l = out + bias``, the result is
    ``sum_j x_j l_j - max(l_j, 0) - log(1 + exp(-|l_j|))``: one fused pass for
    the bias, the linear terms and ``-|l|``, NumPy's vectorised ``exp``, and a
    float64 product per row for the ``log(1 + .)`` sum (one ``log`` per row, and
    more accurate than a float32 sum of logs). Requires Numba.

    Parameters
    ----------
    x : ndarray, shape (n, D), C-contiguous
        Targets in [0, 1].
    out : ndarray, shape (R, D), C-contiguous, R a multiple of n
        Output-layer pre-activations without the bias; overwritten with the logits ``l``.
    bias : ndarray, shape (D,)
        Output bias.
    e : ndarray, shape (R, D), C-contiguous
        Receives ``exp(-|l|)``, which :func:`bernoulli_grad_rows` uses for the sigmoid.

    Returns
    -------
    ndarray, float64, shape (R,)
    """
    res = np.empty(out.shape[0])
    kernels.bernoulli_terms(out, bias, x, e, res)
    np.exp(e, out=e)
    soft = np.empty(out.shape[0])
    kernels.sum_log1p_rows(e, soft)
    res -= soft
    return res


def bernoulli_grad_rows(x, logits, e, scale):
    """``scale[r] * (x - sigmoid(l))`` in one pass, with the column sums; logits overwritten.

    The derivative of :func:`bernoulli_log_prob_rows` (whose ``logits`` and ``e`` it takes):
    ``sigmoid(l) = 1 / (1 + e)`` for ``l >= 0`` and ``1 - 1 / (1 + e)`` otherwise, with
    ``e = exp(-|l|)`` already computed, so no ``tanh`` pass is needed. Requires Numba.

    Parameters
    ----------
    x : ndarray, shape (n, D), C-contiguous
        Targets; row ``r`` of ``logits`` belongs to image ``r % n``.
    logits : ndarray, shape (R, D), C-contiguous
        Logits; overwritten with the gradient.
    e : ndarray, shape (R, D)
        ``exp(-|logits|)``.
    scale : ndarray, shape (R,)
        Per-row weights, in the dtype of ``logits``.

    Returns
    -------
    g : ndarray, shape (R, D)
        ``logits``, now holding the gradient with respect to the logits.
    colsum : ndarray, shape (D,)
        ``g.sum(axis=0)``: the gradient with respect to the output bias.
    """
    colsum = np.empty(logits.shape[1], dtype=logits.dtype)
    kernels.bernoulli_grad_rows(logits, e, x, scale, colsum)
    return logits, colsum


def bernoulli_log_prob_from_hidden(x, h, W, b, out):
    """Bernoulli log-likelihood of a dense output layer ``l = h @ W + b``, for evaluation only.

    ``sum_j x_j l_j`` is formed on the hidden side, ``h . (W x) + b . x``, which costs ``H``
    instead of ``D`` multiply-adds per row; with Numba the softplus sum then runs in the fused
    passes of :func:`bernoulli_log_prob_fused`, otherwise in :func:`bernoulli_log_prob`.

    Parameters
    ----------
    x : ndarray, shape (n, D)
        Targets in [0, 1].
    h : ndarray, shape (k * n, H)
        Last hidden layer of the decoder, sample-major (row ``r`` belongs to image ``r % n``).
    W : ndarray, shape (H, D)
        Output weights.
    b : ndarray, shape (D,)
        Output bias.
    out : ndarray, shape (k * n, D), C-contiguous
        Work buffer, overwritten.

    Returns
    -------
    ndarray, shape (k, n)
        float64 on the fused path, else the dtype of ``h``.
    """
    n, D = x.shape
    k = h.shape[0] // n
    np.dot(h, W, out=out)
    u = x @ W.T  # (n, H): W x for each image
    xl = np.einsum("knh,nh->kn", h.reshape(k, n, -1), u) + x @ b
    if kernels.HAVE_FUSED:
        log_px = bernoulli_log_prob_fused(out, b, xl.reshape(-1))
    else:
        out += b
        log_px = bernoulli_log_prob(x, out.reshape(k, n, D)).reshape(-1)
    return log_px.reshape(k, n)


# -- Gaussian likelihood ---------------------------------------------------------------------


def gaussian_log_prob(x, means, log_sigma):
    """``log N(x; m, s^2 I)`` summed over the last axis, with ``log s = log_sigma``.

    Parameters
    ----------
    x : ndarray, shape (n, D)
    means : ndarray, shape (k, n, D)
        Decoder outputs ``m(z)``.
    log_sigma : scalar
        ``log s``, of the model dtype.

    Returns
    -------
    ndarray, shape (k, n)
    """
    r = x - means
    return (-0.5 * np.exp(-2 * log_sigma)) * np.einsum("...j,...j->...", r, r) - x.shape[-1] * (
        log_sigma + 0.5 * LOG_2PI
    )


def gaussian_grad(x, means, log_sigma, scale):
    """Gradients of ``sum scale * log N(x; m, s^2 I)`` with respect to ``m`` and ``log s``.

    Parameters
    ----------
    x : ndarray, shape (n, D)
    means : ndarray, shape (k, n, D)
        Decoder outputs; overwritten with the gradient with respect to them.
    log_sigma : scalar
        ``log s``, of the model dtype.
    scale : scalar or ndarray, shape (k, n)
        Weight of each sample's term.

    Returns
    -------
    g : ndarray, shape (k, n, D)
        ``means``, now holding ``scale * (x - m) / s^2``.
    g_log_sigma : ndarray, shape (1,)
        Gradient with respect to ``log s``, in the dtype of ``means``.
    """
    D = x.shape[-1]
    s2 = np.exp(-2 * log_sigma)
    r = np.subtract(x, means, out=means)
    sq = np.einsum("...j,...j->...", r, r)
    g_log_sigma = np.array([np.sum(scale * (sq * s2 - D))], dtype=means.dtype)
    r *= (scale[..., None] if np.ndim(scale) else scale) * s2
    return r, g_log_sigma
