"""Chains and fits on executors (fastmc.executors): a Dask LocalCluster of two single-threaded
worker processes and a spawn ProcessPoolExecutor, each started once for the module (about 3 s
and 1 s), against the same calls run in this process, compared bit for bit.

Tests of user targets (``from_numba``) need the C++ backend (``cpp_only``): on the Numba backend
every worker process would compile a sampler for each target (minutes on 2 cores); the mixture
tests (kernels cached on disk) run on both.
"""
import concurrent.futures as cf
import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import fastmc
from fastmc.executors import task_seeds
from fastmc.workloads import workload

import executor_tasks as jobs
from helpers import std_normal_c

distributed = pytest.importorskip("distributed")

EIGHT = fastmc.models.eight_schools()
X0 = np.zeros(10)


def assert_same(a, b, path="result"):
    """Every field of two results equal, arrays bit for bit (NaN equal to NaN), wall time and
    layout aside; nested results and the adapted state field by field."""
    assert type(a) is type(b), path
    for f in dataclasses.fields(a):
        if f.name in ("wall_time", "layout", "_posterior"):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        where = f"{path}.{f.name}"
        if x is None or y is None:
            assert x is None and y is None, where
        elif isinstance(x, fastmc.SamplingResult):
            assert_same(x, y, where)
        elif dataclasses.is_dataclass(x):
            assert_same(x, y, where)
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), where
            for k in x:
                np.testing.assert_array_equal(np.asarray(x[k]), np.asarray(y[k]), err_msg=f"{where}[{k!r}]")
        else:
            xa, ya = np.asarray(x), np.asarray(y)
            assert xa.dtype == ya.dtype and xa.shape == ya.shape, where
            np.testing.assert_array_equal(xa, ya, err_msg=where)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def process_pool():
    # spawn, not fork: this process runs the Dask client's threads, and a fork copies their locks
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        yield ex


class Recording(cf.Executor):
    """An executor that records what is submitted and runs nothing."""

    def __init__(self):
        self.submitted = []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(fn)
        raise AssertionError("a task was sent")


# ------------------------------------------------------------------ chains, bit for bit
def test_assert_same_can_fail():
    mix = fastmc.default_mixture()
    a = fastmc.nuts(mix, [0.0, 0.0], 50, n_warmup=50, chains=2, seed=1, warn=False)
    b = fastmc.nuts(mix, [0.0, 0.0], 50, n_warmup=50, chains=2, seed=2, warn=False)
    with pytest.raises(AssertionError):
        assert_same(a, b)


@pytest.mark.parametrize("per_task", [None, 1, 3])
def test_nuts_on_dask_equals_local(client, cpp_only, per_task):
    kw = dict(n_warmup=300, chains=8, seed=7, warn=False)
    local = fastmc.nuts(EIGHT, X0, 200, **kw)
    ex = client.get_executor(pure=False)
    res = fastmc.nuts(EIGHT, X0, 200, executor=ex, chains_per_task=per_task, **kw)
    assert_same(local, res)
    assert res.layout is EIGHT.layout and res.posterior["tau"].shape == (8, 200)


def test_nuts_on_process_pool_equals_local(cpp_only, process_pool):
    kw = dict(n_warmup=300, chains=8, seed=8, metric="dense", warn=False)
    local = fastmc.nuts(EIGHT, X0, 200, **kw)
    assert_same(local, fastmc.nuts(EIGHT, X0, 200, executor=process_pool, **kw))


def test_per_chain_arguments_and_resume_split_by_chain(cpp_only, client):
    """(chains, d) start points, per-chain step sizes and metrics, and resume= are cut per task."""
    rng = np.random.default_rng(3)
    x0 = rng.normal(size=(5, 10)) * 0.1
    kw = dict(chains=5, seed=9, step_size=rng.uniform(0.1, 0.5, 5), inv_metric=rng.uniform(0.5, 2, (5, 10)),
              warn=False)
    ex = client.get_executor(pure=False)
    local = fastmc.nuts(EIGHT, x0, 100, n_warmup=100, **kw)
    res = fastmc.nuts(EIGHT, x0, 100, n_warmup=100, executor=ex, chains_per_task=2, **kw)
    assert_same(local, res)
    assert_same(fastmc.nuts(EIGHT, None, 100, resume=local.state, warn=False),
                fastmc.nuts(EIGHT, None, 100, resume=res.state, warn=False, executor=ex, chains_per_task=2))


def test_rwmh_and_hmc_on_dask_equal_local(client):
    mix, _ = workload("T2")
    x0 = np.zeros(mix.dim)
    ex = client.get_executor(pure=False)
    kw = dict(scale=0.5, chains=4, seed=11, n_warmup=200, adapt_cov=True)
    assert_same(fastmc.rwmh(mix, x0, 500, **kw), fastmc.rwmh(mix, x0, 500, executor=ex, chains_per_task=1, **kw))
    kw = dict(step_size=0.3, n_leapfrog=8, chains=4, seed=12)
    assert_same(fastmc.hmc(mix, x0, 300, **kw), fastmc.hmc(mix, x0, 300, executor=ex, **kw))
    kw = dict(step_size=0.3, integration_time=2.0, n_warmup=200, chains=3, seed=13, warn=False)
    assert_same(fastmc.hmc(mix, x0, 300, **kw), fastmc.hmc(mix, x0, 300, executor=ex, chains_per_task=2, **kw))


def test_factory_target_travels(cpp_only, client):
    t = fastmc.Target.from_factory(fastmc.models.eight_schools, check_gradient=False)
    kw = dict(n_warmup=100, chains=4, seed=5, warn=False)
    assert_same(fastmc.nuts(t, X0, 100, **kw),
                fastmc.nuts(t, X0, 100, executor=client.get_executor(pure=False), chains_per_task=2, **kw))


def test_target_is_built_once_per_worker(cpp_only, client):
    """The second run finds the target in each worker's cache (fastmc.targets._travel)."""
    ex = client.get_executor(pure=False)
    t = fastmc.Target.from_factory(fastmc.models.eight_schools, check_gradient=True)  # a recipe of its own
    for _ in range(2):
        fastmc.nuts(t, X0, 20, n_warmup=20, chains=4, chains_per_task=1, seed=1, warn=False, executor=ex)
    key = t._blob[0]
    counts = client.run(lambda: sum(k == key for k in __import__("fastmc.targets._travel")
                                    .targets._travel._CACHE))
    assert set(counts.values()) <= {0, 1} and sum(counts.values()) >= 1


def test_worker_killed_mid_task_gives_the_same_result(client):
    """A worker process killed while it samples: Dask's nanny restarts it, the scheduler runs
    the task again, and the draws are those of the local run."""
    mix, _ = workload("T3")
    kw = dict(n_warmup=0, step_size=0.035, metric="unit", max_treedepth=8, chains=4, seed=21, n_threads=1,
              warn=False)
    local = fastmc.nuts(mix, np.zeros(100), 1500, **kw)
    pids = client.run(os.getpid)
    killed = []

    def kill_first_busy_worker():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                time.sleep(0.2)  # inside the task's sampling
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_first_busy_worker)
    killer.start()
    res = fastmc.nuts(mix, np.zeros(100), 1500, executor=client.get_executor(pure=False), chains_per_task=2, **kw)
    killer.join()
    assert killed, "no worker was killed"
    assert_same(local, res)
    client.wait_for_workers(2, timeout=60)


# ------------------------------------------------------------------ errors before any task
def test_chains_per_task_needs_an_executor():
    with pytest.raises(ValueError, match="chains_per_task needs executor"):
        fastmc.rwmh(fastmc.default_mixture(), [0.0, 0.0], 10, scale=1.0, chains_per_task=1)


def test_target_that_cannot_travel_errors_before_any_task(client):
    t = fastmc.Target.from_cfunc(std_normal_c, 3)
    rec = Recording()
    with pytest.raises(TypeError, match="from_factory"):
        fastmc.nuts(t, np.zeros(3), 10, executor=rec)
    with pytest.raises(TypeError, match="from_factory"):
        fastmc.rwmh(t, np.zeros(3), 10, scale=1.0, executor=client.get_executor(pure=False))
    assert rec.submitted == []


@pytest.mark.parametrize("kw, err, match", [
    (dict(executor="dask"), TypeError, "executor must be a concurrent.futures.Executor"),
    (dict(chains_per_task=0), ValueError, "chains_per_task"),
    (dict(x0=np.zeros((3, 2))), ValueError, "x0"),
    (dict(step_size=-1.0), ValueError, "step_size"),
    (dict(store="run.zarr"), ValueError, "store"),
])
def test_bad_input_errors_before_any_task(kw, err, match):
    rec = Recording()
    call = dict(x0=np.zeros(2), chains=4, seed=1, executor=rec)
    call.update(kw)
    with pytest.raises(err, match=match):
        fastmc.nuts(fastmc.default_mixture(), call.pop("x0"), 10, **call)
    assert rec.submitted == []


def test_a_task_whose_target_raises_names_its_chains(cpp_only, process_pool):
    """The target's own exception, raised once, with the task's chains in a note and the task's
    draws so far on it; the other tasks are cancelled."""
    t = fastmc.Target.from_numba(jobs.normal_raising_far_out, 1)
    with pytest.raises(ValueError, match="too far out") as info:
        fastmc.nuts(t, [0.0], 5000, n_warmup=100, chains=4, seed=3, warn=False, executor=process_pool,
                    chains_per_task=2)
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "in the executor task that ran chains" in notes
    assert isinstance(info.value.partial_result, fastmc.SamplingResult)
    assert info.value.partial_result.n_chains == 2


# ------------------------------------------------------------------ many fits
def test_map_fits_reproducible_in_any_completion_order(cpp_only, client):
    tasks = list(range(20))
    seeds = task_seeds(2024, 20)
    assert len(set(seeds)) == 20 and task_seeds(2024, 5) == seeds[:5]  # depends on (seed, index) only
    local = fastmc.map_fits(jobs.fit, tasks, seed=2024, shared=EIGHT)
    assert [r[:2] for r in local] == list(zip(tasks, seeds))
    on_dask = fastmc.map_fits(jobs.fit, tasks, seed=2024, shared=EIGHT, executor=client.get_executor(pure=False))
    assert on_dask == local
    shuffled = [tasks[i] for i in np.random.default_rng(0).permutation(20)]
    again = fastmc.map_fits(jobs.fit, shuffled, seed=2024, shared=EIGHT, executor=client.get_executor(pure=False),
                            batch_size=3)
    # a task's result depends on its index and the seed: the same seeds in the new order
    assert [r[1] for r in again] == seeds


def test_map_fits_ctrl_c_keeps_finished_fits():
    def fit(task, seed):
        if task == 5:  # Ctrl-C while the executor runs the sixth task, which is still running after it
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(1.0)
        return task * 10

    with cf.ThreadPoolExecutor(1) as ex:
        with pytest.warns(RuntimeWarning, match="interrupted: 5 of 12"):
            out = fastmc.map_fits(fit, range(12), seed=1, executor=ex, batch_size=1)
    assert out[:5] == [0, 10, 20, 30, 40] and out[6:] == [None] * 6


def test_map_fits_reruns_tasks_of_a_broken_process_pool(tmp_path):
    marker = str(tmp_path / "died")
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        out = fastmc.map_fits(jobs.fit_dies_once, range(8), seed=5, executor=ex, shared=marker, batch_size=1)
    assert os.path.exists(marker)
    assert out == list(zip(range(8), task_seeds(5, 8)))


def test_map_fits_bad_input():
    with pytest.raises(TypeError, match="fit must be callable"):
        fastmc.map_fits(3, [1])
    with pytest.raises(TypeError, match="tasks must be an iterable"):
        fastmc.map_fits(jobs.fit, 5)
    with pytest.raises(TypeError, match="executor must be"):
        fastmc.map_fits(jobs.fit, [1], executor=object())
    with pytest.raises(ValueError, match="seed"):
        fastmc.map_fits(jobs.fit, [1], seed=-1)
    with pytest.raises(ValueError, match="batch_size"):
        fastmc.map_fits(jobs.fit, [1], batch_size=0)


def test_sbc_on_dask_equals_local(cpp_only, client):
    from fastmc.sbc import eight_schools_prior, eight_schools_simulate

    t = fastmc.models.eight_schools_noncentered()
    kw = dict(seed=3, n_warmup=200, n_draws=39)
    local = fastmc.sbc(t, eight_schools_prior, eight_schools_simulate, 20, **kw)
    remote = fastmc.sbc(t, eight_schools_prior, eight_schools_simulate, 20, executor=client.get_executor(pure=False),
                        **kw)
    for k in local.ranks:
        np.testing.assert_array_equal(local.ranks[k], remote.ranks[k])
    np.testing.assert_array_equal(local.divergent, remote.divergent)


@pytest.mark.slow
def test_pymc_target_travels(client):
    """A PyMC model travels as the model and is compiled once on each worker (tens of seconds of
    PyTensor and Numba compilation per worker: slow)."""
    pytest.importorskip("pymc")
    t = fastmc.Target.from_pymc(fastmc.models.eight_schools_pymc(centered=False))
    kw = dict(n_warmup=200, chains=4, seed=3, warn=False)
    local = fastmc.nuts(t, None, 200, **kw)  # start points: the model's, jittered from the seed
    res = fastmc.nuts(t, None, 200, executor=client.get_executor(pure=False), **kw)
    assert_same(local, res)
    assert set(res.posterior) == set(local.posterior)


def test_ctrl_c_cancels_and_keeps_finished_tasks(cpp_only):
    """Ctrl-C while the second of four one-chain tasks runs: KeyboardInterrupt, with the first
    task's result (equal to chain 0 of the local run) on .partial_results, the last two cancelled."""
    calls = [0]

    def logp(x):
        if threading.current_thread() is not threading.main_thread():
            calls[0] += 1
            if calls[0] == 80:  # inside the second task (the first makes 51 calls)
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C
                time.sleep(0.5)  # the second task is still running when the main thread cancels
        return -0.5 * float(x @ x)

    t = fastmc.Target.from_python(logp=logp, dim=2)
    kw = dict(scale=1.0, chains=4, seed=2)
    with cf.ThreadPoolExecutor(1) as ex:
        with pytest.raises(KeyboardInterrupt) as info:
            fastmc.rwmh(t, np.zeros(2), 50, executor=ex, chains_per_task=1, **kw)
    parts = info.value.partial_results
    assert list(parts) == [(0, 1)]
    np.testing.assert_array_equal(parts[(0, 1)].draws[0], fastmc.rwmh(t, np.zeros(2), 50, **kw).draws[0])
