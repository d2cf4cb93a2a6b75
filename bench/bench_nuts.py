"""NUTS against static HMC on T2 and T3: cost per gradient evaluation, and minimum bulk ESS per
gradient and per second with 4 chains, 1000 warm-up + 1000 draws.

Run: ``python bench/bench_nuts.py [--backend cpp|numba] [--quick]`` (a table on stdout). JIT
compilation is excluded (one small warm-up call first). Static HMC runs the workload's fixed
settings (identity metric) for the per-gradient cost and, with adaptation (same metric as NUTS),
for ESS.

Issue #5, cost per gradient (``cost_per_gradient``; goal: NUTS at most 1.3x static HMC): wall time
of a whole call divided by its gradient evaluations, NUTS and ``fastmc.hmc`` on the same target
with the same metric and step size, two chains on one thread, measured as
``FASTMC_BENCH_COST_REPS`` (5) interleaved pairs (the order alternates) in the same process; the
ratio reported is the median of the pairs' ratios (their spread and the load average are printed:
the machine is shared). Two settings: the workload's fixed HMC settings with the identity metric
(NUTS ``metric="unit"``, static HMC's own kernel), and the state adapted by the NUTS run (its
diagonal or dense metric and step size, resumed by both samplers, static HMC then running the
same leapfrog kernel as NUTS).

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
COST_REPS = int(os.environ.get("FASTMC_BENCH_COST_REPS", "5"))
BACKEND = "cpp" if "cpp" in fastmc.available_backends() else "numba"

for _name in ("T2", "T3"):
    goal(f"{_name} NUTS / static HMC cost per gradient (#5)", (f"{_name} cost per gradient", "NUTS"),
         (f"{_name} cost per gradient", "static HMC"), 0.0, 1.3)
    goal(f"{_name} NUTS ESS per gradient: fastmc / NumPyro (#5)", (f"{_name} NUTS fastmc", "ESS per 1k grad"),
         (f"{_name} NUTS NumPyro", "ESS per 1k grad"), 0.8, 1.25)
    goal(f"{_name} NUTS ESS per second: fastmc / NumPyro (#5)", (f"{_name} NUTS fastmc", "ESS/s"),
         (f"{_name} NUTS NumPyro", "ESS/s"), 10.0)


def _min_bulk_ess(draws):
    try:
        from fastmc.diagnostics import ess

        return float(np.min(ess(draws, method="bulk")))
    except ImportError:
        from test_statistics import _bulk_ess

        return float(_bulk_ess(draws).min())


def _timed(f):
    t = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t


def cost_per_gradient(name, backend=BACKEND, reps=COST_REPS, n_iter=4000, state=None):
    """Nanoseconds per gradient evaluation of NUTS and of static HMC (``hmc_L`` steps) on workload
    ``name``: same target, metric and step size, one thread; ``reps`` interleaved pairs of runs
    (order alternating). Identity metric at the workload's HMC step size with two chains, or, with
    ``state`` (an adapted ``result.state``), that state's metric and step size resumed by both.
    Returns dict(nuts=[ns...], hmc=[ns...], ratios=[...], ratio=median of the paired ratios)."""
    mix, s = workload(name)
    x0 = np.zeros(mix.dim)
    if state is None:
        run_hmc = lambda: fastmc.hmc(mix, x0, n_iter, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"],  # noqa: E731
                                     chains=2, seed=1, backend=backend, n_threads=1)
        run_nuts = lambda: nuts(mix, x0, n_iter, n_warmup=0, step_size=s["hmc_eps"], metric="unit",  # noqa: E731
                                chains=2, seed=1, backend=backend, warn=False, n_threads=1)
    else:
        run_hmc = lambda: fastmc.hmc(mix, None, n_iter, n_leapfrog=s["hmc_L"], resume=state,  # noqa: E731
                                     backend=backend, n_threads=1, warn=False)
        run_nuts = lambda: nuts(mix, None, n_iter, resume=state, backend=backend, warn=False,  # noqa: E731
                                n_threads=1)
    run_hmc(), run_nuts()  # compiled, warm
    out = dict(nuts=[], hmc=[], ratios=[])
    for rep in range(reps):
        pair = {}
        for which in (("hmc", "nuts") if rep % 2 == 0 else ("nuts", "hmc")):
            r, t = _timed(run_hmc if which == "hmc" else run_nuts)
            pair[which] = t / r.n_grad_evals.sum() * 1e9
            out[which].append(pair[which])
        out["ratios"].append(pair["nuts"] / pair["hmc"])
    out["ratio"] = statistics.median(out["ratios"])
    return out


def _cost_line(name, c, what):
    return (f"{name:3} NUTS/HMC ns per gradient: {c['ratio']:.2f} (median of {len(c['ratios'])} pairs, "
            f"{min(c['ratios']):.2f}-{max(c['ratios']):.2f}; {statistics.median(c['nuts']):.0f} ns vs "
            f"{statistics.median(c['hmc']):.0f} ns, {what})")


@pytest.mark.parametrize("name", ["T2", "T3"])
def test_nuts_cost_per_gradient(name):
    c = cost_per_gradient(name)
    print(f"\nload average {os.getloadavg()}\n" + _cost_line(name, c, "identity metric"))
    record(f"{name} cost per gradient", "NUTS", statistics.median(c["nuts"]), "ns, identity metric")
    record(f"{name} cost per gradient", "static HMC", statistics.median(c["nuts"]) / c["ratio"],
           "ns, identity metric (NUTS ns / median ratio)")


def fastmc_nuts_runs(name, reps=REPS, backend=BACKEND, n_warmup=1000, n_samples=1000, chains=4, seed=100):
    """fastmc's NUTS on workload ``name``, ``reps`` runs: one dict per run (module docstring)."""
    mix, _ = workload(name)
    x0 = np.zeros(mix.dim)
    metric = "dense" if name == "T3" else "diag"
    nuts(mix, x0, 5, n_warmup=5, metric=metric, chains=chains, seed=0, backend=backend, warn=False)  # compile
    # Untimed full-size runs for at least 0.3 s first: on this VM a core that has been idle runs at
    # about half speed for its first ~100 ms of work (traced per chain: the worker thread's chain
    # took 16 ms instead of 8 for the first 5-7 calls of a process). NumPyro's core is warmed by
    # its compilation (15-30 s).
    t_end = time.perf_counter() + 0.3
    while time.perf_counter() < t_end:
        nuts(mix, x0, n_samples, n_warmup=n_warmup, metric=metric, chains=chains, seed=seed - 1, backend=backend,
             warn=False)
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
    ap.add_argument("--cost-reps", type=int, default=COST_REPS, help="interleaved NUTS/HMC pairs for the cost ratio")
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
        cost = cost_per_gradient(name, be, a.cost_reps, 4 * ns)
        # full runs with adaptation
        r, tr = _timed(lambda: nuts(mix, x0, ns, n_warmup=nw, metric=metric, chains=4, seed=2, backend=be,
                                    warn=False))
        ha, tha = _timed(lambda: fastmc.hmc(mix, x0, ns, step_size=0.1, n_leapfrog=s["hmc_L"], n_warmup=nw,
                                            metric=metric, chains=4, seed=2, backend=be, warn=False))
        for label, res, t in ((f"NUTS {metric}", r, tr), (f"HMC L={s['hmc_L']} {metric} adapted", ha, tha)):
            e = _min_bulk_ess(res.draws)
            g = int(res.n_grad_evals.sum())
            rows.append((name, label, e, e / g * 1e3, e / t, g, t))
        # and with the metric and step size NUTS adapted (dense for T3), resumed by both samplers
        adapted = cost_per_gradient(name, be, a.cost_reps, ns, state=r.state)
        rows.append((name, "cost ratio", cost["ratio"], statistics.median(cost["hmc"]),
                     statistics.median(cost["nuts"]), cost, adapted))
    print(f"backend={be}, 4 chains, {nw} warm-up + {ns} draws; load average {os.getloadavg()}")
    print(f"{'wl':3} {'sampler':28} {'minESS':>8} {'ESS/1kgrad':>10} {'ESS/s':>9} {'grads':>9} {'wall s':>7}")
    for name, label, e, epg, eps_, g, t in rows:
        if label == "cost ratio":
            print(_cost_line(name, g, "identity metric"))
            print(_cost_line(name, t, f"adapted {'dense' if name == 'T3' else 'diag'} metric, resumed"))
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
