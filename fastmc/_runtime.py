"""The sampling runtime every sampler runs through: target and start-point checks, thread counts,
outputs allocated once (the records of :mod:`fastmc._schema`), one call to the backend's chain
driver, and the result's completion (rows after a stop cleared, a target's exception re-raised
with the draws so far).

Samplers (:mod:`fastmc.samplers`, :mod:`fastmc.nuts`) import this module and never each other.
"""
from __future__ import annotations

import functools
import os
import time
import warnings

import numpy as np

from . import _backends
from ._validation import as_float_array, as_int, require_finite
from .targets import GaussianMixture, Target


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
    lp = target.logpdf(x, backend="cpp" if "cpp" in _backends.available_backends() else "numba")
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


def run(kind, target, backend, threads, config, shared, per_chain):
    """Run every chain: ``backend.<kind>_run(target, config, shared, per_chain, threads)``, where
    ``shared`` are inputs all chains read and ``per_chain`` the inputs and outputs with the chain
    as first axis (x0 first). A Python target (it holds the GIL anyway) runs its chains one by one,
    so the chain whose function raised is known and later chains never start.

    Returns (error, failed_chain, wall): the target's exception or None, the chain it stopped
    (or None) and the seconds spent."""
    target._reset()
    run_fn = getattr(backend, f"{kind}_run")
    t0 = time.perf_counter()
    error, failed = None, None
    if target.kind != "python":
        error = run_fn(target, config, shared, per_chain, threads)
    else:
        for c in range(per_chain[0].shape[0]):
            error = run_fn(target, config, shared, tuple(a[c:c + 1] for a in per_chain), 1)
            if error is not None:
                failed = c
                break
    return error, failed, time.perf_counter() - t0


def clear_after_done(n_done, draws, stats):
    """Rows after a chain's n_done (the target stopped sampling) hold NaN / 0, never stale memory."""
    total = draws.shape[1]
    for c in np.flatnonzero(np.asarray(n_done) < total):
        t = int(n_done[c])
        draws[c, t:] = np.nan
        for name in stats.dtype.names:
            stats[name][c, t:] = np.nan if stats.dtype[name].kind == "f" else 0


def finish(res, error, failed_chain, n_done, n_warmup: int = 0, stacklevel: int = 3):
    """Return the result, or raise the target's exception with the draws done so far attached.
    ``n_done`` counts iterations from the start of the run; ``res.n_done`` from the first kept
    draw (``n_warmup`` earlier). ``stacklevel`` points a warning at the user's call."""
    res.n_done = np.asarray(n_done) - n_warmup
    n = res.n_samples
    if error is None:
        if np.any(res.n_done < n):
            warnings.warn(f"the target stopped sampling early: iterations done per chain {res.n_done.tolist()} of "
                          f"{n}; the draws after that are NaN", RuntimeWarning, stacklevel=stacklevel)
        return res
    c = failed_chain
    t = int(n_done[c])
    where = f"iteration {t} (warm-up included)" if n_warmup else f"iteration {t}"
    error.add_note(f"fastmc: raised by the target in chain {c} at {where}; the draws done so far are on "
                   f"this exception as .partial_result (chains 0..{c}, valid up to n_done per chain)")
    error.partial_result = res
    raise error
