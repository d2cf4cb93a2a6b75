"""Dense networks of the VAE: parameters, forward passes that keep activations, backward passes.

Conventions: a dense layer is ``h @ W + b`` with ``W`` of shape (fan_in, fan_out). Parameters live
in one flat dict (the model's ``params``) under fixed names:

- encoder hidden layers ``enc_{i}_W``, ``enc_{i}_b``; heads ``enc_mu_*`` and ``enc_lv_*`` (mean
  and log-variance of ``q(z|x)``);
- decoder hidden layers ``dec_{i}_W``, ``dec_{i}_b``; output layer ``dec_out_*``; for the Gaussian
  likelihood the scalar ``dec_log_sigma``.

A forward pass returns its activations ``acts = [input, h_1, ..., h_L]`` for the backward pass.
Backward passes take the gradient of a (scalar) objective with respect to the network's output,
write parameter gradients into a dict under the parameter names, and overwrite work arrays they
were given.
"""
from __future__ import annotations

import numpy as np

from . import kernels

__all__ = [
    "ACTIVATIONS",
    "act_backward",
    "act_forward",
    "decoder_backward",
    "decoder_forward",
    "encoder_backward",
    "encoder_forward",
    "init_params",
    "mlp_backward",
    "mlp_forward",
]

ACTIVATIONS = ("tanh", "relu", "linear")


def act_forward(a, activation):
    """Apply the activation in place.

    Parameters
    ----------
    a : ndarray, shape (R, H)
        Pre-activations; overwritten.
    activation : {"tanh", "relu", "linear"}

    Returns
    -------
    ndarray, shape (R, H)
        ``a``.
    """
    if activation == "tanh":
        np.tanh(a, out=a)
    elif activation == "relu":
        np.maximum(a, 0, out=a)
    return a


def act_backward(h, g, activation):
    """``g *= f'(pre)`` in place, written in terms of the output ``h = f(pre)``.

    Parameters
    ----------
    h : ndarray, shape (R, H)
        Layer output.
    g : ndarray, shape (R, H)
        Gradient with respect to ``h``; overwritten with the gradient with respect to ``pre``.
    activation : {"tanh", "relu", "linear"}

    Returns
    -------
    ndarray, shape (H,)
        ``g.sum(axis=0)``: the gradient of the layer's bias.
    """
    if activation == "tanh":
        if kernels.tanh_backward_colsum is not None and g.flags.c_contiguous and h.flags.c_contiguous:
            colsum = np.empty(g.shape[1], dtype=g.dtype)
            kernels.tanh_backward_colsum(h, g, colsum)
            return colsum
        d = np.multiply(h, h)
        np.subtract(1, d, out=d)
        g *= d
    elif activation == "relu":
        g *= h > 0
    return g.sum(axis=0)


def init_params(rng, n_visible, hidden, n_latent, decoder_hidden, likelihood, dtype):
    """Glorot-uniform weights and zero biases for the encoder and decoder.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the weights, layer by layer in the order of the returned dict.
    n_visible, n_latent : int
        Data dimension ``D`` and latent dimension ``d_z``.
    hidden, decoder_hidden : tuple of int
        Hidden layer sizes of the encoder and the decoder.
    likelihood : {"bernoulli", "gaussian"}
        ``"gaussian"`` adds ``dec_log_sigma`` (shape (1,), zero).
    dtype : numpy.dtype

    Returns
    -------
    dict of str -> ndarray
        Encoder parameters, then decoder parameters (see the module docstring for the names).
    """
    p = {}

    def dense(prefix, fan_in, fan_out):
        lim = np.sqrt(6.0 / (fan_in + fan_out))
        p[prefix + "W"] = rng.uniform(-lim, lim, size=(fan_in, fan_out)).astype(dtype)
        p[prefix + "b"] = np.zeros(fan_out, dtype=dtype)

    sizes = (n_visible,) + tuple(hidden)
    for i in range(len(hidden)):
        dense(f"enc_{i}_", sizes[i], sizes[i + 1])
    dense("enc_mu_", sizes[-1], n_latent)
    dense("enc_lv_", sizes[-1], n_latent)
    sizes = (n_latent,) + tuple(decoder_hidden)
    for i in range(len(decoder_hidden)):
        dense(f"dec_{i}_", sizes[i], sizes[i + 1])
    dense("dec_out_", sizes[-1], n_visible)
    if likelihood == "gaussian":
        p["dec_log_sigma"] = np.zeros(1, dtype=dtype)
    return p


def mlp_forward(params, prefix, n_layers, x, activation):
    """Hidden layers ``h_{i+1} = f(h_i @ W_i + b_i)`` with weights ``{prefix}{i}_W``, ``{prefix}{i}_b``.

    Parameters
    ----------
    params : dict of str -> ndarray
    prefix : str
        ``"enc_"`` or ``"dec_"``.
    n_layers : int
        Number of hidden layers (may be 0).
    x : ndarray, shape (R, fan_in)
    activation : {"tanh", "relu", "linear"}

    Returns
    -------
    list of ndarray
        ``[x, h_1, ..., h_L]``, ``h_i`` of shape (R, H_i).
    """
    acts = [x]
    h = x
    for i in range(n_layers):
        a = h @ params[f"{prefix}{i}_W"]
        a += params[f"{prefix}{i}_b"]
        h = act_forward(a, activation)
        acts.append(h)
    return acts


def mlp_backward(params, prefix, acts, g, grads, activation, need_input_grad):
    """Backward pass through the hidden layers of :func:`mlp_forward`.

    Parameters
    ----------
    params : dict of str -> ndarray
    prefix : str
    acts : list of ndarray
        The activations returned by :func:`mlp_forward`.
    g : ndarray, shape (R, H_L)
        Gradient with respect to the last hidden layer ``acts[-1]``; overwritten.
    grads : dict of str -> ndarray
        Receives ``{prefix}{i}_W`` and ``{prefix}{i}_b``.
    activation : {"tanh", "relu", "linear"}
    need_input_grad : bool
        Whether to form the gradient with respect to the input ``acts[0]`` (one more product).

    Returns
    -------
    ndarray, shape (R, fan_in), or None
        Gradient with respect to ``acts[0]`` if ``need_input_grad``.
    """
    for i in reversed(range(len(acts) - 1)):
        grads[f"{prefix}{i}_b"] = act_backward(acts[i + 1], g, activation)
        grads[f"{prefix}{i}_W"] = acts[i].T @ g
        if i > 0 or need_input_grad:
            g = g @ params[f"{prefix}{i}_W"].T
    return g if need_input_grad else None


def encoder_forward(params, x, n_hidden, activation):
    """Encoder pass: the parameters of ``q(z|x) = N(mu, diag(exp(logvar)))``.

    Parameters
    ----------
    params : dict of str -> ndarray
    x : ndarray, shape (n, D)
    n_hidden : int
        Number of encoder hidden layers.
    activation : {"tanh", "relu", "linear"}

    Returns
    -------
    acts : list of ndarray
        Activations for :func:`encoder_backward`.
    mu, logvar : ndarray, shape (n, d_z)
    """
    acts = mlp_forward(params, "enc_", n_hidden, x, activation)
    h = acts[-1]
    mu = h @ params["enc_mu_W"]
    mu += params["enc_mu_b"]
    lv = h @ params["enc_lv_W"]
    lv += params["enc_lv_b"]
    return acts, mu, lv


def encoder_backward(params, acts, gmu, glv, grads, activation):
    """Backward pass of :func:`encoder_forward`; writes every ``enc_*`` gradient into ``grads``.

    Parameters
    ----------
    params : dict of str -> ndarray
    acts : list of ndarray
        From :func:`encoder_forward`.
    gmu, glv : ndarray, shape (n, d_z)
        Gradients with respect to ``mu`` and ``logvar``.
    grads : dict of str -> ndarray
    activation : {"tanh", "relu", "linear"}
    """
    h = acts[-1]
    grads["enc_mu_W"] = h.T @ gmu
    grads["enc_mu_b"] = gmu.sum(axis=0)
    grads["enc_lv_W"] = h.T @ glv
    grads["enc_lv_b"] = glv.sum(axis=0)
    if len(acts) == 1:
        return
    gh = gmu @ params["enc_mu_W"].T
    gh += glv @ params["enc_lv_W"].T
    mlp_backward(params, "enc_", acts, gh, grads, activation, need_input_grad=False)


def decoder_forward(params, z, n_hidden, activation, out=None, bias=True):
    """Decoder pass: hidden layers and the dense output layer (logits or means).

    Parameters
    ----------
    params : dict of str -> ndarray
    z : ndarray, shape (R, d_z)
    n_hidden : int
        Number of decoder hidden layers.
    activation : {"tanh", "relu", "linear"}
    out : ndarray, shape (R, D), optional
        Buffer for the output (a fresh array otherwise).
    bias : bool, optional
        Add the output bias ``dec_out_b`` (False when a fused likelihood pass adds it).

    Returns
    -------
    acts : list of ndarray
        Hidden activations ``[z, h_1, ..., h_L]`` for :func:`decoder_backward`.
    out : ndarray, shape (R, D)
    """
    acts = mlp_forward(params, "dec_", n_hidden, z, activation)
    if out is None:
        out = acts[-1] @ params["dec_out_W"]
    else:
        np.dot(acts[-1], params["dec_out_W"], out=out)
    if bias:
        out += params["dec_out_b"]
    return acts, out


def decoder_backward(params, acts, gout, grads, activation, need_input_grad=True):
    """Backward pass of :func:`decoder_forward`; writes the ``dec_*`` weight gradients into ``grads``.

    Parameters
    ----------
    params : dict of str -> ndarray
    acts : list of ndarray
        From :func:`decoder_forward`.
    gout : ndarray, shape (R, D)
        Gradient with respect to the output.
    grads : dict of str -> ndarray
        Receives the gradients; ``dec_out_b`` is computed only if absent (a fused likelihood
        gradient pass may have summed it already).
    activation : {"tanh", "relu", "linear"}
    need_input_grad : bool, optional
        Whether to form the gradient with respect to ``z``.

    Returns
    -------
    ndarray, shape (R, d_z), or None
        Gradient with respect to ``z`` if ``need_input_grad``.
    """
    grads["dec_out_W"] = acts[-1].T @ gout
    if "dec_out_b" not in grads:
        grads["dec_out_b"] = gout.sum(axis=0)
    if len(acts) == 1 and not need_input_grad:
        return None
    g = gout @ params["dec_out_W"].T
    return mlp_backward(params, "dec_", acts, g, grads, activation, need_input_grad)
