"""Samplers reproduce the exact mixture moments within Monte Carlo error.

The tolerance is z * MCSE, with the MCSE from batch means over all chains (independent of
fastmc.diagnostics) and z the two-sided Bonferroni quantile for a 0.1% family-wise error over all
moments checked in one run. Seeds are fixed, so the outcome is deterministic.
"""
import numpy as np
import pytest
from scipy import stats

import fastmc
from fastmc.workloads import workload
from reference import batch_means_mcse

# (sampler, workload) -> (chains, n): long enough for batch means to see the mode switching
RUNS = {
    ("rwmh", "T1"): (4, 100_000),
    ("hmc", "T1"): (4, 10_000),
    ("rwmh", "T2"): (4, 200_000),
    ("hmc", "T2"): (4, 20_000),
}


@pytest.mark.parametrize("sampler, name", list(RUNS))
def test_moments_within_mcse(backend, sampler, name):
    mix, s = workload(name)
    chains, n = RUNS[sampler, name]
    x0 = np.zeros(mix.dim)
    if sampler == "rwmh":
        r = fastmc.rwmh(mix, x0, n, scale=s["rwmh_sigma"], chains=chains, seed=2024, backend=backend)
    else:
        r = fastmc.hmc(mix, x0, n, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], chains=chains, seed=2024,
                       backend=backend)
    x = r.draws[:, n // 10:, :]  # drop the first 10% (start at the origin)
    m, C = mix.mean(), mix.cov()
    d = mix.dim
    iu = np.triu_indices(d)
    stats_ = [x[..., i] for i in range(d)]  # means
    targets = list(m)
    for i, j in zip(*iu):  # second central moments around the exact mean
        stats_.append((x[..., i] - m[i]) * (x[..., j] - m[j]))
        targets.append(C[i, j])
    z = stats.norm.isf(0.001 / (2 * len(targets)))
    worst = 0.0
    for y, target in zip(stats_, targets):
        err = abs(y.mean() - target) / batch_means_mcse(y)
        worst = max(worst, err)
    assert worst < z, f"largest moment error is {worst:.2f} MCSE (allowed {z:.2f})"
