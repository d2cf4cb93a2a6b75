"""The sampling runtime every sampler runs through: target and start-point checks, thread counts,
outputs allocated once (the records of :mod:`fastmc._schema`), one call to the backend's chain
driver, and the result's completion (rows after a stop cleared, a target's exception re-raised
with the draws so far).

Samplers (:mod:`fastmc.samplers`, :mod:`fastmc.nuts`) import this module and never each other.
"""
from __future__ import annotations

import concurrent.futures
import functools
import os
import time
import warnings

import numpy as np

from . import _backends
from ._progress import REFRESH, Display, wanted
from ._schema import CHAIN_INFO, CHAIN_INTERRUPTED, CHAIN_TARGET_STOP
from .targets.numba_glue import CHECK_GRAD, CHECK_LOGP, CHECK_OUT_OF_BOUNDS, RAISED

_ERROR_CODES = (RAISED, CHECK_OUT_OF_BOUNDS, CHECK_LOGP, CHECK_GRAD)
from ._validation import as_float_array, as_int, require_finite
from .targets import GaussianMixture, Target
from .targets._base import logp_grad_batch


def check_target(target):
    """The target, or a TypeError: a GaussianMixture or a Target."""
    if not isinstance(target, (GaussianMixture, Target)):
        raise TypeError(f"target must be a fastmc.GaussianMixture or a fastmc.Target, got {type(target).__name__}")
    return target


def start_points(target, x0, chains: int) -> np.ndarray:
    """x0 (d,) or (chains, d) -> (chains, d), each with a finite log density."""
    d = target.dim
    x = as_float_array("x0", x0, ndim=(1, 2))
    if x.ndim == 1:
        if x.shape != (d,):
            raise ValueError(f"x0 must have shape (d,) = ({d},) or (chains, d) = ({chains}, {d}), got {x.shape}")
        x = np.repeat(x[None, :], chains, axis=0)
    elif x.shape != (chains, d):
        raise ValueError(f"x0 must have shape (d,) = ({d},) or (chains, d) = ({chains}, {d}), got {x.shape}")
    require_finite("x0", x)
    lp, _ = logp_grad_batch(target, x, "cpp" if "cpp" in _backends.available_backends() else "numba",
                            where=lambda c: f"evaluating x0 of chain {c}")
    bad = np.flatnonzero(~np.isfinite(np.atleast_1d(lp)))
    if bad.size:
        raise ValueError(f"x0 for chain {int(bad[0])} has a non-finite log density ({np.atleast_1d(lp)[bad[0]]})")
    if target.check_gradient:
        target._check_gradient_at(x[0])
    return np.ascontiguousarray(x)


@functools.cache
def _cpu_count() -> int:
    return os.cpu_count() or 1  # a system call (about 10 us): once per process


def n_threads(value, chains: int) -> int:
    """Worker threads: ``value``, or min(chains, CPU count) for None."""
    if value is None:
        return max(1, min(chains, _cpu_count()))
    return as_int("n_threads", value, minimum=1)


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def allocate(draw_dtype, chains: int, n: int, d: int):
    """Outputs of a run of n iterations per chain: draws (chains, n, d) float64, the per-draw
    records (chains, n) of ``draw_dtype`` and the CHAIN_INFO records (chains,), all zeroed.
    A run that cannot fit in the machine's memory is refused here, before any work."""
    from ._schema import CHAIN_INFO

    need = chains * n * (8 * d + draw_dtype.itemsize)
    avail = _available_memory()
    if avail is not None and need > avail:
        raise MemoryError(f"the draws of this run need {need / 2**30:.1f} GiB ({chains} chains x {n} iterations x "
                          f"{d} dimensions) and the machine has {avail / 2**30:.1f} GiB: run fewer iterations, "
                          "or several shorter runs with resume=")
    return np.zeros((chains, n, d)), np.zeros((chains, n), draw_dtype), np.zeros(chains, CHAIN_INFO)


class Outcome:
    """How a run went: ``error`` (the exception a Python target raised, or None), ``failed`` (its
    chain), ``wall`` (seconds), ``interrupted`` (Ctrl-C or the run's stop flag), ``stop_point``
    (chains, d): where each chain's target failed, if it did."""

    def __init__(self, stop_point):
        self.error = None
        self.failed = None
        self.wall = 0.0
        self.interrupted = False
        self.stop_point = stop_point
        self.exception = None  # anything else the backend call raised (MemoryError, ...)


# The threads that run the chains while the calling thread shows progress and waits for Ctrl-C:
# reused from run to run (a new thread per call would also build a new OpenMP team for Numba),
# and made anew in a forked child, where the parent's pool has no threads and would never run.
_POOL = None
_POOL_PID = None


def _pool():
    global _POOL, _POOL_PID
    if _POOL is None or _POOL_PID != os.getpid():
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="fastmc-run")
        _POOL_PID = os.getpid()
    return _POOL


def _drive(run_fn, target, config, shared, per_chain, threads, interrupt, info, out, check):
    try:
        if target.kind != "python":
            out.error = run_fn(target, config, shared, per_chain, threads, check)
            return
        # A Python target holds the GIL anyway: its chains run one by one, so the chain whose
        # function raised is known and later chains never start.
        for c in range(per_chain[0].shape[0]):
            if interrupt[0]:
                info["status"][c:] = CHAIN_INTERRUPTED
                return
            err = run_fn(target, config, shared, tuple(a[c:c + 1] for a in per_chain), 1, check)
            if err is not None:
                out.error, out.failed = err, c
                return
    except BaseException as exc:  # handed to the calling thread
        out.exception = exc


def run(kind, target, backend, threads, config, shared, per_chain, *, progress=None, sampler=None, on_poll=None,
        check=False):
    """Run every chain: ``backend.<kind>_run(target, config, (interrupt, *shared),
    (*per_chain, stop_point), threads)``, where ``shared`` are inputs all chains read and
    ``per_chain`` the inputs and outputs with the chain as first axis (x0 first, the CHAIN_INFO
    records among them). The chains run on a worker thread; this thread shows the progress display and
    turns Ctrl-C into the run's stop flag: every chain then ends after its current iteration, and
    the draws so far are kept (a second Ctrl-C raises KeyboardInterrupt at once).

    ``check``: every call of a compiled target through a guarded gradient buffer (checked mode).
    ``on_poll()`` (optional) runs on this thread about ten times a second while the chains run, and
    once after they end (the store writes what the chains have saved).

    Returns an :class:`Outcome`."""
    info = next(a for a in per_chain if a.dtype == CHAIN_INFO)
    chains, d = per_chain[0].shape
    interrupt = np.zeros(1, dtype=np.int64)
    out = Outcome(np.zeros((chains, d)))
    n_warmup, n_samples = int(config[0]["n_warmup"]), int(config[0]["n_samples"])
    display = Display(sampler or kind, info, n_warmup, n_samples, hmc=kind == "hmc", enabled=wanted(progress))
    run_fn = getattr(backend, f"{kind}_run")
    t0 = time.perf_counter()
    job = _pool().submit(_drive, run_fn, target, config, (interrupt, *shared), (*per_chain, out.stop_point), threads,
                       interrupt, info, out, check)
    poll = on_poll or (lambda: None)
    try:
        try:
            while not _wait(job):
                display.update()
                poll()
        except KeyboardInterrupt:
            interrupt[0] = 1
            out.interrupted = True
            while not _wait(job):  # a second Ctrl-C propagates from here
                display.update()
        poll()
    finally:
        display.close()
    out.wall = time.perf_counter() - t0
    if out.exception is not None:
        raise out.exception
    return out


def _wait(job) -> bool:
    try:
        job.result(timeout=REFRESH)
        return True
    except concurrent.futures.TimeoutError:
        return False


def trim(n_done, draws, stats):
    """The outputs of a run some of whose chains stopped early: cut after the longest chain's
    n_done and cleared after each chain's own (:func:`clear_after_done`). Unchanged when every
    chain ran to the end. The cut is a view: the buffers' unused rows were never written, so they
    hold no memory (zeroed allocations are mapped lazily), and a copy here would double the time
    an interrupted run takes to return its draws."""
    m = int(np.max(n_done)) if len(n_done) else 0
    if m < draws.shape[1]:
        draws, stats = draws[:, :m], stats[:, :m]
    clear_after_done(n_done, draws, stats)
    return draws, stats


def last_draws(n_done, draws, x0):
    """Each chain's latest draw (chains, d): the row before its n_done, or its start point."""
    return np.array([draws[c, k - 1] if k > 0 else x0[c] for c, k in enumerate(np.asarray(n_done, dtype=np.int64))])


def clear_after_done(n_done, draws, stats):
    """Rows after a chain's n_done (the target stopped sampling) hold NaN / 0, never stale memory."""
    total = draws.shape[1]
    for c in np.flatnonzero(np.asarray(n_done) < total):
        t = int(n_done[c])
        draws[c, t:] = np.nan
        for name in stats.dtype.names:
            stats[name][c, t:] = np.nan if stats.dtype[name].kind == "f" else 0


def finish(res, out, info, n_warmup: int = 0, target=None, stacklevel: int = 3):
    """Return the result, or raise the target's exception with the draws done so far attached.

    ``info`` (chains,) CHAIN_INFO records: ``n_done`` counts iterations from the start of the run;
    ``res.n_done`` from the first kept draw (``n_warmup`` earlier, at least 0). A chain whose
    target failed stops alone (the others run to the end, so a result depends only on its seed):
    an exception inside the target (a Python function, or an ``@njit`` one) is raised once, with
    the chain and iteration and ``.partial_result``; a C function's own negative return, or Ctrl-C,
    gives the result with a warning. ``stacklevel`` points a warning at the user's call."""
    n_done = np.asarray(info["n_done"]).copy()
    res.n_done = np.maximum(n_done - n_warmup, 0)
    n_total = n_warmup + res.settings.get("n_samples", res.n_samples)  # as asked (the arrays may be cut)

    def where(c):
        t = int(n_done[c])
        return f"chain {c} at iteration {t}" + (" (warm-up included)" if n_warmup else "")

    error, failed = out.error, out.failed
    if error is None:
        codes = np.asarray(info["target_code"])
        # an exception inside the target, or what the checked mode found: errors, raised once
        raised = np.flatnonzero((np.asarray(info["status"]) == CHAIN_TARGET_STOP) & np.isin(codes, _ERROR_CODES))
        if raised.size and target is not None:
            failed = int(raised[0])
            error = target._failure_error(int(codes[failed]), out.stop_point[failed])
    if error is not None:
        c = failed
        error.add_note(f"fastmc: raised by the target in {where(c)}; the draws done so far are on this exception as "
                       f".partial_result (valid up to n_done per chain)")
        error.partial_result = res
        raise error
    status = np.asarray(info["status"])
    stopped = np.flatnonzero(status == CHAIN_TARGET_STOP)
    if stopped.size:
        codes = np.asarray(info["target_code"])
        warnings.warn("the target stopped " + "; ".join(f"{where(c)} (it returned {int(codes[c])})" for c in stopped)
                      + f"; its draws after that are NaN. Iterations done per chain: {n_done.tolist()} of {n_total}",
                      RuntimeWarning, stacklevel=stacklevel)
    if out.interrupted:
        res.interrupted = True
        warnings.warn(f"sampling was interrupted: iterations done per chain {n_done.tolist()} of {n_total}"
                      + (f" ({n_warmup} of them warm-up)" if n_warmup else "")
                      + "; the result holds them (arrays end at the longest chain, shorter chains padded with NaN)",
                      RuntimeWarning, stacklevel=stacklevel)
    return res
