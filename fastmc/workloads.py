"""The benchmark workloads T1-T3 (``../shared/workloads`` of the fastmc repository), rebuilt here
so tests, benchmarks and users can reproduce every published figure.

T1 ``hw-mixture-2d`` (d=2, K=3), T2 ``mixture-20d`` (d=20, K=4, random rotations from
``default_rng(0)``), T3 ``gauss-100d`` (d=100, one component, condition number 4.4e5).
"""
from __future__ import annotations

import numpy as np

from .targets.mixture import GaussianMixture, default_mixture

__all__ = ["workload", "SETTINGS", "NAMES"]

NAMES = {"T1": "hw-mixture-2d", "T2": "mixture-20d", "T3": "gauss-100d"}

#: Sampler settings of each workload: start at the origin, no warm-up, all draws kept.
SETTINGS = {
    "T1": dict(rwmh_sigma=1.683, hmc_eps=0.70, hmc_L=20, rwmh_iters=200_000, hmc_iters=20_000),
    "T2": dict(rwmh_sigma=0.532, hmc_eps=0.45, hmc_L=20, rwmh_iters=200_000, hmc_iters=20_000),
    "T3": dict(rwmh_sigma=0.0238, hmc_eps=0.035, hmc_L=20, rwmh_iters=200_000, hmc_iters=20_000),
}


def _t2() -> GaussianMixture:
    d, K = 20, 4
    rng = np.random.default_rng(0)
    covs = []
    for _ in range(K):
        Q, R = np.linalg.qr(rng.standard_normal((d, d)))
        Q = Q * np.sign(np.diag(R))
        lam = np.exp(rng.uniform(np.log(0.25), np.log(4.0), size=d))
        S = (Q * lam) @ Q.T
        covs.append(0.5 * (S + S.T))
    M = rng.standard_normal((K, d))
    means = (3.0 / np.sqrt(2.0)) * M / np.linalg.norm(M, axis=1, keepdims=True)
    return GaussianMixture(np.full(K, 1.0 / K), means, np.array(covs))


def _t3() -> GaussianMixture:
    d = 100
    s = np.sqrt(10.0 ** np.random.default_rng(0).uniform(-2.0, 2.0, size=d))
    idx = np.arange(d)
    S = s[:, None] * 0.9 ** np.abs(idx[:, None] - idx[None, :]) * s[None, :]
    return GaussianMixture([1.0], np.zeros((1, d)), S[None])


def workload(name: str) -> tuple[GaussianMixture, dict]:
    """The target and settings of workload ``name`` ("T1", "T2" or "T3")."""
    builders = {"T1": default_mixture, "T2": _t2, "T3": _t3}
    if name not in builders:
        raise ValueError(f"name must be one of {sorted(builders)}, got {name!r}")
    return builders[name](), dict(SETTINGS[name])
