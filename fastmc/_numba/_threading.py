"""Which of Numba's threading layers the parallel kernels (``prange`` over chains or variables) run on.

Numba picks the first layer it can load of TBB, OpenMP and its own workqueue. GNU OpenMP, the
usual second choice on Linux, does not survive ``fork()``: a child forked after the parent ran a
parallel kernel is killed by Numba when it runs one ("fork() called from a process already using
GNU OpenMP"), which is what a ``ProcessPoolExecutor`` with Linux's default start method does. The
workqueue layer survives fork but aborts the process when two Python threads run parallel kernels
at once. TBB does both, so fastmc depends on the ``tbb`` package where it has wheels and makes sure
Numba can load it (:func:`preload_tbb`); where it cannot, :func:`check_fork` turns the child's
abort into a RuntimeError that says what to do.
"""
from __future__ import annotations

import ctypes
import os
import sys

_TBB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}

#: Set in a forked child whose parent had started GNU OpenMP threads.
_forked_from_gnu_openmp = False


def preload_tbb() -> bool:
    """Load the TBB runtime of the ``tbb`` wheel from ``<sys.prefix>/lib`` by its full path.

    Numba opens it by name only, and the loader's search path does not include that directory in
    a virtual environment, so without this Numba silently falls back to GNU OpenMP. Once loaded,
    opening it by name finds the loaded copy. Must run before Numba starts its threads (fastmc
    calls it when :mod:`fastmc._numba` is imported); afterwards it changes nothing.

    Returns
    -------
    bool
        Whether a TBB runtime was found there and loaded.
    """
    name = _TBB_NAMES.get(sys.platform)
    if name is None:
        return False
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        path = os.path.join(prefix, "lib", name)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                return False
            return True
    return False


def _layer_in_use() -> str | None:
    """Numba's threading layer if its threads have started, else None."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _gnu_openmp() -> bool:
    try:
        from numba.np.ufunc import omppool
    except ImportError:
        return False
    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


def _after_fork_in_child() -> None:
    global _forked_from_gnu_openmp
    if "numba" in sys.modules and _layer_in_use() == "omp" and _gnu_openmp():
        _forked_from_gnu_openmp = True


def check_fork() -> None:
    """Raise a RuntimeError, instead of letting Numba kill the process, in a child forked from a
    process whose Numba kernels had started GNU OpenMP threads."""
    if _forked_from_gnu_openmp:
        raise RuntimeError(
            "the Numba backend cannot run in this process: it was forked (multiprocessing's 'fork' start "
            "method, Linux's default) from a process whose Numba kernels had started GNU OpenMP threads, "
            "which do not survive fork. Install the 'tbb' package (pip install tbb) so that Numba uses TBB, "
            "start the pool with multiprocessing.get_context('spawn') or 'forkserver', or use backend='cpp'")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
