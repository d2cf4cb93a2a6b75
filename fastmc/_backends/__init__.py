"""The two backends behind one interface: the C++ extension ``fastmc._core`` and the Numba twins
``fastmc._numba``.

Samplers and diagnostics ask :func:`get` for a backend object and call its methods, which have the
same names, arguments and results on both (:mod:`.cpp`, :mod:`.numba`); nothing else in the package
branches on the backend's name. The rule for Python targets lives here too (:func:`for_target`).
"""
from __future__ import annotations

import importlib
import os
import warnings

from . import _cpu

_BACKENDS = ("cpp", "numba")


def _load_core(reason=None):
    """Import the extension unless the CPU cannot run it: (module or None, the error or reason
    it was not loaded, the CPU reason or None). ``reason`` is :func:`._cpu.unsupported_reason`'s
    answer, computed here unless given (the tests simulate a CPU by passing it)."""
    reason = _cpu.unsupported_reason() if reason is None else reason
    if reason:  # never import it: a wheel built for AVX2 + FMA dies of SIGILL on an older CPU
        return None, reason, reason
    try:  # the compiled extension is optional at import time, never silently at build time
        return importlib.import_module("fastmc._core"), None, None
    except ImportError as exc:  # exercised by CI's run on an install without the extension
        return None, exc, None


_core, _CORE_ERROR, _CPU_REASON = _load_core()
_cpu_warned = False


def _warn_cpu_fallback():
    """The first "auto" that falls back to Numba because of the CPU says why, once per process
    (every diagnostic call resolves a backend: once is information, a warning per call noise)."""
    global _cpu_warned
    if _CPU_REASON and not _cpu_warned:
        _cpu_warned = True
        warnings.warn(f"fastmc runs on the Numba backend: {_CPU_REASON}", RuntimeWarning, stacklevel=4)


def available_backends() -> tuple[str, ...]:
    """Backends usable in this process.

    Returns
    -------
    tuple of str
        ``("cpp", "numba")``, in order of preference, or ``("numba",)`` where the C++ extension
        is not installed (numba is a dependency, the extension optional at run time) or where
        this CPU lacks an instruction set the extension was compiled for (a wheel built for
        x86-64-v3 on a CPU without AVX2 or FMA): then the extension is never imported and
        ``backend="auto"`` runs on Numba with a ``RuntimeWarning`` that says why.
    """
    return ("cpp", "numba") if _core is not None else ("numba",)


def resolve_backend(backend: str = "auto") -> str:
    """Turn a user's ``backend`` argument into ``"cpp"`` or ``"numba"``.

    The environment variable ``FASTMC_BACKEND`` overrides ``"auto"``. ``"auto"`` prefers C++ and
    falls back to Numba; an explicit backend that is not available is an error.
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str ('auto', 'cpp' or 'numba'), got {type(backend).__name__}")
    if backend == "auto":
        backend = os.environ.get("FASTMC_BACKEND", "auto").strip().lower() or "auto"
    if backend == "auto":
        _warn_cpu_fallback()
        return available_backends()[0]
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be 'auto', 'cpp' or 'numba', got {backend!r}")
    if backend == "cpp" and _core is None:
        raise RuntimeError(
            "backend='cpp' was requested but the C++ extension fastmc._core could not be imported "
            f"({_CORE_ERROR}); reinstall fastmc with a C++17 compiler or use backend='numba'"
        )
    return backend


def get(backend: str = "auto"):
    """The backend object for a user's ``backend`` argument (see :func:`resolve_backend`)."""
    name = resolve_backend(backend)
    if name == "cpp":
        from .cpp import BACKEND
    else:
        from .._numba._threading import check_fork
        from .numba import BACKEND

        check_fork()  # a clear error where Numba's threads would kill a forked process
    return BACKEND


def for_target(target, backend: str = "auto"):
    """The backend that runs ``target``: :func:`get`, except for a Python target, which holds the
    GIL on every call and runs on the C++ driver only (one chain at a time): for it an explicit
    ``backend="numba"`` (or ``FASTMC_BACKEND=numba`` with "auto") is a ValueError naming the
    backend, and a missing extension a RuntimeError."""
    if getattr(target, "kind", None) != "python":
        return get(backend)
    if _core is None:
        raise RuntimeError(
            "a Python target (Target.from_python) runs on the C++ backend only, and the extension "
            f"fastmc._core could not be imported ({_CORE_ERROR}); reinstall fastmc with a C++17 compiler, "
            "or write the target with Target.from_numba, which runs on both backends")
    name = resolve_backend(backend) if backend != "auto" else "cpp"
    if name != "cpp":  # the argument is wrong for this target: the same ValueError in every sampler
        raise ValueError(f"backend={backend!r} cannot run a Python target (Target.from_python), which runs on the "
                         "C++ backend only: use backend='auto' or 'cpp', or write the target with Target.from_numba")
    return get("cpp")

