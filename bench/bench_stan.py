"""Stan programs sampled by fastmc (``Target.from_stan``): the sampler's overhead per gradient on
top of the compiled model's own cost, and the compile times.

Run: ``python bench/bench_stan.py`` (a table on stdout) or ``pytest bench/bench_stan.py -s``;
needs the ``stan`` extra and a C++ compiler. ``FASTMC_BENCH_STAN_FRESH=1`` compiles into a new
temporary cache, so the first-build time is measured too (about 30 s of CPU per program).

Models: the three test programs of ``tests/stan/`` with the tests' data. Per model:

- compile: the first ``from_stan`` in the process (with ``FASTMC_BENCH_STAN_FRESH=1`` into an
  empty cache: stanc and the compiler run; otherwise usually a cache hit: the library is loaded
  and the data read), and a second one (cached);
- model alone: the mean time of one call of the library's C entry point (log density and
  gradient, Stan's reverse-mode autodiff), called in a tight ``@njit`` loop over 1000 posterior
  draws (so the branches and magnitudes are the sampler's);
- sampler: NUTS, 4 chains, 1000 warm-up + 1000 kept draws, one thread (so the two are timed
  on the same core), ``wall_time / n_grad_evals`` of the whole run, median of 3 seeds;
- overhead = sampler per gradient / model alone - 1 (goals: <= 15% for the smallest model,
  <= 5% for the largest).

nutpie is not measured: it reaches Stan models only through BridgeStan, which downloads its
sources at run time.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import fastmc  # noqa: E402
from fastmc.targets.user import _CPROTO  # noqa: E402



def _model_alone(t, points, reps):
    """Seconds per call of the target's C function over the rows of ``points`` (n, d)."""
    fn = _CPROTO(t._address)  # the ctypes prototype the Numba backend calls it through
    data = t._data

    @numba.njit(nogil=True)
    def loop(P, reps, data):
        g = np.empty(P.shape[1])
        lp = np.empty(1)
        acc = 0.0
        for _ in range(reps):
            for i in range(P.shape[0]):
                fn(P.shape[1], P[i].ctypes.data, g.ctypes.data, lp.ctypes.data, data.ctypes.data)
                acc += lp[0]
        return acc

    P = np.ascontiguousarray(points)
    loop(P[:2], 1, data)  # compile
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        loop(P, reps, data)
        best = min(best, (time.perf_counter() - t0) / (reps * P.shape[0]))
    return best


def run(fresh=None):
    from test_stan import DATA, HERE

    fresh = os.environ.get("FASTMC_BENCH_STAN_FRESH", "0") == "1" if fresh is None else fresh
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) if fresh else None
        for name in ("eight_schools_noncentered", "linear_regression", "hierarchical_logistic"):
            t0 = time.perf_counter()
            t = fastmc.Target.from_stan(HERE / f"{name}.stan", DATA[name], cache_dir=cache)
            first = (time.perf_counter() - t0, t.compile_info["compiled"])
            t0 = time.perf_counter()
            t = fastmc.Target.from_stan(HERE / f"{name}.stan", DATA[name], cache_dir=cache)
            cached = time.perf_counter() - t0
            per_grad = []
            for seed in (1, 2, 3):
                r = fastmc.nuts(t, None, 1000, n_warmup=1000, chains=4, seed=seed, n_threads=1, warn=False,
                                progress=False)
                n = int(r.n_grad_evals.sum())
                per_grad.append(r.wall_time / n)
            points = r.draws.reshape(-1, t.dim)[::4][:1000]
            alone = _model_alone(t, points, reps=max(1, int(0.2 / (per_grad[0] * len(points)))))
            sampler = statistics.median(per_grad)
            rows.append((name, t.dim, first, cached, alone, sampler, sampler / alone - 1))
    return rows


def _print(rows):
    print(f"{'model':28s} {'d':>3s} {'compile':>9s} {'cached':>8s} {'model us/grad':>14s} "
          f"{'NUTS us/grad':>13s} {'overhead':>9s}")
    for name, d, first, cached, alone, sampler, over in rows:
        fs = f"{first[0]:.1f} s" if first[1] else f"{first[0] * 1e3:.0f} ms*"
        print(f"{name:28s} {d:3d} {fs:>9s} {cached * 1e3:6.1f} ms {alone * 1e6:14.2f} {sampler * 1e6:13.2f} "
              f"{over * 100:8.1f}%")
    print("compile: the first from_stan in this process (* a cache hit: stanc and the compiler not run, the "
          "library loaded); cached: a second from_stan of the same program")


def test_bench_stan():
    import pytest

    pytest.importorskip("httpstan")
    _print(run())


if __name__ == "__main__":
    _print(run())
