"""Chains and many fits on a ``concurrent.futures.Executor``: Dask, process pools, MPI.

Two entry points:

- ``executor=`` on :func:`fastmc.rwmh`, :func:`fastmc.hmc` and :func:`fastmc.nuts`
  (:func:`sample_on`): the run's chains are split into tasks of consecutive chains, each task is
  an ordinary local call for its chains on a worker, and the results are joined into one
  :class:`~fastmc.SamplingResult` equal to the local run's bit for bit. That holds because a
  chain's randomness depends only on (seed, chain index): a task seeds its chains ``a .. b - 1``
  exactly as the whole run seeds them, and starts them from the same start points, which are
  drawn here before any task is sent.
- :func:`map_fits`: one user function per task, each with its own seed spawned from one
  :class:`numpy.random.SeedSequence`, results streamed as they complete.

Targets travel as recipes and are rebuilt once per worker process (:mod:`fastmc.targets._travel`).

Any executor works: Dask's ``distributed.Client(...).get_executor(pure=False)`` (the
``distributed`` extra; a worker that dies is replaced and its task run again by Dask), a
``ProcessPoolExecutor``, ``mpi4py.futures.MPIPoolExecutor``, loky. Each task runs its chains on
``min(chains in the task, CPU count)`` threads unless ``n_threads`` says otherwise: with Dask,
start workers with ``threads_per_worker=1`` and choose ``chains_per_task`` (or ``n_threads``) to
match the cores each worker owns, or reserve them with Dask resources.
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import time
import warnings
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from ._progress import wanted
from ._validation import as_int, as_seed
from .adaptation import AdaptedState, check_resume, warn_after_sampling
from .results import SamplingResult
from .targets._base import default_start
from .targets._travel import recipe_blob

__all__ = ["sample_on", "map_fits"]

_DEFAULT_CHAINS = {"nuts": 4, "hmc": 1, "rwmh": 1}


# ------------------------------------------------------------------------------ helpers
def _check_executor(executor):
    if not isinstance(executor, cf.Executor):
        raise TypeError("executor must be a concurrent.futures.Executor (e.g. distributed.Client(...)"
                        f".get_executor(pure=False) or a ProcessPoolExecutor), got {type(executor).__name__}")
    return executor


def _n_workers(executor) -> int | None:
    """Worker slots of an executor, when it says: a process or thread pool's max_workers, a Dask
    client's total threads; None otherwise."""
    n = getattr(executor, "_max_workers", None)
    if isinstance(n, int) and n > 0:
        return n
    client = getattr(executor, "_client", None)  # distributed.cfexecutor.ClientExecutor
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # pragma: no cover - a client that cannot answer
            return None
    return None


def _check_travels(target, executor):
    """A TypeError now, before any task is sent, for a target that cannot be pickled. A thread
    pool shares this process's objects and needs no recipe."""
    if isinstance(executor, cf.ThreadPoolExecutor):
        return
    recipe_blob(target)


def _sampler(name):
    from .nuts import nuts
    from .samplers import hmc, rwmh

    return {"nuts": nuts, "hmc": hmc, "rwmh": rwmh}[name]


def _run_group(name, target, call):
    """On a worker: the chains of one task, as an ordinary local call. The layout is left out of
    what travels back (a PyMC layout holds compiled functions); the caller sets its own."""
    try:
        res = _sampler(name)(target, **call)
    except Exception as exc:
        part = getattr(exc, "partial_result", None)
        if isinstance(part, SamplingResult):
            part._set_layout(None)
        raise
    res._set_layout(None)
    return res


def _wait_all(futures, on_done=None):
    """Wait for every future, calling ``on_done(future)`` as each completes; the first exception
    cancels the rest and is raised."""
    pending = set(futures)
    while pending:
        done, pending = cf.wait(pending, timeout=0.2, return_when=cf.FIRST_COMPLETED)
        for f in done:
            if f.exception() is not None:
                for g in pending:
                    g.cancel()
                raise f.exception()
            if on_done is not None:
                on_done(f)


def _bar(total, unit, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, dynamic_ncols=True, leave=False)


# ------------------------------------------------------------------------------ chains on an executor
def _slice_call(call, lo, hi, chains, metric):
    """The call for chains [lo, hi): the per-chain arguments cut to them."""
    c = dict(call)
    x0 = c.get("x0")
    if x0 is not None and np.ndim(x0) == 2:
        c["x0"] = np.asarray(x0, dtype=np.float64)[lo:hi]
    step = c.get("step_size")
    if step is not None and np.ndim(step) == 1:
        c["step_size"] = np.asarray(step, dtype=np.float64)[lo:hi]
    A = c.get("inv_metric")
    if A is not None and np.ndim(A) == (3 if metric == "dense" else 2):
        c["inv_metric"] = np.asarray(A, dtype=np.float64)[lo:hi]
    r = c.get("resume")
    if r is not None:
        c["resume"] = AdaptedState(r.metric, r.step_size[lo:hi], r.inv_metric[lo:hi], r.position[lo:hi],
                                   r.rng_state[lo:hi], r.seed, r.step_size_jitter, r.temperature)
    c["chains"] = hi - lo
    c["_chain_offset"] = lo
    return c


def _cat(arrays):
    """Arrays of the tasks joined along the chain axis; a task whose chains stopped early returned
    shorter arrays, padded here as a local run pads its shorter chains (NaN, or 0/False)."""
    if arrays[0].ndim < 2 or len({a.shape[1:] for a in arrays}) == 1:
        return np.concatenate(arrays, axis=0)
    n = max(a.shape[1] for a in arrays)
    out = []
    for a in arrays:
        pad = np.full((a.shape[0], n - a.shape[1]) + a.shape[2:], np.nan if a.dtype.kind == "f" else 0, a.dtype)
        out.append(np.concatenate([a, pad], axis=1))
    return np.concatenate(out, axis=0)


def _merge(parts, settings, wall):
    """One SamplingResult from the tasks' results, in chain order."""
    r0 = parts[0]

    def cat(name):
        vals = [getattr(p, name) for p in parts]
        return None if vals[0] is None else _cat(vals)

    res = SamplingResult(r0.sampler, cat("draws"), cat("log_density"), cat("accepted"), cat("n_nonfinite"), wall,
                         r0.seed, r0.backend, settings, accept_prob=cat("accept_prob"), energy=cat("energy"),
                         divergent=cat("divergent"), n_grad_evals=cat("n_grad_evals"), n_done=cat("n_done"),
                         sample_stats={k: _cat([p.sample_stats[k] for p in parts]) for k in r0.sample_stats},
                         adapted_scale=cat("adapted_scale"), interrupted=any(p.interrupted for p in parts))
    if r0.warmup is not None:
        res.warmup = _merge([p.warmup for p in parts], settings, wall)
    if r0.state is not None:
        s = [p.state for p in parts]
        res.state = AdaptedState(s[0].metric, *(np.concatenate([getattr(x, f) for x in s]) for f in
                                                ("step_size", "inv_metric", "position", "rng_state")),
                                 s[0].seed, s[0].step_size_jitter, s[0].temperature)
    return res


def sample_on(sampler: str, call: dict) -> SamplingResult:
    """Run ``sampler`` (``"rwmh"``, ``"hmc"`` or ``"nuts"``) with the arguments ``call`` of a
    sampler call that gave ``executor=``, its chains in tasks on the executor.

    Everything is checked here before any task is sent: the executor, ``chains_per_task``,
    whether the target can travel (a TypeError for a C address or ``@cfunc``, suggesting
    :meth:`fastmc.Target.from_factory`), and every other argument, by the sampler's own
    validation run here for all chains (so errors name the chain as a local run would). The seed
    (drawn here when None) and the start points (a PyMC target's jittered initial points) are
    fixed here too.

    Parameters
    ----------
    sampler : {"rwmh", "hmc", "nuts"}
    call : dict
        The sampler's parameters by name, ``executor`` and ``chains_per_task`` among them.

    Returns
    -------
    SamplingResult
        Equal to the local run's (draws, statistics, warm-up, adapted state, ``n_done``) bit for
        bit; ``wall_time`` is the seconds from the first task sent to the last result, and
        ``settings["n_threads"]`` the local run's default, as the draws never depend on it.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C while waiting: tasks not yet finished are cancelled, and the results of the
        finished ones are on the exception as ``.partial_results``, ``{(first chain, end chain):
        SamplingResult}`` (a task already running on a worker may run to its end there).
    """
    from . import _runtime as runtime

    call = dict(call)
    call.update(call.pop("adapt_kwargs", {}))  # hmc's **adapt_kwargs
    executor = _check_executor(call.pop("executor"))
    per_task = call.pop("chains_per_task")
    call.pop("_chain_offset")
    call.pop("_dry")
    target = runtime.check_target(call.pop("target"))
    if call.get("store") is not None:
        raise ValueError("store cannot be combined with executor: each task would write its own store "
                         "(store the merged result, or run without executor)")
    _check_travels(target, executor)
    resume = call.get("resume")
    if resume is not None:
        call["resume"] = resume = check_resume(resume)
    chains = call.get("chains")
    if chains is None:
        chains = resume.n_chains if resume is not None else _DEFAULT_CHAINS[sampler]
    chains = as_int("chains", chains, minimum=1)
    if per_task is None:
        workers = _n_workers(executor)
        per_task = 1 if workers is None else math.ceil(chains / workers)
    per_task = as_int("chains_per_task", per_task, minimum=1)
    # the seed and the start points, fixed once for every task
    x0, seed = default_start(target, call.get("x0"), chains, call.get("seed"), resume)
    if resume is None:
        seed = as_seed(seed)
    call.update(x0=x0, seed=seed, chains=chains)
    warn, progress = call.get("warn", True), call.pop("progress", None)
    sample = _sampler(sampler)
    sample(target, **dict(call, warn=False, progress=False, _dry=True))  # every check, no sampling
    metric = call.get("metric") or (resume.metric if resume is not None else "diag")
    groups = [(lo, min(lo + per_task, chains)) for lo in range(0, chains, per_task)]
    calls = [_slice_call(dict(call, warn=False, progress=False), lo, hi, chains, metric) for lo, hi in groups]

    t0 = time.perf_counter()
    futures, results, bar = {}, {}, None

    def done(f):
        g = futures[f]
        results[g] = f.result()
        if bar is not None:
            bar.update(g[1] - g[0])

    try:  # from the first submit: a Ctrl-C while later tasks are sent still cancels the sent ones
        for c, g in zip(calls, groups):
            futures[executor.submit(_run_group, sampler, target, c)] = g
        bar = _bar(chains, "chains", wanted(progress))
        _wait_all(futures, done)
    except KeyboardInterrupt as exc:
        for f in futures:
            f.cancel()
        for f, g in futures.items():  # finished while this thread was waiting
            if g not in results and f.done() and not f.cancelled() and f.exception() is None:
                results[g] = f.result()
        exc.partial_results = dict(sorted(results.items()))
        raise
    except Exception as exc:
        g = next((futures[f] for f in futures if f.done() and not f.cancelled() and f.exception() is exc), None)
        if g is not None:
            exc.add_note(f"fastmc: in the executor task that ran chains {g[0]}..{g[1] - 1} (chain numbers above "
                         f"count from {g[0]})")
        raise
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    parts = [results[g] for g in groups]
    settings = dict(parts[0].settings, chains=chains)
    if "n_threads" in settings:
        settings["n_threads"] = runtime.n_threads(call.get("n_threads"), chains)
    res = _merge(parts, settings, wall)
    res._set_layout(target.layout)
    _warn(sampler, res, call, warn)
    return res


def _warn(sampler, res, call, warn):
    """The sampler's post-run warnings, on the joined chains (R-hat and ESS need all of them)."""
    if not warn or res.interrupted:
        return
    if sampler == "rwmh":
        from .samplers import _warn_stuck_chains

        _warn_stuck_chains(res.accepted, res.n_done)
        return
    n_warmup = res.settings.get("n_warmup", 0)
    if sampler == "hmc":
        jitter = call.get("step_size_jitter")
        if n_warmup == 0 and call.get("resume") is None and jitter in (None, 0.0):
            return  # a plain static HMC run warns of nothing, as locally
    if np.all(res.n_done == res.settings["n_samples"]):
        warn_after_sampling(res, max_treedepth=res.settings.get("max_treedepth") if sampler == "nuts" else None,
                            stacklevel=4)


# ------------------------------------------------------------------------------ many fits
def _call_fit(fit, task, seed, shared, with_shared):
    return fit(task, seed, shared) if with_shared else fit(task, seed)


def _call_batch(fit, batch, shared, with_shared):
    """Several fits in one executor task: [(task, seed), ...] -> their results."""
    return [_call_fit(fit, task, seed, shared, with_shared) for task, seed in batch]


def _scatter(executor, shared):
    """``shared`` sent once: to every Dask worker (``client.scatter(broadcast=True)``; the tasks
    then carry a reference), or as is for other executors (pickled with each task)."""
    client = getattr(executor, "_client", None)
    if client is not None and hasattr(client, "scatter"):
        return client.scatter(shared, broadcast=True, hash=False)
    return shared


def _harvest(futures, finished, keep):
    """Keep the results of the batches that are done and not yet kept."""
    for f, batch in futures.items():
        if f.done() and not f.cancelled() and f.exception() is None:
            for i, value in zip(batch, f.result()):
                if i not in finished:
                    keep(i, value)


def task_seeds(seed, n: int) -> list[int]:
    """The seeds :func:`map_fits` gives its tasks: task i gets the first 64-bit word of child i of
    ``SeedSequence(seed)``, which depends on (seed, i) only (not on the number of tasks).

    Parameters
    ----------
    seed : int or None
    n : int

    Returns
    -------
    list of int, length n, each in [0, 2**64)
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [int(c.generate_state(1, np.uint64)[0]) for c in ss.spawn(n)]


def map_fits(fit, tasks, *, executor=None, seed=None, progress=None, shared=None, batch_size=None):
    """Run ``fit(task, seed)`` for every task, on an executor, each with its own seed.

    Parameters
    ----------
    fit : callable
        ``fit(task, seed) -> result``, or ``fit(task, seed, shared)`` when ``shared`` is given;
        ``seed`` is an int in [0, 2**64) to pass to the samplers. It runs on the workers, so it
        must pickle (a function of an importable module, or, with Dask, any function). Return a
        reduction (means, ranks, a path to a stored run), not megabytes of draws per task.
    tasks : iterable
        The tasks (each must pickle).
    executor : concurrent.futures.Executor, optional
        Where to run: Dask's ``client.get_executor(pure=False)`` (a worker that dies is replaced
        and its tasks rerun by Dask; ``get_executor(retries=n)`` also reruns tasks that raised),
        a ``ProcessPoolExecutor`` (after a worker died, the unfinished tasks run once more on a new
        pool of the same size), ... None runs the tasks here, one after another.
    seed : int, numpy.random.SeedSequence or None
        Task i's seed is ``task_seeds(seed, n)[i]``: a result depends only on its task, its
        index and ``seed``, never on where or in which order the tasks ran. None draws fresh
        entropy (then the results are not reproducible).
    progress : bool or None
        One progress bar over the tasks (None: when a person is watching, as the samplers).
    shared : object, optional
        A large input every task reads (data, a target), sent once: scattered to every Dask
        worker with ``client.scatter(..., broadcast=True)`` and passed to ``fit`` as its third
        argument; other executors pickle it with each task.
    batch_size : int, optional
        Fits per executor task, run one after another there: a Dask task costs about a
        millisecond of scheduling and a round trip, which a fit of a few milliseconds should not
        pay alone. Default: the tasks in about eight batches per worker (1 without an executor);
        never changes the results.

    Returns
    -------
    list
        The results in task order. After Ctrl-C: the finished ones, ``None`` for the others
        (cancelled), with a RuntimeWarning saying how many finished.
    """
    if not callable(fit):
        raise TypeError(f"fit must be callable as fit(task, seed), got {type(fit).__name__}")
    if isinstance(tasks, (str, bytes)):
        raise TypeError("tasks must be an iterable of tasks, got a string")
    try:
        tasks = list(tasks)
    except TypeError:
        raise TypeError(f"tasks must be an iterable of tasks, got {type(tasks).__name__}") from None
    if seed is not None and not isinstance(seed, np.random.SeedSequence):
        seed = as_seed(seed)
    if executor is not None:
        _check_executor(executor)
    n = len(tasks)
    seeds = task_seeds(seed, n)
    if batch_size is None:
        workers = 1 if executor is None else (_n_workers(executor) or 1)
        batch_size = 1 if executor is None else max(1, n // (8 * workers))
    batch_size = as_int("batch_size", batch_size, minimum=1)
    with_shared = shared is not None
    results = [None] * n
    finished = set()  # indices of the tasks whose results are in
    bar = _bar(n, "fits", wanted(progress))

    def keep(i, value):
        results[i] = value
        finished.add(i)
        if bar is not None:
            bar.update()

    futures = {}
    try:
        if executor is None:
            for i, (task, s) in enumerate(zip(tasks, seeds)):
                keep(i, _call_fit(fit, task, s, shared, with_shared))
            return results
        ref = _scatter(executor, shared) if with_shared else None
        pool, replacement = executor, None
        try:
            while True:
                todo = [i for i in range(n) if i not in finished]
                batches = [todo[k:k + batch_size] for k in range(0, len(todo), batch_size)]
                futures = {}
                for b in batches:  # one by one: a Ctrl-C between two submits cancels those sent
                    futures[pool.submit(_call_batch, fit, [(tasks[i], seeds[i]) for i in b], ref, with_shared)] = b
                try:
                    for f in cf.as_completed(futures):
                        for i, value in zip(futures[f], f.result()):
                            keep(i, value)
                    return results
                except BrokenProcessPool:
                    # a worker process died (killed, out of memory) and took its pool with it: the
                    # unfinished tasks run once more, on a new pool like it
                    if replacement is not None or not isinstance(executor, cf.ProcessPoolExecutor):
                        raise
                    _harvest(futures, finished, keep)  # results that arrived before the pool broke
                    pool = replacement = cf.ProcessPoolExecutor(executor._max_workers,
                                                                mp_context=executor._mp_context)
        finally:
            if replacement is not None:
                replacement.shutdown(wait=False, cancel_futures=True)
    except KeyboardInterrupt:
        for f in futures:
            f.cancel()
        _harvest(futures, finished, keep)  # finished while this thread waited for another one
        warnings.warn(f"map_fits was interrupted: {len(finished)} of {n} fits finished; the others are None",
                      RuntimeWarning, stacklevel=2)
        return results
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
