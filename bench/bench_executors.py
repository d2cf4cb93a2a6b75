"""Chains and fits on a Dask LocalCluster (fastmc.executors, issue #20) against the same work in
this process.

- The overhead of a 4-chain T2 NUTS run sent to a LocalCluster of 2 single-threaded worker
  processes (2 tasks of 2 chains) against the in-process run (4 chains on the thread pool).
- SBC throughput: 200 eight-schools (non-centred) fits on 2 single-threaded workers against 1
  (goal >= 1.8x on a 2-core machine), the per-task overhead (submit to result of a task that does
  nothing) and the first task's time on a fresh worker (unpickling the target: its compilation).

Run: ``pytest bench/bench_executors.py`` (needs the distributed extra). Clusters start outside
the timed rounds; every worker has built the target before a timed round.
"""
import time

import numpy as np
import pytest

import fastmc
from conftest import goal, record
from fastmc.sbc import eight_schools_prior, eight_schools_simulate
from fastmc.workloads import workload

distributed = pytest.importorskip("distributed")

ROUNDS = 3
N_SBC = 200
goal("SBC fits/s: 2 workers / 1 worker", ("sbc eight schools", "2 workers"), ("sbc eight schools", "1 worker"), 1.8)


def _cluster(n):
    cluster = distributed.LocalCluster(n_workers=n, processes=True, threads_per_worker=1, dashboard_address=None)
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def two_workers():
    cluster, client = _cluster(2)
    yield client
    client.close()
    cluster.close()


def _noop():
    return None


def test_nuts_t2_4_chains_overhead(benchmark, two_workers):
    mix, _ = workload("T2")
    x0 = np.zeros(mix.dim)
    kw = dict(n_warmup=1000, chains=4, seed=1, warn=False, progress=False)
    ex = two_workers.get_executor(pure=False)
    fastmc.nuts(mix, x0, 1000, executor=ex, chains_per_task=2, **kw)  # both workers build the target
    local = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fastmc.nuts(mix, x0, 1000, **kw)
        local.append(time.perf_counter() - t0)
    benchmark.group = "T2 nuts 4 chains"
    benchmark.pedantic(lambda: fastmc.nuts(mix, x0, 1000, executor=ex, chains_per_task=2, **kw), rounds=ROUNDS,
                       iterations=1, warmup_rounds=0)
    remote = benchmark.stats.stats.min
    record("T2 nuts 4 chains", "in process", min(local), "s")
    record("T2 nuts 4 chains", "LocalCluster 2x1", remote, "s")
    record("T2 nuts 4 chains", "overhead", remote - min(local), "s")


def test_per_task_overhead(two_workers):
    ex = two_workers.get_executor(pure=False)
    ex.submit(_noop).result()
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        ex.submit(_noop).result()
        times.append(time.perf_counter() - t0)
    record("executor", "task round trip (median)", float(np.median(times)) * 1e3, "ms")


def _sbc(client, n):
    t = fastmc.models.eight_schools_noncentered()
    ex = None if client is None else client.get_executor(pure=False)
    return fastmc.sbc(t, eight_schools_prior, eight_schools_simulate, n, seed=1, n_warmup=500, executor=ex,
                      progress=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_sbc_throughput(benchmark, workers):
    cluster, client = _cluster(workers)
    try:
        t0 = time.perf_counter()
        _sbc(client, workers)  # one fit per fresh worker: the target's first build there
        record("sbc eight schools", f"first fit per fresh worker ({workers})", time.perf_counter() - t0, "s")
        benchmark.group = "sbc eight schools"
        benchmark.pedantic(lambda: _sbc(client, N_SBC), rounds=ROUNDS, iterations=1, warmup_rounds=0)
        record("sbc eight schools", f"{workers} worker" + ("s" if workers > 1 else ""),
               N_SBC / benchmark.stats.stats.min, "fits/s")
    finally:
        client.close()
        cluster.close()


def test_sbc_in_process(benchmark):
    _sbc(None, 2)
    benchmark.group = "sbc eight schools"
    benchmark.pedantic(lambda: _sbc(None, N_SBC), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    record("sbc eight schools", "in process", N_SBC / benchmark.stats.stats.min, "fits/s")
