"""PyMC models sampled by fastmc (``Target.from_pymc``), nutpie and ``pm.sample``, in the same run.

Run: ``pytest bench/bench_pymc.py -s`` or ``python bench/bench_pymc.py`` (a table on stdout); the
``bench`` and ``pymc`` extras install the peers (each is skipped, saying so, when absent).

Models (:mod:`fastmc.models`): eight schools non-centred, the radon-style hierarchical regression
(40 counties, 600 houses) and a 25-coefficient logistic regression (500 rows). Every sampler runs
4 chains, 1000 warm-up + 1000 kept draws, its default NUTS settings (target acceptance 0.8, diagonal
metric), ``FASTMC_BENCH_PYMC_REPS`` (1) repetitions with different seeds, medians reported.
Same definitions on every side:

- compile time: building the sampler's function from the model (fastmc ``from_pymc``, which
  also compiles its C entry point; nutpie ``compile_pymc_model``), reported and excluded;
- wall: warm-up + sampling of a call whose code is already compiled (fastmc: the ``nuts`` call
  on its default threads, after one earlier call; nutpie: the ``sample`` call; pm.sample: PyMC's
  own ``sampling_time``, which leaves compilation out; its default cores);
- min bulk ESS: ``fastmc.ess(method="bulk")`` (ArviZ's) of every element of every free variable
  and deterministic in the constrained space, the minimum;
- gradients: leapfrog steps of warm-up and sampling, all chains (fastmc ``n_grad_evals``;
  nutpie and PyMC ``n_steps`` of warm-up and kept draws).
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

REPS = int(os.environ.get("FASTMC_BENCH_PYMC_REPS", "1"))
N_WARMUP, N_DRAWS, CHAINS = 1000, 1000, 4
MODELS = ("eight_schools_noncentred", "radon", "logistic25")

for _m, _x in zip(MODELS, (2.0, 1.0, 1.0)):
    goal(f"{_m}: min bulk ESS/s fastmc / nutpie", (f"{_m} fastmc", "ESS/s"), (f"{_m} nutpie", "ESS/s"), _x)
    goal(f"{_m}: min bulk ESS/s fastmc / pm.sample", (f"{_m} fastmc", "ESS/s"), (f"{_m} pm.sample", "ESS/s"), 20.0)
    goal(f"{_m}: ESS per gradient fastmc / nutpie", (f"{_m} fastmc", "ESS per 1k grad"),
         (f"{_m} nutpie", "ESS per 1k grad"), 0.8)

_UNITS = {"ESS/s": "min bulk ESS / s", "ESS per 1k grad": "min bulk ESS / 1000 gradients", "wall": "s",
          "compile": "s", "min ESS": "draws"}


def make_model(name):
    from fastmc import models

    if name == "eight_schools_noncentred":
        return models.eight_schools_pymc(centered=False)
    if name == "radon":
        return models.radon_pymc()
    return models.logistic_regression_pymc(n=500, p=25)


def min_bulk_ess(posterior: dict) -> float:
    """Minimum bulk ESS over every element of every (chains, draws, ...) array."""
    return min(float(np.min(fastmc.ess(np.asarray(a).reshape(a.shape[0], a.shape[1], -1), method="bulk")))
               for a in posterior.values())


def fastmc_runs(model, names):
    t0 = time.perf_counter()
    target = fastmc.Target.from_pymc(model)
    compile_s = time.perf_counter() - t0
    fastmc.nuts(target, None, 10, n_warmup=10, chains=CHAINS, seed=0, warn=False)  # kernels for this target
    runs = []
    for rep in range(REPS):
        t = time.perf_counter()
        r = fastmc.nuts(target, None, N_DRAWS, n_warmup=N_WARMUP, chains=CHAINS, seed=100 + rep, warn=False)
        wall = time.perf_counter() - t
        ess = min_bulk_ess({k: r.posterior[k] for k in names})
        runs.append(dict(wall=wall, ess=ess, grads=int(r.n_grad_evals.sum()), compile=compile_s))
    return runs


def nutpie_runs(model, names):
    import nutpie

    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - t0
    nutpie.sample(compiled, chains=CHAINS, tune=10, draws=10, seed=0, progress_bar=False)
    runs = []
    for rep in range(REPS):
        t = time.perf_counter()
        idata = nutpie.sample(compiled, chains=CHAINS, tune=N_WARMUP, draws=N_DRAWS, seed=100 + rep,
                              progress_bar=False, save_warmup=True)
        wall = time.perf_counter() - t
        post = {k: idata.posterior[k].values for k in names}
        grads = int(idata.sample_stats["n_steps"].values.sum() + idata.warmup_sample_stats["n_steps"].values.sum())
        runs.append(dict(wall=wall, ess=min_bulk_ess(post), grads=grads, compile=compile_s))
    return runs


def pymc_runs(model, names):
    import pymc as pm

    runs = []
    for rep in range(REPS):
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = pm.sample(draws=N_DRAWS, tune=N_WARMUP, chains=CHAINS, random_seed=100 + rep,
                              progressbar=False, discard_tuned_samples=False, compute_convergence_checks=False)
        post = {k: idata.posterior[k].values for k in names}
        ss = idata.sample_stats
        grads = int(ss["n_steps"].values.sum() + idata.warmup_sample_stats["n_steps"].values.sum())
        runs.append(dict(wall=float(idata.posterior.attrs["sampling_time"]), ess=min_bulk_ess(post), grads=grads,
                         compile=float("nan")))
    return runs


def summarise(runs):
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "ess", "grads", "compile")}
    return {"ESS/s": statistics.median(r["ess"] / r["wall"] for r in runs),
            "ESS per 1k grad": statistics.median(1000 * r["ess"] / r["grads"] for r in runs),
            "wall": med["wall"], "compile": med["compile"], "min ESS": med["ess"]}


PEERS = {"fastmc": (fastmc_runs, None), "nutpie": (nutpie_runs, "nutpie"), "pm.sample": (pymc_runs, "pymc")}


def measure(name, peer):
    if importlib.util.find_spec("pymc") is None:
        pytest.skip("pymc is not installed (pip install '.[pymc]')")
    fn, module = PEERS[peer]
    if module is not None and importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install '.[bench]'): {peer} not measured")
    model = make_model(name)
    names = [rv.name for rv in model.free_RVs] + [d.name for d in model.deterministics]
    s = summarise(fn(model, names))
    for k, v in s.items():
        record(f"{name} {peer}", k, v, _UNITS[k])
    return s


@pytest.mark.parametrize("peer", list(PEERS))
@pytest.mark.parametrize("name", MODELS)
def test_pymc_models(name, peer):
    s = measure(name, peer)
    print(f"\n{name:26s} {peer:10s} " + "  ".join(f"{k} {v:.4g}" for k, v in s.items()))


def main():
    rows = []
    for name in MODELS:
        for peer in PEERS:
            try:
                s = measure(name, peer)
            except pytest.skip.Exception as exc:
                print(f"{name} {peer}: skipped ({exc})")
                continue
            rows.append((name, peer, s))
            print(f"{name:26s} {peer:10s} " + "  ".join(f"{k} {v:.4g}" for k, v in s.items()), flush=True)
    print(f"\nload average {os.getloadavg()}")
    print("| model | sampler | compile s | wall s | min bulk ESS | ESS/s | ESS/1k grad |")
    print("|---|---|---|---|---|---|---|")
    for name, peer, s in rows:
        print(f"| {name} | {peer} | {s['compile']:.1f} | {s['wall']:.2f} | {s['min ESS']:.0f} | {s['ESS/s']:.0f} | "
              f"{s['ESS per 1k grad']:.1f} |")


if __name__ == "__main__":
    main()
