"""Diagnostics benchmarks (pytest-benchmark), with ArviZ timed in the same run when importable.

Run: ``python -m pytest bench/bench_diagnostics.py --benchmark-columns=min,median,mean,rounds``.
Data: AR(1) chains with phi = 0.9 (tau about 19), a moderately hard case for the lag sums.
The normal-score table cache (scores of the N integer ranks, reused by later calls with the same N)
is cleared before every fastmc round, so its cost is included; ``test_ratio_vs_arviz`` also prints
the warm-cache time of the 4x1M case.
"""
import time

import numpy as np
import pytest
from scipy.signal import lfilter

from fastmc import diagnostics as D
from fastmc.diagnostics import _blocks
from fastmc._backends import available_backends

BACKENDS = [b for b in ("cpp", "numba") if b in available_backends()]


def _ar1(shape, phi=0.9, seed=0):
    e = np.random.default_rng(seed).standard_normal(shape)
    return lfilter([1.0], [1.0, -phi], e, axis=1)


@pytest.fixture(scope="module")
def big():
    return _ar1((4, 1_000_000))


@pytest.fixture(scope="module")
def wide():
    return _ar1((4, 10_000, 100))


def _cold(f):
    def run():
        _blocks._ztable.cache_clear()
        return f()
    return run


@pytest.mark.parametrize("backend", BACKENDS)
def test_bulk_4x1M(benchmark, big, backend):
    D.ess(big[:, :2000], backend=backend)  # JIT warm-up outside the timing
    benchmark.pedantic(_cold(lambda: D.ess(big, backend=backend)), rounds=5, iterations=1)


def test_bulk_4x1M_arviz(benchmark, big):
    az = pytest.importorskip("arviz", reason="arviz not installed: no comparison")
    benchmark.pedantic(lambda: az.ess(big, method="bulk"), rounds=2, iterations=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bulk_4x10k_x100(benchmark, wide, backend):
    D.ess(wide[:, :200], backend=backend)
    benchmark.pedantic(_cold(lambda: D.ess(wide, backend=backend)), rounds=5, iterations=1)


def test_bulk_4x10k_x100_arviz(benchmark, wide):
    az = pytest.importorskip("arviz", reason="arviz not installed: no comparison")
    benchmark.pedantic(lambda: az.ess({"x": wide}, method="bulk"), rounds=2, iterations=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_summary_4x10k_x100(benchmark, wide, backend):
    D.summary(wide[:, :200], backend=backend)
    benchmark.pedantic(_cold(lambda: D.summary(wide, backend=backend)), rounds=5, iterations=1)


def test_summary_4x10k_x100_arviz(benchmark, wide):
    az = pytest.importorskip("arviz", reason="arviz not installed: no comparison")
    benchmark.pedantic(lambda: az.summary({"x": wide}), rounds=1, iterations=1)


def _best(f, rounds):
    best = np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("backend", BACKENDS)
def test_ratio_vs_arviz(big, wide, backend, capsys):
    """Speed-up over ArviZ measured back to back (min of rounds), printed for the report."""
    az = pytest.importorskip("arviz", reason="arviz not installed: no comparison")
    D.ess(big[:, :2000], backend=backend)
    D.summary(wide[:, :200], backend=backend)
    t_az_big = _best(lambda: az.ess(big, method="bulk"), 2)
    rows = [
        ("bulk 4x1M", _best(_cold(lambda: D.ess(big, backend=backend)), 5), t_az_big),
        ("bulk 4x1M table warm", _best(lambda: D.ess(big, backend=backend), 5), t_az_big),
        ("bulk 4x10k x100", _best(_cold(lambda: D.ess(wide, backend=backend)), 5),
         _best(lambda: az.ess({"x": wide}, method="bulk"), 2)),
        ("summary 4x10k x100", _best(_cold(lambda: D.summary(wide, backend=backend)), 5),
         _best(lambda: az.summary({"x": wide}), 1)),
    ]
    with capsys.disabled():
        print(f"\n[{backend}] case                  fastmc s   arviz s   ratio")
        for name, ours, theirs in rows:
            print(f"[{backend}] {name:20s} {ours:9.3f} {theirs:9.3f} {theirs / ours:7.1f}x")
