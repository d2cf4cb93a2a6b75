"""Targets that travel to other processes: pickled as a recipe, rebuilt once per process.

A target holds compiled code (a ``@cfunc``, PyTensor's Numba functions, aligned copies of the
mixture's arrays) that cannot be pickled, and costs seconds to compile. So a target pickles as the
recipe that made it (its constructor and the arguments given to it), serialised once per target
object, and unpickles through :func:`rebuild`, which builds it at most once per process: the
cache lives here, in an importable module, so that it survives from task to task in a worker
(a cache defined in ``__main__`` would be pickled with every task and rebuilt each time).

A raw C function address or a ctypes/Numba ``@cfunc`` has no recipe: pickling such a target
raises a TypeError that suggests :meth:`fastmc.Target.from_factory`.
"""
from __future__ import annotations

import hashlib
import pickle
import threading

__all__ = ["recipe_blob", "rebuild", "cannot_travel"]

# blob digest -> target built in this process; a worker keeps every target it was sent (one per
# distinct recipe, usually one per job)
_CACHE: dict = {}
_LOCK = threading.Lock()  # a threaded worker may unpickle two tasks at once: build once


def _dumps(obj) -> bytes:
    """Pickle with cloudpickle when it is installed (it comes with dask), so that functions defined
    in ``__main__`` or a notebook travel by value; plain pickle otherwise."""
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - without the distributed extra
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def cannot_travel(target) -> TypeError:
    return TypeError(
        f"{target!r} cannot be sent to another process: it was built from a C function address or a "
        "@cfunc, which has no recipe to rebuild it there. Build it on the worker instead with "
        "fastmc.Target.from_factory(make_target, *args), where make_target is a function of an importable "
        "module that returns the target")


def recipe_blob(target) -> tuple[str, bytes]:
    """(key, serialised recipe) of a target, computed once per target object.

    Raises
    ------
    TypeError
        When the target has no recipe (a C address or ``@cfunc``), or its recipe cannot be
        pickled (say a Python function that is neither importable nor picklable by value).
    """
    cached = getattr(target, "_blob", None)
    if cached is not None:
        return cached
    recipe = getattr(target, "_recipe", None)
    if recipe is None:
        raise cannot_travel(target)
    try:
        blob = _dumps(recipe)
    except Exception as exc:
        raise TypeError(f"{target!r} cannot be sent to another process: its recipe does not pickle "
                        f"({type(exc).__name__}: {exc}); build it on the worker with "
                        "fastmc.Target.from_factory(make_target, *args), make_target a function of an importable "
                        "module") from exc
    out = (hashlib.sha256(blob).hexdigest(), blob)
    target._blob = out
    return out


def reduce_target(target):
    """``__reduce__`` of a target: rebuilt from its recipe by :func:`rebuild` on unpickling."""
    return rebuild, recipe_blob(target)


def rebuild(key: str, blob: bytes):
    """The target of a recipe, built on the first call in this process and cached after."""
    with _LOCK:
        target = _CACHE.get(key)
        if target is None:
            kind, args, kwargs = pickle.loads(blob)
            target = build(kind, args, kwargs)
            target._blob = (key, blob)  # travels on from here unchanged (nested executors)
            _CACHE[key] = target
        return target


def build(kind: str, args: tuple, kwargs: dict):
    """Run a recipe: ``kind`` names the constructor."""
    from .mixture import GaussianMixture
    from .user import Target

    if kind == "mixture":
        return GaussianMixture(*args, **kwargs)
    if kind == "factory":
        return Target.from_factory(*args, **kwargs)
    if kind == "with_data":
        base, data = args
        return base.with_data(**data)
    return getattr(Target, f"from_{kind}")(*args, **kwargs)
