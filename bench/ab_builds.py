"""A/B of two builds of fastmc in one run: the same sampler calls timed alternately in two worker
processes, one importing each source tree (each built in place: ``python setup.py build_ext
--inplace``). The record the redesign issue asks for ("no workload more than 3% slower than the
commit before it, built beside it").

Run: ``python bench/ab_builds.py A_TREE B_TREE [--rounds 9] [--backends cpp,numba]``. Each round
times every workload once in each tree, the order of the two alternating by round; the table shows
each side's best round (least disturbed by other load) and B / A of those times (below 1: B is
faster). Compilation and first-call costs happen before the first timed round.

Workloads (../shared/workloads T1-T3): RWMH and static HMC with the workload's fixed settings, one
chain (bench_samplers.py); static HMC with 2 chains on 2 threads (T2); NUTS and static HMC with the
identity metric, 2 chains on one thread (bench_nuts.py's cost per gradient); NUTS and static HMC
with Stan's warm-up, 4 chains, 1000 + 1000 (T2 diag, T3 dense).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
import fastmc
from fastmc.workloads import workload

def job(name, backend):
    kind, t = name.split()
    mix, s = workload(t)
    x0 = np.zeros(mix.dim)
    kw = dict(seed=1, backend=backend)
    if kind == "rwmh":
        return lambda: fastmc.rwmh(mix, x0, s["rwmh_iters"], scale=s["rwmh_sigma"], **kw)
    if kind == "hmc":
        return lambda: fastmc.hmc(mix, x0, s["hmc_iters"], step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], **kw)
    if kind == "hmc2x2":
        return lambda: fastmc.hmc(mix, x0, s["hmc_iters"], step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], chains=2,
                                  n_threads=2, **kw)
    if kind == "nuts-unit":
        return lambda: fastmc.nuts(mix, x0, 2000, n_warmup=0, metric="unit", step_size=s["hmc_eps"], chains=2,
                                   n_threads=1, warn=False, **kw)
    if kind == "hmc-unit":
        return lambda: fastmc.hmc(mix, x0, 2000, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], chains=2,
                                  n_threads=1, **kw)
    metric = "dense" if t == "T3" else "diag"
    if kind == "nuts-adapt":
        return lambda: fastmc.nuts(mix, x0, 1000, n_warmup=1000, metric=metric, chains=4, warn=False, **kw)
    if kind == "hmc-adapt":
        return lambda: fastmc.hmc(mix, x0, 1000, step_size=0.1, n_leapfrog=s["hmc_L"], n_warmup=1000, metric=metric,
                                  chains=4, warn=False, **kw)
    raise ValueError(name)

jobs = {}
for line in sys.stdin:
    name, backend = line.strip().rsplit(" ", 1)
    key = (name, backend)
    if key not in jobs:
        jobs[key] = job(name, backend)
        jobs[key]()  # compile and warm up outside the timing
    t0 = time.perf_counter()
    jobs[key]()
    print(json.dumps(time.perf_counter() - t0), flush=True)
"""

WORKLOADS = ["rwmh T1", "rwmh T2", "rwmh T3", "hmc T1", "hmc T2", "hmc T3", "hmc2x2 T2", "nuts-unit T2",
             "hmc-unit T2", "nuts-unit T3", "hmc-unit T3", "nuts-adapt T2", "hmc-adapt T2", "nuts-adapt T3",
             "hmc-adapt T3"]


def start(tree):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=os.path.abspath(os.path.join(tree, "bench")))


def timed(proc, name, backend):
    proc.stdin.write(f"{name} {backend}\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--backends", default="cpp,numba")
    ap.add_argument("--only", default="", help="comma-separated workload names (default: all)")
    args = ap.parse_args(argv)
    names = [w for w in WORKLOADS if not args.only or w in args.only.split(",")]
    keys = [(w, b) for b in args.backends.split(",") for w in names
            if not (b == "numba" and w.split()[0] in ("hmc2x2",))]
    procs = {"A": start(args.a), "B": start(args.b)}
    best = {(k, side): float("inf") for k in keys for side in procs}
    for r in range(args.rounds):
        order = ("A", "B") if r % 2 == 0 else ("B", "A")
        for k in keys:
            for side in order:
                best[(k, side)] = min(best[(k, side)], timed(procs[side], *k))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    for p in procs.values():
        p.stdin.close()
        p.wait()
    print(f"A = {args.a}\nB = {args.b}\n{'workload':16s} {'backend':8s} {'A best s':>10s} {'B best s':>10s} {'B / A':>7s}")
    for k in keys:
        a, b = best[(k, "A")], best[(k, "B")]
        print(f"{k[0]:16s} {k[1]:8s} {a:10.4f} {b:10.4f} {b / a:7.3f}")


if __name__ == "__main__":
    main()
