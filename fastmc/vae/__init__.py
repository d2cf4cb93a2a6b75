"""Variational autoencoders in NumPy: AEVB (ELBO), IWAE and wake-sleep.

Importing this package needs only NumPy (not the C++ extension).
"""
from .bounds import elbo, iwae_bound, log_likelihood, log_mean_exp, paired_se
from .model import VAE

__all__ = ["VAE", "elbo", "iwae_bound", "log_likelihood", "log_mean_exp", "paired_se"]
