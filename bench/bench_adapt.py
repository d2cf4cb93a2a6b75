"""Warm-up efficiency (issue: Fisher-divergence mass matrices): ESS per gradient and per second of
fastmc's two diagonal adaptations (``adapt="stan"``, ``adapt="fisher"``) against nutpie, on the
same compiled function.

Run: ``python bench/bench_adapt.py`` (a table on stdout) or ``pytest bench/bench_adapt.py -s``;
needs the ``pymc`` and ``bench`` extras (nutpie), each peer skipped, saying so, when absent.

Every workload is a PyMC model, so both samplers call the same PyTensor graph compiled by Numba
(fastmc through ``Target.from_pymc``, nutpie through ``compile_pymc_model``); the Gaussians are
written as a flat vector with the quadratic forms of precomputed precisions in a ``pm.Potential``:

- T2: the 20-d mixture of ``fastmc.workloads`` (the log-sum-exp of its four components);
- T3: the 100-d Gaussian of ``fastmc.workloads`` (condition number 4.4e5);
- corr100: a 100-d Gaussian with a random rotation and variances log-uniform in [0.1, 10]
  (``default_rng(1)``): strong correlations no diagonal metric removes;
- logistic25: ``fastmc.models.logistic_regression_pymc(n=500, p=25)``.

Each sampler: 4 chains, 1000 warm-up + 1000 kept draws, target acceptance 0.8, ``REPS``
(``FASTMC_BENCH_ADAPT_REPS``, default 3) seeds, interleaved (one run of every sampler per seed, in
turn), medians. Gradients: every leapfrog step of warm-up and sampling over all chains, fastmc's
step-size searches included (fastmc ``n_grad_evals``; nutpie ``n_steps``). ESS: the minimum bulk
ESS (``fastmc.ess``, ArviZ's) over every coordinate. Wall: the sample call, code compiled before.
On T3 also fastmc's dense metric (Stan's adaptation) and nutpie's low-rank one, for reference.
"""
from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastmc  # noqa: E402
from conftest import goal, record  # noqa: E402

REPS = int(os.environ.get("FASTMC_BENCH_ADAPT_REPS", "3"))
N_WARMUP, N_DRAWS, CHAINS = 1000, 1000, 4
WORKLOADS = ("T2", "T3", "corr100", "logistic25")
# sampler name -> (peer, settings)
SAMPLERS = {
    "fastmc stan": ("fastmc", dict(adapt="stan")),
    "fastmc fisher": ("fastmc", dict(adapt="fisher")),
    "nutpie diag": ("nutpie", dict()),
}
EXTRA = {"T3": {"fastmc dense": ("fastmc", dict(metric="dense")),
                "nutpie low-rank": ("nutpie", dict(low_rank_modified_mass_matrix=True))}}

for _w in WORKLOADS:
    goal(f"{_w}: ESS per gradient, fastmc fisher / nutpie diag", (f"{_w} fastmc fisher", "ESS per 1k grad"),
         (f"{_w} nutpie diag", "ESS per 1k grad"), 1.0)
    goal(f"{_w}: ESS per gradient, fastmc fisher / fastmc stan", (f"{_w} fastmc fisher", "ESS per 1k grad"),
         (f"{_w} fastmc stan", "ESS per 1k grad"), 1.0)
    goal(f"{_w}: ESS/s, fastmc fisher / nutpie diag", (f"{_w} fastmc fisher", "ESS/s"),
         (f"{_w} nutpie diag", "ESS/s"), 3.0)

_UNITS = {"ESS/s": "min bulk ESS / s", "ESS per 1k grad": "min bulk ESS / 1000 gradients", "wall": "s",
          "min ESS": "draws", "grads": "gradients", "warm-up grads": "gradients"}


def _gaussians(name):
    """(log weights + log-normalisers (K,), means (K, d), precisions (K, d, d)) of a workload."""
    from fastmc.workloads import workload

    if name == "corr100":
        rng = np.random.default_rng(1)
        q, r = np.linalg.qr(rng.standard_normal((100, 100)))
        q = q * np.sign(np.diag(r))
        cov = (q * np.exp(rng.uniform(np.log(0.1), np.log(10.0), 100))) @ q.T
        weights, means, covs = np.ones(1), np.zeros((1, 100)), (0.5 * (cov + cov.T))[None]
    else:
        mix, _ = workload(name)
        weights, means, covs = np.array(mix.weights), np.array(mix.means), np.array(mix.covs)
    precs = np.linalg.inv(covs)
    precs = 0.5 * (precs + precs.transpose(0, 2, 1))
    logc = np.log(weights) - 0.5 * np.linalg.slogdet(covs)[1] - 0.5 * means.shape[1] * np.log(2 * np.pi)
    return logc, means, precs


def make_model(name):
    """The workload as a PyMC model written as a careful user would for speed: a flat vector and
    the quadratic forms of precomputed precision matrices in a ``pm.Potential`` (``pm.MvNormal``
    with ``cov`` would factor the covariance at every gradient)."""
    import pymc as pm
    import pytensor.tensor as pt

    from fastmc import models

    if name == "logistic25":
        return models.logistic_regression_pymc(n=500, p=25)
    logc, means, precs = _gaussians(name)
    with pm.Model() as m:
        x = pm.Flat("x", shape=means.shape[1])
        comps = []
        for c, mu, prec in zip(logc, means, precs):
            z = x - mu
            comps.append(c - 0.5 * pt.dot(z, pt.dot(prec, z)))
        pm.Potential("density", comps[0] if len(comps) == 1 else pt.logsumexp(pt.stack(comps)))
    return m


def min_bulk_ess(a) -> float:
    a = np.asarray(a)
    return float(np.min(fastmc.ess(a.reshape(a.shape[0], a.shape[1], -1), method="bulk")))


class FastmcRunner:
    def __init__(self, model):
        self.target = fastmc.Target.from_pymc(model)
        fastmc.nuts(self.target, None, 10, n_warmup=10, chains=CHAINS, seed=0, warn=False)  # compile
        fastmc.nuts(self.target, None, 10, n_warmup=10, chains=CHAINS, seed=0, warn=False, metric="dense")

    def run(self, seed, settings):
        t = time.perf_counter()
        r = fastmc.nuts(self.target, None, N_DRAWS, n_warmup=N_WARMUP, chains=CHAINS, seed=seed, warn=False,
                        progress=False, **settings)
        wall = time.perf_counter() - t
        warm = int(r.warmup.sample_stats["n_leapfrog"].sum())
        return dict(wall=wall, ess=min_bulk_ess(r.draws), grads=int(r.n_grad_evals.sum()), warm=warm)


class NutpieRunner:
    def __init__(self, model):
        import nutpie

        self.nutpie = nutpie
        self.compiled = nutpie.compile_pymc_model(model)
        nutpie.sample(self.compiled, chains=CHAINS, tune=10, draws=10, seed=0, progress_bar=False)

    def run(self, seed, settings):
        t = time.perf_counter()
        idata = self.nutpie.sample(self.compiled, chains=CHAINS, tune=N_WARMUP, draws=N_DRAWS, seed=seed,
                                   progress_bar=False, save_warmup=True, **settings)
        wall = time.perf_counter() - t
        post = np.concatenate([idata.posterior[k].values.reshape(CHAINS, N_DRAWS, -1)
                               for k in idata.posterior.data_vars], axis=2)
        warm = int(idata.warmup_sample_stats["n_steps"].values.sum())
        grads = int(idata.sample_stats["n_steps"].values.sum()) + warm
        return dict(wall=wall, ess=min_bulk_ess(post), grads=grads, warm=warm)


RUNNERS = {"fastmc": (FastmcRunner, None), "nutpie": (NutpieRunner, "nutpie")}


def measure(name):
    """Every sampler on workload ``name``, interleaved over the seeds: {sampler: summary}."""
    if importlib.util.find_spec("pymc") is None:
        pytest.skip("pymc is not installed (pip install '.[pymc]')")
    model = make_model(name)
    samplers = dict(SAMPLERS, **EXTRA.get(name, {}))
    runners = {}
    for peer, (cls, module) in RUNNERS.items():
        if module is None or importlib.util.find_spec(module) is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runners[peer] = cls(model)
        else:
            print(f"{module} is not installed (pip install '.[bench]'): not measured")
    runs = {s: [] for s, (peer, _) in samplers.items() if peer in runners}
    for rep in range(REPS):
        for s in runs:
            peer, settings = samplers[s]
            runs[s].append(runners[peer].run(100 + rep, settings))
    out = {}
    for s, rs in runs.items():
        out[s] = {"ESS/s": statistics.median(r["ess"] / r["wall"] for r in rs),
                  "ESS per 1k grad": statistics.median(1000 * r["ess"] / r["grads"] for r in rs),
                  "wall": statistics.median(r["wall"] for r in rs), "min ESS": statistics.median(r["ess"] for r in rs),
                  "grads": statistics.median(r["grads"] for r in rs),
                  "warm-up grads": statistics.median(r["warm"] for r in rs)}
        for k, v in out[s].items():
            record(f"{name} {s}", k, v, _UNITS[k])
    return out


@pytest.mark.parametrize("name", WORKLOADS)
def test_adaptation(name):
    for s, v in measure(name).items():
        print(f"\n{name:11s} {s:16s} " + "  ".join(f"{k} {x:.4g}" for k, x in v.items()))


def main(names=WORKLOADS):
    rows = []
    for name in names:
        for s, v in measure(name).items():
            rows.append((name, s, v))
            print(f"{name:11s} {s:16s} " + "  ".join(f"{k} {x:.4g}" for k, x in v.items()), flush=True)
    print(f"\nload average {os.getloadavg()}, {REPS} seeds, medians")
    print("| workload | sampler | min bulk ESS | gradients | warm-up gradients | wall s | ESS/s | ESS/1k grad |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s, v in rows:
        print(f"| {name} | {s} | {v['min ESS']:.0f} | {v['grads']:.0f} | {v['warm-up grads']:.0f} | {v['wall']:.2f} | "
              f"{v['ESS/s']:.0f} | {v['ESS per 1k grad']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:] or WORKLOADS)
