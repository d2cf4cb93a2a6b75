"""Sampler throughput on the workloads T1-T3 (../shared/workloads), single chain, against the
hand-written Numba loop ("numba" in PEERS.md, bench/baselines.py) timed in the same run.

Run: ``pytest bench/bench_samplers.py``. Rates are per best round (least disturbed by other load).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import baselines
import fastmc
from conftest import goal, record
from fastmc.workloads import workload

BACKENDS = [b for b in ("cpp", "numba") if b in fastmc.available_backends()]
ROUNDS = 5

for name, g in (("T1", 2.5), ("T2", 1.0), ("T3", 1.0)):
    goal(f"{name} RWMH cpp / numba-baseline it/s", (f"{name} rwmh", "fastmc-cpp"), (f"{name} rwmh", "baseline"), g)
    goal(f"{name} RWMH numba backend / baseline", (f"{name} rwmh", "fastmc-numba"), (f"{name} rwmh", "baseline"), 1.0)
for name, g in (("T1", 2.0), ("T2", 3.0), ("T3", 2.5)):
    goal(f"{name} HMC cpp / numba-baseline grad/s", (f"{name} hmc", "fastmc-cpp"), (f"{name} hmc", "baseline"), g)
    goal(f"{name} HMC numba backend / baseline", (f"{name} hmc", "fastmc-numba"), (f"{name} hmc", "baseline"), 1.0)
goal("T2 HMC cpp: 2 chains on 2 cores / 1 chain", ("T2 hmc", "cpp 2 chains 2 threads"), ("T2 hmc", "fastmc-cpp"), 1.8)


def _time(benchmark, fn):
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    return benchmark.stats.stats.min


@pytest.mark.parametrize("name", ["T1", "T2", "T3"])
@pytest.mark.parametrize("variant", ["baseline"] + [f"fastmc-{b}" for b in BACKENDS])
def test_rwmh_throughput(benchmark, name, variant):
    mix, s = workload(name)
    n, sigma, x0 = s["rwmh_iters"], s["rwmh_sigma"], np.zeros(mix.dim)
    benchmark.group = f"{name} rwmh"
    if variant == "baseline":
        t = _time(benchmark, lambda: baselines.rwmh_baseline(mix._kmeans, mix._prec, mix._logc, x0, n, sigma, 1))
    else:
        be = variant.split("-")[1]
        t = _time(benchmark, lambda: fastmc.rwmh(mix, x0, n, scale=sigma, seed=1, backend=be))
    record(f"{name} rwmh", variant, n / t, "iterations/s")


@pytest.mark.parametrize("name", ["T1", "T2", "T3"])
@pytest.mark.parametrize("variant", ["baseline"] + [f"fastmc-{b}" for b in BACKENDS])
def test_hmc_throughput(benchmark, name, variant):
    mix, s = workload(name)
    n, eps, L, x0 = s["hmc_iters"], s["hmc_eps"], s["hmc_L"], np.zeros(mix.dim)
    benchmark.group = f"{name} hmc"
    if variant == "baseline":
        t = _time(benchmark, lambda: baselines.hmc_baseline(mix._kmeans, mix._prec, mix._logc, x0, n, eps, L, 1))
    else:
        be = variant.split("-")[1]
        t = _time(benchmark, lambda: fastmc.hmc(mix, x0, n, step_size=eps, n_leapfrog=L, seed=1, backend=be))
    record(f"{name} hmc", variant, n * L / t, "gradients/s")


@pytest.mark.skipif("cpp" not in BACKENDS, reason="needs the C++ extension")
def test_two_chains_two_cores(benchmark):
    mix, s = workload("T2")
    n, eps, L, x0 = s["hmc_iters"], s["hmc_eps"], s["hmc_L"], np.zeros(mix.dim)
    benchmark.group = "T2 hmc"
    t = _time(benchmark, lambda: fastmc.hmc(mix, x0, n, step_size=eps, n_leapfrog=L, chains=2, n_threads=2,
                                            seed=1, backend="cpp"))
    record("T2 hmc", "cpp 2 chains 2 threads", 2 * n * L / t, "gradients/s")


_MEMORY_JOB = r"""
import json, sys
import fastmc


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024


mix = fastmc.default_mixture()
fastmc.rwmh(mix, [0.0, 0.0], 10, scale=1.683, chains=4, backend=sys.argv[1])  # compile, warm up
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
before = status("VmRSS")
r = fastmc.rwmh(mix, [0.0, 0.0], 1_000_000, scale=1.683, chains=4, seed=1, backend=sys.argv[1])
peak = status("VmHWM")
out = r.draws.nbytes + r.log_density.nbytes + r.accepted.nbytes + r.n_nonfinite.nbytes
print(json.dumps(dict(growth=peak - before, output=out)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_4_chains_1e6_draws(backend):
    """Peak resident memory growth of a 4 x 1e6 T1 run stays below its output + 100 MB."""
    res = subprocess.run([sys.executable, "-c", _MEMORY_JOB, backend], capture_output=True, text=True, check=True,
                         env=dict(os.environ))
    m = json.loads(res.stdout.strip().splitlines()[-1])
    record("T1 rwmh memory 4x1e6", f"{backend} growth MB", m["growth"] / 1e6, "MB")
    record("T1 rwmh memory 4x1e6", f"{backend} output MB", m["output"] / 1e6, "MB")
    assert m["growth"] < m["output"] + 100e6, m
