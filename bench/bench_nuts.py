"""NUTS against static HMC on T2 and T3: cost per gradient evaluation, and minimum bulk ESS per
gradient and per second with 4 chains, 1000 warm-up + 1000 draws.

Run: ``python bench/bench_nuts.py [--backend cpp|numba] [--quick]`` (a table on stdout). JIT
compilation is excluded (one small warm-up call first). Static HMC runs the workload's fixed
settings (identity metric) for the per-gradient cost and, with adaptation (same metric as NUTS),
for ESS.

Issue #5, against NumPyro's NUTS (``pytest bench/bench_nuts.py`` or the script; skipped with the
reason printed when NumPyro is not installed): T2 (diag metric) and T3 (dense metric; NumPyro
``dense_mass=True``), 4 chains, 1000 warm-up + 1000 kept draws, target acceptance 0.8, tree depth
10, start at the origin, ``FASTMC_BENCH_NUTS_REPS`` (3) runs with different seeds on each side and
medians reported. Same definitions on both sides:

- min bulk ESS: ``fastmc.ess(draws, method="bulk")`` (ArviZ's) over the kept draws, minimum over
  dimensions;
- gradients: leapfrog steps of the warm-up and the kept iterations, all chains (fastmc:
  ``result.warmup.n_grad_evals`` + ``sample_stats["n_leapfrog"]``; NumPyro: ``num_steps`` of
  ``mcmc.warmup(collect_warmup=True)`` and ``mcmc.run``); the initial gradient and the step-size
  searches are left out on both sides (fastmc's ``n_grad_evals``, which has them, is shown too);
- wall: warm-up + sampling, compilation excluded (fastmc: compiled by an earlier call; NumPyro
  recompiles on every call, so JAX's reported compile time is subtracted: bench/peers.py), fastmc
  on its default threads (2 cores), NumPyro as ``bench.peers.NUMPYRO_DEFAULT`` says.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fastmc  # noqa: E402
import peers  # noqa: E402
from conftest import goal, record  # noqa: E402
from fastmc.nuts import nuts  # noqa: E402
from fastmc.workloads import workload  # noqa: E402

REPS = int(os.environ.get("FASTMC_BENCH_NUTS_REPS", "3"))
BACKEND = "cpp" if "cpp" in fastmc.available_backends() else "numba"

for _name in ("T2", "T3"):
    goal(f"{_name} NUTS ESS per gradient: fastmc / NumPyro (#5)", (f"{_name} NUTS fastmc", "ESS per 1k grad"),
         (f"{_name} NUTS NumPyro", "ESS per 1k grad"), 0.8, 1.25)
    goal(f"{_name} NUTS ESS per second: fastmc / NumPyro (#5)", (f"{_name} NUTS fastmc", "ESS/s"),
         (f"{_name} NUTS NumPyro", "ESS/s"), 10.0)


def _min_bulk_ess(draws):
    try:
        from fastmc.diagnostics import ess

        return float(np.min(ess(draws, method="bulk")))
    except ImportError:
        from test_nuts import _bulk_ess

        return float(_bulk_ess(draws).min())


def _timed(f):
    t = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t


def fastmc_nuts_runs(name, reps=REPS, backend=BACKEND, n_warmup=1000, n_samples=1000, chains=4, seed=100):
    """fastmc's NUTS on workload ``name``, ``reps`` runs: one dict per run (module docstring)."""
    mix, _ = workload(name)
    x0 = np.zeros(mix.dim)
    metric = "dense" if name == "T3" else "diag"
    nuts(mix, x0, 5, n_warmup=5, metric=metric, chains=chains, seed=0, backend=backend, warn=False)  # compile
    out = []
    for rep in range(reps):
        r, wall = _timed(lambda: nuts(mix, x0, n_samples, n_warmup=n_warmup, metric=metric, chains=chains,
                                      seed=seed + rep, backend=backend, warn=False))
        out.append(dict(min_ess=_min_bulk_ess(r.draws), grads_warmup=int(r.warmup.n_grad_evals.sum()),
                        grads_kept=int(r.sample_stats["n_leapfrog"].sum()), grads_all=int(r.n_grad_evals.sum()),
                        wall=wall))
    return out


def numpyro_nuts_runs(name, reps=REPS, config=None, n_warmup=1000, n_samples=1000, chains=4):
    """NumPyro's NUTS with the same settings, in a child process (bench/peers.py)."""
    method, pin, flags = peers.NUMPYRO_CONFIGS[config or os.environ.get("FASTMC_BENCH_NUMPYRO", peers.NUMPYRO_DEFAULT)]
    return peers.run_child("numpyro-nuts", "--workload", name, "--chain-method", method, "--reps", str(reps),
                           "--warmup", str(n_warmup), "--samples", str(n_samples), "--chains", str(chains),
                           pin=pin, xla_flags=flags)


def summarise(runs):
    """Medians over the runs of min ESS, gradients, wall, ESS per 1000 gradients and ESS/s."""
    med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
    return {"min bulk ESS": med(lambda r: r["min_ess"]),
            "gradients": med(lambda r: r["grads_warmup"] + r["grads_kept"]),
            "wall (s)": med(lambda r: r["wall"]),
            "ESS per 1k grad": med(lambda r: r["min_ess"] / (r["grads_warmup"] + r["grads_kept"]) * 1e3),
            "ESS/s": med(lambda r: r["min_ess"] / r["wall"])}


_UNITS = {"min bulk ESS": "", "gradients": "leapfrog steps, warm-up + kept", "wall (s)": "s",
          "ESS per 1k grad": "min bulk ESS / 1000 gradients", "ESS/s": "min bulk ESS / s"}


def _describe(tool, name, runs, extra=""):
    lines = [f"{name} {tool}{extra}:"]
    for r in runs:
        g = r["grads_warmup"] + r["grads_kept"]
        more = f", fastmc n_grad_evals {r['grads_all']}" if "grads_all" in r else \
            f", {r['wall_with_compile']:.2f} s with compile"
        lines.append(f"  min ESS {r['min_ess']:7.0f}  grads {r['grads_warmup']}+{r['grads_kept']}={g}  "
                     f"wall {r['wall']:.3f} s{more}  ESS/1kgrad {r['min_ess'] / g * 1e3:.2f}  "
                     f"ESS/s {r['min_ess'] / r['wall']:.0f}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", ["T2", "T3"])
def test_nuts_vs_numpyro(name):
    runs = fastmc_nuts_runs(name)
    print(f"\nload average {os.getloadavg()}\n" + _describe("fastmc", name, runs, f" ({BACKEND})"))
    for k, v in summarise(runs).items():
        record(f"{name} NUTS fastmc", k, v, _UNITS[k])
    absent = peers.missing("jax", "jaxlib", "numpyro")
    if absent:
        reason = f"{absent} is not installed (pip install '.[bench]'): NumPyro's NUTS not measured"
        print(reason)
        pytest.skip(reason)
    r = numpyro_nuts_runs(name)
    print(_describe("NumPyro", name, r["reps"], f" {r['version']} (jax {r['jax']}, chain_method={r['chain_method']}, "
                    f"cores {r['affinity']}, XLA_FLAGS={r['xla_flags']!r})"))
    for k, v in summarise(r["reps"]).items():
        record(f"{name} NUTS NumPyro", k, v, _UNITS[k])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cpp")
    ap.add_argument("--quick", action="store_true", help="200 + 200 iterations")
    ap.add_argument("--workloads", default="T2,T3")
    ap.add_argument("--numpyro-config", default=None, choices=sorted(peers.NUMPYRO_CONFIGS),
                    help=f"NumPyro's chain method and cores (default {peers.NUMPYRO_DEFAULT})")
    ap.add_argument("--reps", type=int, default=REPS, help="runs per tool in the NumPyro comparison")
    a = ap.parse_args(argv)
    nw = ns = 200 if a.quick else 1000
    be = a.backend
    warnings.simplefilter("ignore", fastmc.SamplingWarning if hasattr(fastmc, "SamplingWarning") else UserWarning)
    rows = []
    for name in a.workloads.split(","):
        mix, s = workload(name)
        x0 = np.zeros(mix.dim)
        metric = "dense" if name == "T3" else "diag"
        nuts(mix, x0, 5, n_warmup=5, chains=4, seed=0, backend=be, warn=False)  # compile outside timing
        fastmc.hmc(mix, x0, 5, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], chains=4, seed=0, backend=be)
        # cost per gradient: same metric (identity, diagonal kernels), same step size
        # (one thread, long enough runs: the machine is shared and thread start-up is not the question)
        nc = 4 * ns
        h, th = _timed(lambda: fastmc.hmc(mix, x0, nc, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], chains=2,
                                          seed=1, backend=be, n_threads=1))
        u, tu = _timed(lambda: nuts(mix, x0, nc, n_warmup=0, step_size=s["hmc_eps"], metric="unit", chains=2,
                                    seed=1, backend=be, warn=False, n_threads=1))
        ns_hmc = th / h.n_grad_evals.sum() * 1e9
        ns_nuts = tu / u.n_grad_evals.sum() * 1e9
        # full runs with adaptation
        r, tr = _timed(lambda: nuts(mix, x0, ns, n_warmup=nw, metric=metric, chains=4, seed=2, backend=be,
                                    warn=False))
        ha, tha = _timed(lambda: fastmc.hmc(mix, x0, ns, step_size=0.1, n_leapfrog=s["hmc_L"], n_warmup=nw,
                                            metric=metric, chains=4, seed=2, backend=be, warn=False))
        for label, res, t in ((f"NUTS {metric}", r, tr), (f"HMC L={s['hmc_L']} {metric} adapted", ha, tha)):
            e = _min_bulk_ess(res.draws)
            g = int(res.n_grad_evals.sum())
            rows.append((name, label, e, e / g * 1e3, e / t, g, t))
        rows.append((name, "cost ratio", ns_nuts / ns_hmc, ns_hmc, ns_nuts, 0, 0))
    print(f"backend={be}, 4 chains, {nw} warm-up + {ns} draws")
    print(f"{'wl':3} {'sampler':28} {'minESS':>8} {'ESS/1kgrad':>10} {'ESS/s':>9} {'grads':>9} {'wall s':>7}")
    for name, label, e, epg, eps_, g, t in rows:
        if label == "cost ratio":
            print(f"{name:3} NUTS/HMC ns per gradient: {e:.2f} ({eps_:.0f} ns vs {epg:.0f} ns, unit metric)")
        else:
            print(f"{name:3} {label:28} {e:8.0f} {epg:10.2f} {eps_:9.0f} {g:9d} {t:7.2f}")
    absent = peers.missing("jax", "jaxlib", "numpyro")
    if absent:
        print(f"{absent} is not installed (pip install '.[bench]'): the NumPyro comparison is skipped")
        return rows
    print(f"\nagainst NumPyro's NUTS ({a.reps} runs each, medians; load average {os.getloadavg()})")
    for name in a.workloads.split(","):
        fm = fastmc_nuts_runs(name, a.reps, be, nw, ns)
        npr = numpyro_nuts_runs(name, a.reps, a.numpyro_config, nw, ns)
        print(_describe("fastmc", name, fm, f" ({be})"))
        print(_describe("NumPyro", name, npr["reps"], f" {npr['version']} (chain_method={npr['chain_method']}, "
                        f"cores {npr['affinity']}, XLA_FLAGS={npr['xla_flags']!r})"))
        sf, sn = summarise(fm), summarise(npr["reps"])
        print(f"{'wl':3} {'tool':8} {'minESS':>8} {'grads':>9} {'ESS/1kgrad':>10} {'wall s':>8} {'ESS/s':>9}")
        for tool, sm in (("fastmc", sf), ("NumPyro", sn)):
            print(f"{name:3} {tool:8} {sm['min bulk ESS']:8.0f} {sm['gradients']:9.0f} {sm['ESS per 1k grad']:10.2f} "
                  f"{sm['wall (s)']:8.3f} {sm['ESS/s']:9.0f}")
        print(f"{name:3} ratio fastmc/NumPyro: ESS per gradient {sf['ESS per 1k grad'] / sn['ESS per 1k grad']:.2f}x "
              f"(goal 0.8-1.25), ESS/s {sf['ESS/s'] / sn['ESS/s']:.1f}x (goal >= 10)")
    return rows


if __name__ == "__main__":
    main()
