"""Draws of fixed-seed runs of every sampler path, saved to compare two builds bit for bit.

Run: ``PYTHONPATH=TREE_A python bench/ab_draws.py a.npz; PYTHONPATH=TREE_B python bench/ab_draws.py b.npz``,
then compare the arrays (``np.array_equal``). The record the redesign issue asks for: draws
unchanged for rwmh, nuts and adapted hmc across the redesign.
"""
import sys

import numpy as np

import fastmc

out = {}
mix = fastmc.default_mixture()
targets = {"mix": mix}
rng = np.random.default_rng(0)
B = rng.normal(size=(5, 5))
cov = B @ B.T + np.eye(5)
g5 = fastmc.GaussianMixture(weights=[0.4, 0.6], means=[np.zeros(5), np.ones(5)], covs=[cov, np.eye(5)])
targets["g5"] = g5
for be in ["cpp", "numba"]:
    for name, t in targets.items():
        d = t.dim
        x0 = np.zeros(d)
        k = f"{be}-{name}"
        out[k + "-nuts-diag"] = fastmc.nuts(t, x0, 300, n_warmup=300, chains=2, seed=3, backend=be, warn=False).draws
        out[k + "-nuts-dense"] = fastmc.nuts(t, x0, 300, n_warmup=300, metric="dense", chains=2, seed=3, backend=be, warn=False).draws
        out[k + "-nuts-T"] = fastmc.nuts(t, x0, 200, n_warmup=200, temperature=2.0, step_size_jitter=0.3, chains=2, seed=3, backend=be, warn=False).draws
        out[k + "-hmcw"] = fastmc.hmc(t, x0, 300, step_size=0.3, n_leapfrog=7, n_warmup=300, chains=2, seed=3, backend=be, warn=False).draws
        out[k + "-hmcw-dense-it"] = fastmc.hmc(t, x0, 300, step_size=0.3, integration_time=2.0, metric="dense", n_warmup=300, chains=2, seed=3, backend=be, warn=False).draws
        out[k + "-hmc-jit"] = fastmc.hmc(t, x0, 300, step_size=0.3, n_leapfrog=7, step_size_jitter=0.4, chains=2, seed=3, backend=be, warn=False).draws
        out[k + "-hmc-plain"] = fastmc.hmc(t, x0, 300, step_size=0.3, n_leapfrog=7, chains=2, seed=3, backend=be).draws
        out[k + "-hmc-plain-T"] = fastmc.hmc(t, x0, 300, step_size=0.3, n_leapfrog=7, temperature=3.0, chains=2, seed=3, backend=be).draws
        out[k + "-rwmh"] = fastmc.rwmh(t, x0, 300, scale=0.8, chains=2, seed=3, backend=be).draws
        out[k + "-rwmh-w"] = fastmc.rwmh(t, x0, 300, scale=0.8, n_warmup=400, adapt_cov=True, chains=2, seed=3, backend=be).draws
np.savez(sys.argv[1], **out)
print("saved", len(out))
