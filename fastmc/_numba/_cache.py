"""A disk cache for the kernels that take a target's compiled functions as arguments.

The samplers (``hmc_run``, ``rwmh_run``) and the batch evaluation take the target's functions as
Numba first-class arguments, so each target compiles the whole sampler around its functions (tens
of seconds of CPU). Numba's own disk cache (``cache=True``) keys an entry by the argument types,
and the type of a jitted function is its dispatcher object: an entry is never found again in
another process. :class:`ArgCache` keys those arguments by what defines the compiled code instead
(module, name, bytecode, closure cells and the global values the function reads, its source file's
stamp, recursively through the functions it names), so a target defined in a file compiles once:
the next process loads the sampler from the cache.

A function whose code depends on something without a stable identity (a ctypes pointer, whose
address the compiled code keeps; an object of unknown kind; source that is not in a file, as in a
notebook cell) is not cached: that call compiles as before. The key also holds a digest of fastmc's own
sources, so a changed fastmc never loads an entry compiled from older kernels.
"""
from __future__ import annotations

import functools
import hashlib
import os
import types as pytypes

import numpy as np
from numba.core import types
from numba.core.caching import FunctionCache
from numba.core.registry import CPUDispatcher

__all__ = ["cache_with_function_args"]


class _Uncacheable(Exception):
    """A function argument whose compiled code has no stable identity."""


@functools.cache
def _fastmc_sources() -> str:
    """Digest of the (path, size, mtime) of every source file of fastmc: the kernels an entry was
    compiled from."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                st = os.stat(path)
                h.update(f"{os.path.relpath(path, root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _file_stamp(filename: str):
    if not filename or not os.path.isfile(filename):
        raise _Uncacheable(f"no source file ({filename!r})")  # a notebook cell, exec'd text
    st = os.stat(filename)
    return (os.path.abspath(filename), st.st_size, st.st_mtime_ns)


def _value_token(value, seen):
    """A stable description of a value compiled code may depend on (a closure cell, a global)."""
    if isinstance(value, CPUDispatcher):
        return _function_token(value, seen)
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic)):
        return (type(value).__name__, repr(value))
    if isinstance(value, np.ndarray):  # Numba freezes global arrays into the code
        return ("ndarray", value.dtype.str, value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
    if isinstance(value, tuple):
        return ("tuple",) + tuple(_value_token(v, seen) for v in value)
    if isinstance(value, pytypes.FunctionType) or isinstance(getattr(value, "_defn", None), pytypes.FunctionType):
        # a Python function Numba compiles through its registered implementation (@overload,
        # prange), or an @intrinsic: named by module, name and its file's stamp, which covers an
        # implementation defined beside it
        fn = value if isinstance(value, pytypes.FunctionType) else value._defn
        code = fn.__code__
        stamp = _file_stamp(code.co_filename) if os.path.isfile(code.co_filename) else None
        return (type(value).__name__, fn.__module__, fn.__qualname__, stamp)
    raise _Uncacheable(f"a value of type {type(value).__name__}")


def _function_token(disp, seen):
    """Module, name, bytecode, constants, source stamp, closure cells and the globals the code
    names (other jitted functions recursively; modules and library functions are stable)."""
    py = disp.py_func
    if id(py) in seen:
        return ("recursive", py.__module__, py.__qualname__)
    seen = seen | {id(py)}
    code = py.__code__
    globs = py.__globals__
    named = []
    for name in code.co_names:
        if name not in globs:
            continue  # an attribute name, or a builtin
        v = globs[name]
        if isinstance(v, (pytypes.ModuleType, pytypes.BuiltinFunctionType, np.ufunc, type)):
            continue
        named.append((name, _value_token(v, seen)))
    cells = tuple(_value_token(c.cell_contents, seen) for c in (py.__closure__ or ()))
    consts = repr(tuple(c for c in code.co_consts if not isinstance(c, pytypes.CodeType)))
    body = hashlib.sha256(code.co_code + consts.encode()).hexdigest()
    return ("function", py.__module__, py.__qualname__, body, _file_stamp(code.co_filename), cells, tuple(named))


def _type_token(t):
    if isinstance(t, types.Dispatcher):
        return _function_token(t.dispatcher, frozenset())
    if isinstance(t, types.BaseTuple):
        return (type(t).__name__,) + tuple(_type_token(x) for x in t.types)
    return t


class ArgCache(FunctionCache):
    """Numba's per-function disk cache, keyed by the function arguments' stable tokens."""

    def _index_key(self, sig, codegen):
        plain = tuple(types.none if isinstance(a, types.Dispatcher) else a for a in sig)
        key = super()._index_key(plain, codegen)
        return (tuple(_type_token(a) for a in sig), _fastmc_sources()) + key[1:]

    def load_overload(self, sig, target_context):
        try:
            cres = super().load_overload(sig, target_context)
        except _Uncacheable:
            return None
        except Exception:  # noqa: BLE001 - an unreadable entry (a module gone since): compile instead
            return None
        if cres is not None:
            # the entry was pickled with the dispatchers of the process that compiled it; the
            # overload is registered under this process's argument types
            cres = cres._replace(signature=cres.signature.replace(args=tuple(sig)))
            cres.fndesc.argtypes = tuple(sig)
        return cres

    def save_overload(self, sig, data):
        if getattr(data.library, "has_dynamic_globals", False):
            return  # a C function's address in the code (from_cfunc): never cached, and no NumbaWarning
        try:
            super().save_overload(sig, data)
        except Exception:  # noqa: BLE001 - _Uncacheable, or an entry that cannot be written: no entry
            pass


def cache_with_function_args(dispatcher):
    """Give a kernel that takes jitted functions as arguments the disk cache :class:`ArgCache`;
    returns the dispatcher."""
    dispatcher._cache = ArgCache(dispatcher.py_func)
    return dispatcher
