"""Reconstructions and prior samples of the models trained by experiments/vae_experiments.py,
stored small (uint8 pixel probabilities) for the gallery's VAE example to plot.

    python docs/examples/results/vae_images.py /tmp/vae_models docs/examples/results/vae_images.npz

reads ``<name>_seed0.npz`` for each model and writes, per model, the expected images E[x | z] of
the first 10 binarised test images at the posterior mean z = mu(x), and of 10 draws z ~ N(0, I).
"""
import sys
from pathlib import Path

import numpy as np

from fastmc.vae import VAE, binarize, load_mnist

TEST_BINARIZATION_SEED = 20160101   # experiments/vae_experiments.py's, so the same test images
MODELS = ("elbo_k1", "iwae_k5", "wake_sleep")


def main(models_dir, out, data="/work/shared/data/mnist"):
    _, test_x = load_mnist(data)
    x = binarize(test_x[:10], np.random.default_rng(TEST_BINARIZATION_SEED))
    arrays = {"data": np.round(255 * x).astype(np.uint8)}
    z_prior = np.random.default_rng(0).normal(size=(10, 50))
    for name in MODELS:
        model = VAE.load(Path(models_dir) / f"{name}_seed0.npz")
        mu, _ = model.encode(x)
        arrays[f"{name}_recon"] = np.round(255 * model.mean_image(mu)).astype(np.uint8)
        arrays[f"{name}_prior"] = np.round(255 * model.mean_image(z_prior)).astype(np.uint8)
    np.savez_compressed(out, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
