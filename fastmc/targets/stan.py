"""Stan programs as targets: ``stanc`` translates the program to C++, fastmc's own glue
(``stan_glue.cpp``, compiled into the same shared library) exposes the model through fastmc's C
ABI, and the C++ chains (or the Numba kernels) call Stan's own reverse-mode autodiff with the GIL
released, from every thread.

Where the pieces come from: the ``httpstan`` wheel (the ``stan`` extra) ships ``stanc``, the
headers of Stan, Stan Math, Boost, Eigen, Sundials and TBB, and ``libtbb.so``; the system C++
compiler (``$CXX``, else ``g++``, ``clang++`` or ``c++``) builds the library. Libraries are cached
under ``~/.cache/fastmc/stan`` (or ``cache_dir=``, or ``$FASTMC_STAN_CACHE``) by a hash of the
program text, the compiler and its flags, the glue and the Stan version; data are read at run time
into a model instance, so new data never recompile.

Needs the ``stan`` extra: ``pip install "fastmc[stan]"``, and a C++17 compiler.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import numbers
import os
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._validation import as_int
from ..layout import Layout, Param
from .user import Target

__all__ = ["StanLayout", "StanTarget", "compile_stan", "from_stan"]

_GLUE = Path(__file__).with_name("stan_glue.cpp")
_MODEL_NAME = "fastmc_model"
#: httpstan builds its models with these macros (Stan's threading model; the old C++ string ABI of
#: the manylinux ``libtbb.so`` it ships)
_DEFINES = ["-DSTAN_THREADS", "-D_REENTRANT", "-DBOOST_DISABLE_ASSERTS", "-DBOOST_PHOENIX_NO_VARIADIC_EXPRESSION",
            "-D_GLIBCXX_USE_CXX11_ABI=0"]
#: CmdStan's optimisation level; no -ffast-math, so the model's roundings are IEEE's
_CXXFLAGS = ["-std=c++17", "-O3", "-fPIC", "-shared", "-fvisibility=hidden", "-pthread",
             "-Wno-deprecated-declarations", "-Wno-ignored-attributes"]


# ------------------------------------------------------------------------- the toolchain
def _httpstan_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("httpstan")
    if spec is None or spec.origin is None:
        raise ImportError("Target.from_stan needs httpstan (it ships stanc and Stan's C++ headers): "
                          "pip install 'fastmc[stan]'")
    root = Path(spec.origin).parent
    for part in ("stanc", "include/stan/version.hpp", "lib"):
        if not (root / part).exists():
            raise ImportError(f"httpstan at {root} lacks {part}: reinstall it (pip install 'fastmc[stan]')")
    return root


def _stan_version(root: Path) -> str:
    text = (root / "include/stan/version.hpp").read_text()
    parts = {}
    for key in ("MAJOR", "MINOR", "PATCH"):
        for line in text.splitlines():
            if line.startswith(f"#define STAN_{key} "):
                parts[key] = line.split()[-1]
    return ".".join(parts.get(k, "?") for k in ("MAJOR", "MINOR", "PATCH"))


def _find_compiler(compiler=None) -> str:
    candidates = [compiler] if compiler is not None else [os.environ.get("CXX"), "g++", "clang++", "c++"]
    for c in candidates:
        if c and shutil.which(c):
            return shutil.which(c)
    looked = ", ".join(repr(c) for c in candidates if c)
    raise RuntimeError(f"no C++ compiler found (looked for {looked} on PATH): Target.from_stan compiles the "
                       "model with one; install g++ or clang++, or set $CXX / compiler=")


def _compiler_id(cxx: str) -> str:
    """The compiler's path, size and modification time: a new compiler invalidates the cache without
    running it (a cache hit runs no subprocess at all)."""
    st = os.stat(os.path.realpath(cxx))
    return f"{os.path.realpath(cxx)}:{st.st_size}:{int(st.st_mtime)}"


def _flags(root: Path, extra) -> list:
    return [*_CXXFLAGS, *extra, *_DEFINES, f"-I{root / 'include'}"]


def _link_flags(root: Path) -> list:
    lib = root / "lib"
    # the ODE solvers' static libraries are linked in only when the model uses them
    return [f"-L{lib}", "-lsundials_cvodes", "-lsundials_idas", "-lsundials_nvecserial", "-ltbb",
            f"-Wl,-rpath,{lib}"]


def _default_cache_dir() -> Path:
    env = os.environ.get("FASTMC_STAN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastmc" / "stan"


def _run_stanc(root: Path, program: str, filename: str, include_paths):
    """(the C++ stanc generates for ``program``, stanc's ``--info`` summary), or a ValueError with
    stanc's message."""
    with tempfile.TemporaryDirectory(prefix="fastmc_stanc_") as tmp:
        src = Path(tmp) / "model.stan"
        src.write_text(program)
        out = Path(tmp) / "model.hpp"
        args = [str(root / "stanc"), "--name", _MODEL_NAME, "--filename-in-msg", filename, "--o", str(out)]
        if include_paths:
            args += ["--include-paths", ",".join(str(p) for p in include_paths)]
        proc = subprocess.run([*args, str(src)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ValueError(f"stanc could not translate the Stan program:\n{(proc.stderr or proc.stdout).strip()}")
        # stanc's summary of the program: a program without parameters is refused before the
        # compiler spends half a minute on it
        proc = subprocess.run([*args[:-2], "--info", str(src)], capture_output=True, text=True, check=False)
        info = json.loads(proc.stdout) if proc.returncode == 0 else {}
        if info and not info.get("parameters"):
            raise ValueError("program has no parameters block (or an empty one): there is nothing to sample")
        return out.read_text(), info


def _run_compiler(cmd: list) -> subprocess.CompletedProcess:
    """One compiler run (the only place fastmc invokes the C++ compiler: the tests count calls)."""
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def compile_stan(program, *, cache_dir=None, compiler=None, cxxflags=(), include_paths=None):
    """Translate and compile a Stan program into fastmc's shared library, or find it in the cache.

    Parameters
    ----------
    program : str or os.PathLike
        The program text, or the path of a ``.stan`` file.
    cache_dir : str or os.PathLike, optional
        Where compiled libraries live (default ``$FASTMC_STAN_CACHE``, else
        ``~/.cache/fastmc/stan``).
    compiler : str, optional
        The C++ compiler (default ``$CXX``, else ``g++``, ``clang++``, ``c++``).
    cxxflags : sequence of str
        Extra compiler flags (e.g. ``["-march=native"]``), part of the cache key.
    include_paths : sequence of path, optional
        Directories for the program's ``#include`` statements (default: the program's own
        directory when ``program`` is a path).

    Returns
    -------
    path : pathlib.Path
        The shared library.
    info : dict
        ``compiled`` (False on a cache hit), ``seconds`` (translation and compilation, or the
        lookup), ``stan_version``, ``key`` (the cache key), ``warnings`` (the compiler's
        messages), ``program`` (stanc's ``--info`` summary: inputs, parameters, ...).
    """
    t0 = time.perf_counter()
    text, filename, inc = _program_text(program)
    if include_paths is None:
        include_paths = inc
    if isinstance(cxxflags, str) or not all(isinstance(f, str) for f in cxxflags):
        raise TypeError("cxxflags must be a sequence of str (one compiler flag each)")
    root = _httpstan_dir()
    cxx = _find_compiler(compiler)
    version = _stan_version(root)
    flags = _flags(root, list(cxxflags))
    key_parts = [text, _GLUE.read_text(), version, _compiler_id(cxx), " ".join(flags), " ".join(_link_flags(root))]
    if "#include" in text:  # where included files come from matters only to a program that has some
        key_parts.append(",".join(str(p) for p in include_paths or ()))
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()[:32]
    cache = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    target_dir = cache / key
    lib = target_dir / "model.so"
    info = {"compiled": False, "stan_version": version, "key": key, "warnings": ""}
    summary = target_dir / "model.info.json"
    if lib.exists():
        info["seconds"] = time.perf_counter() - t0
        info["program"] = json.loads(summary.read_text()) if summary.exists() else {}
        return lib, info

    cpp, info["program"] = _run_stanc(root, text, filename, include_paths)
    target_dir.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps(info["program"]))
    (target_dir / "model.stan").write_text(text)
    src = target_dir / "model.cpp"
    # the glue is compiled in the same translation unit: it sees the concrete model class
    src.write_text(f"{cpp}\n#include \"{_GLUE}\"\n")
    tmp = target_dir / f"model.{os.getpid()}.tmp.so"
    cmd = [cxx, *flags, "-o", str(tmp), str(src), *_link_flags(root)]
    proc = _run_compiler(cmd)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = "\n".join(proc.stderr.strip().splitlines()[-40:])
        raise RuntimeError(f"the C++ compiler failed on the Stan model ({' '.join(cmd)}):\n{tail}")
    os.replace(tmp, lib)  # atomic: a concurrent build or reader sees a whole library or none
    info.update(compiled=True, seconds=time.perf_counter() - t0, warnings=proc.stderr.strip())
    return lib, info


def _program_text(program):
    """(text, file name for messages, include paths) of a program given as text or a path."""
    if isinstance(program, os.PathLike) or (isinstance(program, str) and "\n" not in program
                                            and program.strip().endswith(".stan")):
        path = Path(program)
        if not path.is_file():
            raise ValueError(f"program: no Stan file at {str(path)!r}")
        return path.read_text(), path.name, [str(path.parent.resolve())]
    if not isinstance(program, str):
        raise TypeError(f"program must be the Stan program text or the path of a .stan file, got "
                        f"{type(program).__name__}")
    if not program.strip():
        raise ValueError("program is empty: give the Stan program text or the path of a .stan file")
    return program, "model.stan", []


# ------------------------------------------------------------------------------ data
def _jsonable(name, value):
    """``value`` as nested lists / numbers in CmdStan's JSON convention (C order = Stan's index
    order), or a TypeError naming the variable."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise TypeError(f"data[{name!r}] must be a number or a (nested) array of numbers ({exc})") from None
    if a.dtype.kind == "b":
        a = a.astype(np.int64)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"data[{name!r}] must be a number or an array of numbers, got dtype {a.dtype}")
    return a.tolist()


def _data_json(data) -> str:
    if data is None:
        return "{}"
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise ValueError(f"data: no JSON file at {str(path)!r}")
        text = path.read_text()
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"data: {path} is not valid JSON ({exc})") from None
        return text
    if not isinstance(data, dict):
        raise TypeError(f"data must be None, a dict {{name: value}} or the path of a JSON file, got "
                        f"{type(data).__name__}")
    out = {}
    for k, v in data.items():
        if not isinstance(k, str):
            raise TypeError(f"data keys must be variable names (str), got {k!r}")
        out[k] = _jsonable(k, v)
    return json.dumps(out)


# --------------------------------------------------------------------------- the library
class _Library:
    """A loaded model library: the ctypes entry points of ``stan_glue.cpp``."""

    _loaded: ClassVar[dict] = {}  # path -> _Library, one per process

    def __init__(self, path: Path):
        lib = ctypes.CDLL(str(path))
        vp, sz, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
        errp = ctypes.POINTER(ctypes.c_void_p)
        u32 = ctypes.c_uint32
        for name, res, args in [
            ("fastmc_stan_abi_version", ctypes.c_int, []),
            ("fastmc_stan_version", cp, []),
            ("fastmc_stan_free_string", None, [vp]),
            ("fastmc_stan_new", vp, [cp, ctypes.c_uint, errp]),
            ("fastmc_stan_delete", None, [vp]),
            ("fastmc_stan_dim", sz, [vp]),
            ("fastmc_stan_variables", vp, [vp]),
            ("fastmc_stan_logp_explained", ctypes.c_int, [vp, sz, vp, vp, vp, errp]),
            ("fastmc_stan_write_array", ctypes.c_long, [vp, sz, vp, sz, vp, ctypes.c_int, ctypes.c_int, u32, u32,
                                                         u32, u32, errp]),
            ("fastmc_stan_unconstrain", ctypes.c_int, [vp, cp, vp, errp]),
        ]:
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        if lib.fastmc_stan_abi_version() != 1:
            raise RuntimeError(f"{path} was built by another fastmc version: delete it and build again")
        self.lib = lib
        self.path = path
        self.logp_address = ctypes.cast(lib.fastmc_stan_logp, ctypes.c_void_p).value

    @classmethod
    def load(cls, path: Path) -> _Library:
        key = str(path)
        if key not in cls._loaded:  # dlopen of the same file returns the same handle anyway
            cls._loaded[key] = cls(path)
        return cls._loaded[key]

    def take_string(self, ptr) -> str:
        if not ptr:
            return ""
        try:
            return ctypes.string_at(ptr).decode(errors="replace")
        finally:
            self.lib.fastmc_stan_free_string(ptr)


def _stan_message(msg: str) -> str:
    return msg.strip().removeprefix("Exception: ").strip()


# ------------------------------------------------------------------------------ model
class _StanModel:
    """One model instance (the program's library and its data): owned by the target and by every
    layout and result made from it, deleted when the last of them goes."""

    def __init__(self, lib: _Library, ptr: int, dim: int):
        self.lib, self.ptr, self.dim = lib, ptr, dim
        self.params = ()  # set once the layout is read
        weakref.finalize(self, lib.lib.fastmc_stan_delete, ptr)

    def logp_explained(self, x):
        """(code, logp, grad, message) at one unconstrained point x (d,)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        g = np.empty(self.dim)
        lp = np.empty(1)
        err = ctypes.c_void_p()
        rc = self.lib.lib.fastmc_stan_logp_explained(self.ptr, self.dim, x.ctypes.data, g.ctypes.data,
                                                     lp.ctypes.data, ctypes.byref(err))
        return rc, float(lp[0]), g, _stan_message(self.lib.take_string(err.value))

    def write_array(self, U, out, *, seed=0, stream=0, tparams=True, gqs=True):
        """Stan's write_array of the rows of U (n, d) into out (n, m); warns about failed rows."""
        U = np.ascontiguousarray(U, dtype=np.float64)
        seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        err = ctypes.c_void_p()
        failed = self.lib.lib.fastmc_stan_write_array(
            self.ptr, U.shape[0], U.ctypes.data, out.shape[1], out.ctypes.data, int(tparams), int(gqs),
            seed >> 32, seed & 0xFFFFFFFF, stream, 0, ctypes.byref(err))
        msg = _stan_message(self.lib.take_string(err.value))
        if failed:
            import warnings

            warnings.warn(f"Stan's write_array failed on {failed} of {U.shape[0]} draws (NaN there): {msg}",
                          RuntimeWarning, stacklevel=3)
        return failed

    def constrain_params(self, u) -> dict:
        """The parameters (only) at unconstrained points u (..., d): ``{name: (..., *shape)}``."""
        u = np.asarray(u, dtype=np.float64)
        rows = np.ascontiguousarray(u.reshape((-1, self.dim)))
        out = np.empty((rows.shape[0], sum(p.size for p in self.params)))
        self.write_array(rows, out, tparams=False, gqs=False)
        res, k = {}, 0
        for p in self.params:
            res[p.name] = _c_order(out[:, k:k + p.size], p.shape).reshape(u.shape[:-1] + p.shape)
            k += p.size
        return res

    def unconstrain(self, values: dict) -> np.ndarray:
        """Constrained values of every parameter -> the unconstrained vector (d,) (Stan's
        ``transform_inits``)."""
        if not isinstance(values, dict):
            raise TypeError(f"values must be a dict {{parameter: value}}, got {type(values).__name__}")
        names = [p.name for p in self.params]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"values: {', '.join(map(repr, unknown))} is not a parameter of the model "
                             f"(its parameters: {', '.join(names)})")
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"values: missing {', '.join(map(repr, missing))} (give every parameter)")
        text = json.dumps({k: _jsonable(k, v) for k, v in values.items()})
        out = np.empty(self.dim)
        err = ctypes.c_void_p()
        rc = self.lib.lib.fastmc_stan_unconstrain(self.ptr, text.encode(), out.ctypes.data, ctypes.byref(err))
        if rc != 0:
            raise ValueError(f"values: {_stan_message(self.lib.take_string(err.value))}")
        return out


# ------------------------------------------------------------------------------ layout
def _c_order(block: np.ndarray, shape: tuple) -> np.ndarray:
    """(n, prod(shape)) values in Stan's column-major order -> (n, *shape) in C order."""
    n = block.shape[0]
    if len(shape) < 2:
        return block.reshape((n, *shape))
    k = len(shape)
    return np.ascontiguousarray(block.reshape((n, *shape[::-1])).transpose((0, *range(k, 0, -1))))


class StanLayout(Layout):
    """A Stan model's layout: its parameters (constrained shapes; the unconstrained block of each
    in the flat vector), then its transformed parameters and generated quantities as
    ``deterministics``, with Stan's names. Stan's column-major order of each variable's values is
    turned into NumPy's C order (``theta[i, j]`` is Stan's ``theta[i + 1, j + 1]``).

    :meth:`constrain` runs the model's ``write_array``: generated quantities of draw i of chain c
    use Stan's generator seeded from (seed, c, i), so they are reproducible like the draws.
    """

    #: the results pass their seed to :meth:`constrain` (generated quantities)
    uses_seed = True

    def __init__(self, params, deterministics, model):
        super().__init__(params, None, deterministics)
        self._model = model
        self.n_values = sum(p.size for p in (*self.params, *self.deterministics))

    @property
    def has_transforms(self) -> bool:
        return True

    def constrain(self, draws, *, seed=0, warmup=False) -> dict:
        """Unconstrained draws (chains, n, d) (or (n, d), (d,)) -> ``{name: (chains, n, *shape)}``
        for every parameter, transformed parameter and generated quantity.

        Parameters
        ----------
        draws : array_like, shape (..., d)
        seed : int
            The run's seed: the generated quantities of draw i of chain c (the first axis of a
            3-d ``draws``) use Stan's generator seeded from (seed, c, i).
        warmup : bool
            Draws of the warm-up: another stream of the generator.
        """
        draws = np.asarray(draws, dtype=np.float64)
        if draws.shape[-1] != self.dim:
            raise ValueError(f"draws must have last axis d = {self.dim}, got shape {draws.shape}")
        lead = draws.shape[:-1]
        rows = draws.reshape((-1, self.dim)) if draws.ndim != 3 else draws
        chains = rows[None] if rows.ndim == 2 else rows
        out = np.empty((chains.shape[0], chains.shape[1], self.n_values))
        for c in range(chains.shape[0]):
            self._model.write_array(chains[c], out[c], seed=seed, stream=c | (1 << 31 if warmup else 0))
        flat = out.reshape((-1, self.n_values))
        res, k = {}, 0
        for p in (*self.params, *self.deterministics):
            res[p.name] = _c_order(flat[:, k:k + p.size], p.shape).reshape(lead + p.shape)
            k += p.size
        return res

    def unconstrain(self, values: dict) -> np.ndarray:
        """Constrained values of every parameter ``{name: value}`` -> the flat vector (d,), by
        Stan's ``transform_inits``.

        Raises
        ------
        ValueError
            Naming a missing or unknown parameter, a wrong shape, or a value outside its
            support (Stan's message).
        """
        return self._model.unconstrain(values)


# ------------------------------------------------------------------------------ target
class StanTarget(Target):
    """A compiled Stan program with its data (see :func:`from_stan`).

    Attributes
    ----------
    layout : StanLayout
        Parameters, transformed parameters and generated quantities, with Stan's names.
    library : pathlib.Path
        The compiled shared library (in the cache).
    compile_info : dict
        ``compiled`` (False when the library came from the cache), ``seconds``,
        ``stan_version``, ``key``, ``warnings``.
    program : str
        The program text.
    """

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.layout.params)
        return f"StanTarget(dim={self.dim}, params=[{names}])"

    def constrain_params(self, u) -> dict:
        """The parameters (only) at unconstrained points u (..., d): ``{name: (..., *shape)}``."""
        return self._stan.constrain_params(u)

    def unconstrain(self, values: dict) -> np.ndarray:
        """Constrained values of every parameter ``{name: value}`` -> the unconstrained vector
        (d,) (Stan's ``transform_inits``); a ValueError with Stan's message names a missing
        parameter, a wrong shape or a value outside the support."""
        return self._stan.unconstrain(values)

    # ---------------------------------------------------------------- start points
    def initial_points(self, chains: int, seed: int = 0) -> np.ndarray:
        """Start points, shape (chains, d): Stan's default, uniform(-2, 2) on the unconstrained
        scale, drawn from (seed, c) for chain c (again, up to 100 times, where the log density or
        its gradient is not finite), with the parameters given as ``inits`` to :func:`from_stan`
        put in their place (constrained values; Stan's partial inits).

        Raises
        ------
        ValueError
            When no finite start point is found in 100 tries, with Stan's last message.
        """
        chains = as_int("chains", chains, minimum=1)
        out = np.empty((chains, self.dim))
        inits = self._inits
        for c in range(chains):
            rng = np.random.default_rng(np.random.SeedSequence((int(seed), c)))
            given = inits[c % len(inits)] if inits else None
            for attempt in range(100):
                u = rng.uniform(-2.0, 2.0, self.dim)
                if given:
                    values = self.constrain_params(u)
                    values.update(given)
                    u = self.unconstrain(values)
                rc, _, _, msg = self._stan.logp_explained(u)
                if rc == 0:
                    break
                if given and len(given) == len(self.layout.params):
                    raise ValueError(f"inits: the log density is not finite at the initial values of chain {c}: {msg}")
            else:
                raise ValueError(f"no start point with a finite log density and gradient in 100 draws of "
                                 f"uniform(-2, 2) on the unconstrained scale (chain {c}); Stan says: {msg}")
            out[c] = u
        return out


def _as_inits(inits, names):
    """``inits`` -> a list of dicts (one per chain, recycled) of constrained values."""
    if inits is None:
        return []
    if isinstance(inits, (str, os.PathLike)):
        path = Path(inits)
        if not path.is_file():
            raise ValueError(f"inits: no JSON file at {str(path)!r}")
        inits = json.loads(path.read_text())
    seq = [inits] if isinstance(inits, dict) else inits
    if not isinstance(seq, (list, tuple)) or not seq or not all(isinstance(d, dict) for d in seq):
        raise TypeError("inits must be a dict {parameter: constrained value}, a list of such dicts (one per "
                        "chain) or the path of a JSON file")
    for d in seq:
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"inits: {', '.join(map(repr, unknown))} is not a parameter of the model (its "
                             f"parameters: {', '.join(names)})")
    return [dict(d) for d in seq]


def _read_variables(text: str):
    params, dets, unc = [], [], []
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[0] == "u":
            unc.append(parts[1].split(".")[0])
            continue
        kind, name, dims = parts
        shape = tuple(int(s) for s in dims.split(",")) if dims else ()
        (params if kind == "p" else dets).append((name, shape, kind))
    return params, dets, unc


def from_stan(program, data=None, *, inits=None, cache_dir=None, compiler=None, cxxflags=(), data_seed=0,
              check_gradient=False) -> StanTarget:
    """A Stan program and its data as a fastmc target.

    Parameters
    ----------
    program : str or os.PathLike
        The program text, or the path of a ``.stan`` file (its directory is searched for
        ``#include`` files).
    data : dict, str or os.PathLike, optional
        ``{name: value}`` (numbers, nested lists or arrays; a matrix ``x[i, j]`` is ``x[i][j]``,
        NumPy's C order) or the path of a JSON file in CmdStan's format (posteriordb's too).
    inits : dict, list of dict, str or os.PathLike, optional
        Constrained initial values ``{parameter: value}``, one dict for every chain or a list
        (chain c takes ``inits[c % len(inits)]``), or a JSON file; parameters not given start
        at Stan's default, uniform(-2, 2) on the unconstrained scale from (seed, chain).
    cache_dir : str or os.PathLike, optional
        Where compiled libraries are kept (default ``$FASTMC_STAN_CACHE``, else
        ``~/.cache/fastmc/stan``).
    compiler : str, optional
        The C++ compiler (default ``$CXX``, else ``g++``, ``clang++``, ``c++``).
    cxxflags : sequence of str
        Extra compiler flags, e.g. ``["-march=native"]`` (part of the cache key).
    data_seed : int
        Seed of the model's transformed data block (its ``_rng`` functions).
    check_gradient : bool
        Compare the gradient with finite differences at the start point (Stan's autodiff is
        exact, so off by default).

    Returns
    -------
    StanTarget
        ``dim`` = number of unconstrained parameters; ``layout`` names every parameter,
        transformed parameter and generated quantity (Stan's shapes, C order); samplers given
        ``x0=None`` start from :meth:`StanTarget.initial_points`. The log density is Stan's
        ``log_prob<propto=true, jacobian=true>`` on the unconstrained space; an exception in the
        model (a failed check, ``reject``) is a rejected proposal, counted in
        ``result.n_nonfinite``.

    Raises
    ------
    ImportError
        Without httpstan (``pip install "fastmc[stan]"``).
    ValueError
        stanc's message (with the line) for a program it rejects; Stan's message, naming the
        variable, for missing or mis-shaped data; a program without parameters; bad ``inits``.
    RuntimeError
        When no C++ compiler is found, or compiling fails (the compiler's messages).

    Examples
    --------
    >>> t = fastmc.Target.from_stan("eight_schools.stan", "eight_schools.json")   # doctest: +SKIP
    >>> r = fastmc.nuts(t, None, 1000, seed=1)                                     # doctest: +SKIP
    >>> r.posterior["theta"].shape, r.to_arviz()                                  # doctest: +SKIP
    """
    data_seed = as_int("data_seed", data_seed, minimum=0, maximum=2**32 - 1)
    for name, flag in (("check_gradient", check_gradient),):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    data_text = _data_json(data)  # bad data types fail before any compiling
    path, info = compile_stan(program, cache_dir=cache_dir, compiler=compiler, cxxflags=cxxflags)
    declared = info["program"].get("inputs", {})
    given = set(json.loads(data_text))
    missing = [n for n in declared if n not in given]
    if missing:  # Stan's own message for this says "mismatch in number dimensions"
        raise ValueError(f"data: missing {', '.join(map(repr, missing))} (the program's data block declares "
                         f"{', '.join(declared)})")
    lib = _Library.load(path)
    err = ctypes.c_void_p()
    model = lib.lib.fastmc_stan_new(data_text.encode(), data_seed, ctypes.byref(err))
    if not model:
        raise ValueError(f"data: {_stan_message(lib.take_string(err.value))}")
    stan = _StanModel(lib, model, int(lib.lib.fastmc_stan_dim(model)))  # deletes the instance when unused
    params, dets, unc = _read_variables(lib.take_string(lib.lib.fastmc_stan_variables(model)))
    d = stan.dim
    if d == 0:
        raise ValueError("program has no parameters (or all of them have size 0): there is nothing to sample")
    counts = {}
    for n in unc:
        counts[n] = counts.get(n, 0) + 1
    ps = []
    for name, shape, _ in params:
        size = int(np.prod(shape, dtype=np.int64))
        k = counts.get(name, 0)
        # Stan's name for the unconstrained block too; its own length where a transform changes it
        # (a simplex of K values has K - 1 unconstrained coordinates)
        ps.append(Param(shape, None, None, None, None, name, name, None if k == size else (k,)))
    ds = [Param(shape, None, None, None, None, name) for name, shape, _ in dets]
    stan.params = tuple(ps)

    # the C function reads the model's address from its data buffer (fastmc's data are float64)
    t = StanTarget("cfunc", d, address=lib.logp_address,
                   data=np.array([model], dtype=np.uint64).view(np.float64), check_gradient=check_gradient)
    t._stan = stan
    t._keepalive = stan
    t.library = path
    t.compile_info = info
    t.program = _program_text(program)[0]
    t.layout = StanLayout(ps, ds, stan)
    t._inits = _as_inits(inits, [p.name for p in ps])
    defaults = stan.constrain_params(np.zeros(d))
    for c, given in enumerate(t._inits):  # shapes and supports checked now, one name at a time
        for name, value in given.items():
            try:
                stan.unconstrain({**defaults, name: value})
            except (TypeError, ValueError) as exc:
                where = f"inits[{c}]" if isinstance(inits, (list, tuple)) else "inits"
                raise type(exc)(f"{where}[{name!r}]: {str(exc).removeprefix('values: ')}") from None
    # it travels to executor workers as this call (fastmc/targets/_travel.py): a worker loads the
    # library from the cache (a cache_dir on a shared file system), or compiles it once
    t._recipe = ("stan", (program, data), dict(inits=inits, cache_dir=cache_dir, compiler=compiler,
                                               cxxflags=tuple(cxxflags), data_seed=data_seed,
                                               check_gradient=check_gradient))
    t._blob = None
    return t
