"""Variational autoencoders in NumPy: AEVB (ELBO), IWAE and wake-sleep.

The default model is the one-stochastic-layer architecture of Burda et al. (2016), trained on
dynamically binarised MNIST. Importing this package needs NumPy, never the C++ extension; Numba (a
declared dependency) compiles the fused kernels, and NumPy paths run without it.

Modules, each with one job: ``networks`` (dense layers, parameters, forward and backward passes),
``likelihood`` (log-densities and the one log-weight formula), ``kernels`` (fused Numba kernels,
decorated by ``_jit``), ``model`` (the :class:`VAE` tying them together, save/load), ``bounds``
(ELBO, ``L_k``, chunked ``log p(x)``), ``optim`` (Adam), ``train``, ``data`` and ``cli``.

Examples
--------
>>> from fastmc.vae import VAE, load_mnist, train
>>> train_x, test_x = load_mnist("path/to/mnist")            # doctest: +SKIP
>>> model = VAE(seed=0)
>>> history = train(model, train_x, objective="iwae", k=5, epochs=10, seed=0)  # doctest: +SKIP
>>> model.log_likelihood(test_x[:100], k=5000).mean()         # doctest: +SKIP
"""
from .bounds import elbo, iwae_bound, log_likelihood, log_mean_exp, paired_se
from .data import binarize, load_mnist, read_idx, write_idx
from .model import VAE
from .optim import Adam
from .train import EpochInfo, evaluate_bound, paper_schedule, short_schedule, train

__all__ = [
    "VAE",
    "Adam",
    "EpochInfo",
    "binarize",
    "elbo",
    "evaluate_bound",
    "iwae_bound",
    "load_mnist",
    "log_likelihood",
    "log_mean_exp",
    "paired_se",
    "paper_schedule",
    "read_idx",
    "short_schedule",
    "train",
    "write_idx",
]
