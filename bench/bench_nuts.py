"""NUTS against static HMC on T2 and T3: cost per gradient evaluation, and minimum bulk ESS per
gradient and per second with 4 chains, 1000 warm-up + 1000 draws.

Run: ``python bench/bench_nuts.py [--backend cpp|numba] [--quick]`` (a table on stdout). JIT
compilation is excluded (one small warm-up call first). Static HMC runs the workload's fixed
settings (identity metric) for the per-gradient cost and, with adaptation (same metric as NUTS),
for ESS. NumPyro is compared only when ``import numpyro`` works.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastmc  # noqa: E402
from fastmc.nuts import nuts  # noqa: E402
from fastmc.workloads import workload  # noqa: E402


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


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cpp")
    ap.add_argument("--quick", action="store_true", help="200 + 200 iterations")
    ap.add_argument("--workloads", default="T2,T3")
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
    try:
        import numpyro  # noqa: F401
    except ImportError:
        print("numpyro not installed: comparison skipped")
    return rows


if __name__ == "__main__":
    main()
