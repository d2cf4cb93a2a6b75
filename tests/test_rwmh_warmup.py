"""RWMH warm-up: proposal scale and covariance adaptation, in both twins."""
import numpy as np
import pytest

import fastmc
from fastmc.workloads import workload
from reference import batch_means_mcse


@pytest.mark.parametrize("name, d", [("T1", 2), ("T2", 20)])
def test_scale_reaches_target_acceptance(backend, name, d):
    mix, _ = workload(name)
    r = fastmc.rwmh(mix, np.zeros(d), 20_000, scale=0.05, chains=2, seed=1, n_warmup=5000, backend=backend)
    assert r.warmup.draws.shape == (2, 5000, d) and r.draws.shape == (2, 20_000, d)
    assert np.all(np.abs(r.acceptance_rate - 0.234) < 0.05), r.acceptance_rate
    # the adapted scale is returned and reusable: no warm-up, same acceptance
    again = fastmc.rwmh(mix, np.zeros(d), 20_000, scale=r.adapted_scale[0], seed=2, backend=backend)
    assert abs(again.acceptance_rate[0] - 0.234) < 0.05


def test_one_dimension_targets_044(backend):
    mix = fastmc.GaussianMixture([1.0], [[0.0]], [[[4.0]]])
    r = fastmc.rwmh(mix, [0.0], 20_000, scale=0.01, seed=1, n_warmup=4000, backend=backend)
    assert abs(r.acceptance_rate[0] - 0.44) < 0.05
    assert r.settings["target_accept"] == 0.44


def test_covariance_adaptation_learns_the_shape(backend):
    """A strongly correlated 2-D Gaussian: the adapted proposal covariance has the target's
    correlation (0.95) and a scale ratio close to the target's sd ratio (10)."""
    C = np.array([[100.0, 0.95 * 10.0], [0.95 * 10.0, 1.0]])
    mix = fastmc.GaussianMixture([1.0], [[0.0, 0.0]], [C])
    r = fastmc.rwmh(mix, [0.0, 0.0], 20_000, scale=1.0, chains=2, seed=4, n_warmup=20_000, adapt_cov=True,
                    backend=backend)
    for S in r.adapted_scale:
        corr = S[0, 1] / np.sqrt(S[0, 0] * S[1, 1])
        assert abs(corr - 0.95) < 0.05
        assert 7 < np.sqrt(S[0, 0] / S[1, 1]) < 13
    plain = fastmc.rwmh(mix, [0.0, 0.0], 20_000, scale=1.0, chains=2, seed=4, n_warmup=20_000, backend=backend)
    x = r.draws[..., 0]
    y = plain.draws[..., 0]
    # the adapted proposal mixes x0 much better: a smaller Monte Carlo error of its mean
    assert batch_means_mcse(x) < 0.5 * batch_means_mcse(y)
    assert abs(x.mean()) < 4.5 * batch_means_mcse(x)


@pytest.mark.parametrize("kw, match", [(dict(n_warmup=-1), "n_warmup must be >= 0"),
                                       (dict(target_accept=1.0), r"target_accept must be in \(0, 1\)"),
                                       (dict(target_accept=0.0), "target_accept must be finite and > 0")])
def test_bad_warmup_input(kw, match):
    with pytest.raises(ValueError, match=match):
        fastmc.rwmh(fastmc.default_mixture(), [0.0, 0.0], 10, scale=1.0, **kw)
