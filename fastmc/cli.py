"""The ``fastmc`` command line (also ``python -m fastmc``).

Subcommands: ``sample`` (sample the target a Python file defines), ``summary`` (the diagnostics
table of a stored run), ``resume`` (continue a stored run), ``vae`` (train the variational
autoencoder) and ``demo`` (what a bare ``fastmc`` runs). ``fastmc --help`` lists them.

Exit codes, the same for every subcommand: 0 success, 1 sampling problems reported (divergences,
R-hat, low ESS, a target that stopped the run or failed), 2 bad input, 130 interrupted (Ctrl-C;
the draws made so far are summarised, and written with ``--output`` / ``--store``).
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import runpy
import sys
import traceback
import warnings
import zipfile

import numpy as np

__all__ = ["main", "build_parser", "demo", "load_model", "save_npz", "load_npz"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SAMPLERS = ("nuts", "hmc", "rwmh")

# Subcommands whose own parsers take the rest of the command line; listed in the top-level help.
_PASS_THROUGH = {
    "vae": "train a VAE / IWAE / wake-sleep model on MNIST and print test bounds (fastmc vae --help)",
    "demo": "sample the built-in 2-D mixture with RWMH and HMC and print diagnostics (the default)",
}


class UsageError(Exception):
    """Bad input found by the command line itself: exit code 2, message names the argument."""


# --------------------------------------------------------------------------- the demo
def _fmt_vec(v, fmt="8.4f") -> str:
    return "[" + ", ".join(f"{x:{fmt}}" for x in np.ravel(v)) + "]"


def _report(name: str, result, mix, out) -> None:
    from .diagnostics import ess, rhat

    flat = result.flat_draws()
    bulk = ess(result.draws, method="bulk")
    tail = ess(result.draws, method="tail")
    rh = rhat(result.draws)
    print(f"\n{name}  ({result.n_chains} chains x {result.n_samples} draws, backend={result.backend})", file=out)
    print(f"  acceptance rate     {_fmt_vec(result.acceptance_rate)}", file=out)
    print(f"  mean     sample     {_fmt_vec(flat.mean(0))}", file=out)
    print(f"           exact      {_fmt_vec(mix.mean())}", file=out)
    print(f"  cov      sample     {_fmt_vec(np.cov(flat.T))}", file=out)
    print(f"           exact      {_fmt_vec(mix.cov())}", file=out)
    print(f"  ESS bulk            {_fmt_vec(bulk, '8.0f')}", file=out)
    print(f"  ESS tail            {_fmt_vec(tail, '8.0f')}", file=out)
    print(f"  R-hat (rank)        {_fmt_vec(rh)}", file=out)
    print(f"  min bulk ESS / s    {bulk.min() / result.wall_time:,.0f}", file=out)
    print(f"  draws / s           {result.draws_per_second:,.0f}", file=out)
    print(f"  wall time           {result.wall_time * 1e3:.1f} ms", file=out)
    if result.divergent is not None:
        print(f"  divergent           {int(result.divergent.sum())}", file=out)


def demo(argv=None, out=None) -> int:
    """Sample the default 2-D, 3-component mixture (workload T1) with RWMH and HMC and print
    acceptance, moments against the exact ones, ESS, R-hat and speed."""
    import fastmc

    out = out or sys.stdout
    p = argparse.ArgumentParser(prog="fastmc demo", description=demo.__doc__)
    p.add_argument("--chains", type=_positive_int, default=4)
    p.add_argument("--seed", type=_seed, default=20240601)
    p.add_argument("--backend", default="auto", choices=["auto", "cpp", "numba"])
    p.add_argument("--rwmh-samples", type=_positive_int, default=200_000)
    p.add_argument("--hmc-samples", type=_positive_int, default=20_000)
    args = p.parse_args(argv)
    mix, s = fastmc.workloads.workload("T1")
    print(f"fastmc {_version()}: backends available {fastmc.available_backends()}", file=out)
    print(f"target: default 2-D mixture, K={mix.n_components}, weights {mix.weights}", file=out)
    x0 = np.zeros(mix.dim)
    r = fastmc.rwmh(mix, x0, args.rwmh_samples, scale=s["rwmh_sigma"], chains=args.chains, seed=args.seed,
                    backend=args.backend)
    _report(f"RWMH (scale {s['rwmh_sigma']})", r, mix, out)
    h = fastmc.hmc(mix, x0, args.hmc_samples, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], chains=args.chains,
                   seed=args.seed, backend=args.backend)
    _report(f"HMC (step {s['hmc_eps']}, {s['hmc_L']} leapfrog steps)", h, mix, out)
    return EXIT_OK


# --------------------------------------------------------------------------- argument types
def _int_at_least(minimum):
    """An argparse type: an integer >= minimum."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}")
        return v

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def _seed(text):
    v = _nonnegative_int(text)
    if v >= 2**64:
        raise argparse.ArgumentTypeError(f"must be < 2**64, got {v}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def _probability(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return v


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with the ``sample``, ``summary`` and ``resume`` subcommands.

    ``vae`` and ``demo`` appear in its help; their arguments are parsed by their own parsers.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = argparse.ArgumentParser(
        prog="fastmc",
        description="Fast Markov chain Monte Carlo from the command line.",
        epilog="Exit codes: 0 success, 1 sampling problems reported, 2 bad input, 130 interrupted. "
        "Without a subcommand, fastmc runs demo.",
    )
    p.add_argument("--version", action="version", version=f"fastmc {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    s = sub.add_parser(
        "sample",
        help="sample the target a Python file defines and print the diagnostics table",
        description="Sample MODEL, a Python file that defines `target` (a fastmc.Target or "
        "fastmc.GaussianMixture) and optionally `x0` (start point(s), shape (d,) or (chains, d); "
        "default: uniform in (-2, 2) per chain, as Stan), then print the diagnostics table and "
        "any warnings.",
        epilog="Exit codes: 0 success, 1 sampling problems reported, 2 bad input, 130 interrupted.",
    )
    s.add_argument("model", metavar="MODEL.py", help="Python file defining `target` (and optionally `x0`), or a "
                   "Stan program MODEL.stan (the stan extra: compiled, or found in the cache)")
    s.add_argument("--data", metavar="DATA.json", default=None,
                   help="a Stan program's data, a JSON file in CmdStan's format")
    s.add_argument("--sampler", choices=SAMPLERS, default="nuts", help="default nuts")
    s.add_argument("--chains", type=_positive_int, default=4, metavar="N", help="default 4")
    s.add_argument("--draws", type=_positive_int, metavar="N", default=1000, help="kept draws per chain (default 1000)")
    s.add_argument("--warmup", type=_nonnegative_int, metavar="N", default=1000,
                   help="warm-up iterations per chain, adapting step size and metric (or the RWMH proposal); "
                   "default 1000")
    s.add_argument("--seed", type=_seed, default=None, metavar="S", help="default: fresh entropy, printed so the run can be repeated")
    s.add_argument("--backend", choices=("auto", "cpp", "numba"), default="auto")
    s.add_argument("--threads", type=_positive_int, metavar="N", default=None, help="worker threads (default min(chains, CPUs))")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress display (default: on when stderr is a terminal)")
    s.add_argument("--output", metavar="PATH.npz", default=None,
                   help="write draws and sample statistics to this .npz file (read back by fastmc summary)")
    s.add_argument("--store", metavar="PATH.zarr", default=None,
                   help="store the run in a zarr store as it samples (for fastmc resume / summary)")
    g = s.add_argument_group("sampler settings (each applies to the samplers named)")
    g.add_argument("--target-accept", type=_probability, metavar="P", default=None,
                   help="nuts, hmc: target of the step-size adaptation (default 0.8); rwmh: target "
                   "acceptance rate of the scale adaptation (default 0.234, 0.44 in 1-D)")
    g.add_argument("--max-treedepth", type=_positive_int, metavar="N", default=None, help="nuts (default 10)")
    g.add_argument("--metric", choices=("diag", "dense", "unit"), default=None,
                   help="nuts, hmc: adapted inverse metric (default diag); rwmh: unit adapts a scalar "
                   "scale (default), dense also the proposal covariance")
    g.add_argument("--adapt", choices=("stan", "fisher"), default=None,
                   help="nuts, hmc: how warm-up adapts a diagonal metric: Stan's windows of the draws "
                   "(default), or fisher, from the draws and their gradients")
    g.add_argument("--step-size", type=_positive_float, metavar="EPS", default=None,
                   help="nuts, hmc: initial step size (default 1), or the step size with --warmup 0 "
                   "(required then for hmc)")
    g.add_argument("--n-leapfrog", type=_positive_int, metavar="L", default=None, help="hmc: leapfrog steps per draw")
    g.add_argument("--integration-time", type=_positive_float, metavar="T", default=None,
                   help="hmc: trajectory length in time (default 2*pi, as Stan, unless --n-leapfrog)")
    g.add_argument("--scale", type=_positive_float, metavar="SIGMA", default=None,
                   help="rwmh: proposal standard deviation, the start of its adaptation (default 2.38/sqrt(d))")
    s.set_defaults(func=cmd_sample)

    m = sub.add_parser(
        "summary",
        help="print the diagnostics table of a stored run (a --store zarr store or an --output .npz file)",
        description="Print the diagnostics table and warnings of a stored run.",
        epilog="Exit codes: 0 success, 1 sampling problems reported, 2 bad input.",
    )
    m.add_argument("path", metavar="PATH", help="a zarr store written with --store, or a .npz file written with --output")
    m.set_defaults(func=cmd_summary)

    r = sub.add_parser(
        "resume",
        help="continue a stored run from where it stopped and print its diagnostics table",
        description="Continue a run stored with --store (interrupted, killed or finished) with "
        "fastmc.resume, then print the diagnostics table and warnings.",
        epilog="Exit codes: 0 success, 1 sampling problems reported, 2 bad input, 130 interrupted.",
    )
    r.add_argument("path", metavar="PATH.zarr", help="the store written by fastmc sample --store")
    r.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress display (default: on when stderr is a terminal)")
    r.add_argument("--output", metavar="PATH.npz", default=None, help="also write the result to this .npz file")
    r.set_defaults(func=cmd_resume)

    for name, text in _PASS_THROUGH.items():
        sub.add_parser(name, help=text, add_help=False)
    return p


def _version() -> str:
    """The installed distribution's version, or the package's when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version("fastmc")
    except metadata.PackageNotFoundError:
        import fastmc

        return getattr(fastmc, "__version__", "unknown")


# --------------------------------------------------------------------------- model files
def load_model(path):
    """Run a model file and return its ``target`` and ``x0``.

    Parameters
    ----------
    path : str or os.PathLike
        A Python file that defines ``target`` (a :class:`fastmc.Target` or
        :class:`fastmc.GaussianMixture`) and optionally ``x0``.

    Returns
    -------
    target : fastmc.Target or fastmc.GaussianMixture
    x0 : array_like or None

    Raises
    ------
    UsageError
        The file is missing, raises while it runs, does not define ``target``, or ``target``
        has the wrong type.
    """
    from .targets import GaussianMixture, Target

    path = os.fspath(path)
    if not os.path.exists(path):
        raise UsageError(f"MODEL: no such file {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"MODEL: {path!r} is a directory; give a Python file that defines `target`")
    # as `python MODEL.py` would: the model may import modules that sit next to it
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        ns = runpy.run_path(path, run_name="__fastmc_model__")
    except Exception as exc:  # the user's code failed: show them where, from their file on
        tb = exc.__traceback__
        while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != os.path.abspath(path):
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
        raise UsageError(f"MODEL: running {path!r} raised {type(exc).__name__}:\n{text.rstrip()}") from None
    if "target" not in ns:
        defined = sorted(k for k in ns if not k.startswith("_"))
        raise UsageError(f"MODEL: {path!r} does not define `target` (a fastmc.Target or fastmc.GaussianMixture); "
                         f"it defines {', '.join(defined) or 'nothing'}")
    target = ns["target"]
    if not isinstance(target, (Target, GaussianMixture)):
        raise UsageError(f"MODEL: `target` in {path!r} must be a fastmc.Target or fastmc.GaussianMixture, "
                         f"got {type(target).__name__}")
    return target, ns.get("x0")


def _load_stan(path, data):
    """``Target.from_stan`` of a program file and its data; bad input is a UsageError naming it."""
    from .targets import Target

    if not os.path.isfile(path):
        raise UsageError(f"MODEL: no such file {path!r}")
    if data is not None and not os.path.isfile(data):
        raise UsageError(f"--data: no such file {data!r}")
    try:
        return Target.from_stan(path, data)
    except ImportError as exc:
        raise UsageError(f"MODEL: {exc}") from None
    except (ValueError, TypeError, RuntimeError) as exc:
        where = "--data" if str(exc).startswith("data") else "MODEL"
        raise UsageError(f"{where}: {exc}") from None


def _default_start(target, chains, seed, tries=100):
    """Stan's default initialisation: each coordinate uniform in (-2, 2), redrawn (up to ``tries``
    times per chain) where the log density is not finite; seeded from ``seed`` so a run repeats."""
    rng = np.random.default_rng([seed, 0x5354])  # its own stream, apart from the chains' (seed, c)
    x = rng.uniform(-2.0, 2.0, size=(chains, target.dim))
    for _ in range(tries):
        with np.errstate(all="ignore"):
            lp = np.atleast_1d(target.logpdf(x))
        bad = ~np.isfinite(lp)
        if not bad.any():
            break
        x[bad] = rng.uniform(-2.0, 2.0, size=(int(bad.sum()), target.dim))
    return x  # the sampler names any chain still without a finite density


# --------------------------------------------------------------------------- npz files
_ARRAYS = ("draws", "log_density", "accepted", "n_nonfinite", "accept_prob", "energy", "divergent",
           "n_grad_evals", "n_done")


def _jsonable(v):
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray) and v.size <= 64:
        return v.tolist()
    if isinstance(v, (list, tuple)) and len(v) <= 64:
        return [_jsonable(x) for x in v]
    return None  # large or unusual settings are not worth a file format


def save_npz(result, path) -> None:
    """Write a result's draws and sample statistics to an ``.npz`` file.

    Parameters
    ----------
    result : fastmc.SamplingResult
    path : str or os.PathLike
        Written as given (NumPy would append ``.npz`` to a name without it; the command line
        requires the suffix).

    Notes
    -----
    The file holds the arrays of :data:`_ARRAYS` that the result has, ``sample_stats.<name>``
    for each sample statistic, and ``meta``: JSON with the sampler, seed, backend, wall time,
    the settings that are plain values, and whether the run was interrupted. :func:`load_npz`
    reads it back.
    """
    arrays = {k: np.asarray(getattr(result, k)) for k in _ARRAYS if getattr(result, k, None) is not None}
    for k, v in (result.sample_stats or {}).items():
        arrays[f"sample_stats.{k}"] = np.asarray(v)
    settings = {k: _jsonable(v) for k, v in (result.settings or {}).items()}
    meta = dict(sampler=result.sampler, seed=int(result.seed), backend=result.backend,
                wall_time=float(result.wall_time), settings={k: v for k, v in settings.items() if v is not None},
                interrupted=bool(getattr(result, "interrupted", False)))
    names = getattr(result, "names", None)
    if names is not None:
        meta["names"] = [str(n) for n in names]
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)


def load_npz(path):
    """Read a file written by :func:`save_npz` (``fastmc sample --output``).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    fastmc.SamplingResult
        With the saved labels (``_file_names``) and ``interrupted`` set from the file.

    Raises
    ------
    ValueError
        The file is not an ``.npz`` archive with a ``draws`` array of shape (chains, n, d).
    """
    from .results import SamplingResult

    if not zipfile.is_zipfile(path):
        raise ValueError(f"{os.fspath(path)!r} is not an .npz file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # damaged or not ours
        raise ValueError(f"{os.fspath(path)!r} is not an .npz file ({exc})") from None
    if not hasattr(z, "files"):
        raise ValueError(f"{os.fspath(path)!r} holds one array, not the .npz archive fastmc sample --output writes")
    with z:
        if "draws" not in z.files:
            raise ValueError(f"{os.fspath(path)!r} has no 'draws' array; it was not written by fastmc sample --output")
        a = {k: z[k] for k in z.files}
    draws = a.pop("draws")
    if draws.ndim == 2:
        draws = draws[:, :, None]
    if draws.ndim != 3:
        raise ValueError(f"'draws' in {os.fspath(path)!r} must have shape (chains, n, d), got {draws.shape}")
    meta = json.loads(str(a.pop("meta"))) if "meta" in a else {}
    c, n = draws.shape[:2]
    stats = {k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("sample_stats.")}
    res = SamplingResult(
        meta.get("sampler", "unknown"), draws,
        a.get("log_density", np.full((c, n), np.nan)),
        a.get("accepted", np.zeros((c, n), dtype=bool)),
        a.get("n_nonfinite", np.zeros(c, dtype=np.int64)),
        meta.get("wall_time", 0.0), meta.get("seed", 0), meta.get("backend", "unknown"),
        meta.get("settings", {}),
        accept_prob=a.get("accept_prob"), energy=a.get("energy"), divergent=a.get("divergent"),
        n_grad_evals=a.get("n_grad_evals"), n_done=a.get("n_done"), sample_stats=stats,
    )
    res._file_names = meta.get("names")  # the saved labels (the file keeps no layout)
    res.interrupted = bool(meta.get("interrupted", False))
    return res


def _check_output_path(path, option, suffix=None):
    """A UsageError naming ``option`` unless a file can be created at ``path``: checked before
    sampling, since a late error would lose the run."""
    if suffix and not os.fspath(path).endswith(suffix):
        raise UsageError(f"{option}: {path!r} must end in {suffix}")
    full = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(full)
    if os.path.isdir(full) and suffix == ".npz":
        raise UsageError(f"{option}: {path!r} is a directory; give a file name")
    if not os.path.isdir(parent):
        raise UsageError(f"{option}: directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option}: directory {parent!r} is not writable")


# --------------------------------------------------------------------------- reporting
def _kept(result):
    """(chains, m): the chains with at least two draws and the draws all of them completed; every
    chain and all its draws unless the run stopped early (a Python target's later chains may not
    have started)."""
    n_done = getattr(result, "n_done", None)
    if n_done is None or np.size(n_done) == 0:
        return np.arange(result.n_chains), result.n_samples
    done = np.minimum(np.asarray(n_done), result.n_samples)
    chains = np.flatnonzero(done >= 2)
    if chains.size == 0:
        return np.arange(result.n_chains), int(max(0, done.min()))
    return chains, int(done[chains].min())


def _n_kept(result) -> int:
    """Draws every chain completed (all of them unless the run stopped early)."""
    n_done = getattr(result, "n_done", None)
    if n_done is None or np.size(n_done) == 0:
        return result.n_samples
    return int(max(0, min(result.n_samples, int(np.min(n_done)))))


def _names(result, d):
    names = getattr(result, "_file_names", None) or getattr(result, "names", None)
    if names is not None and len(names) == d:
        return [str(n) for n in names]
    return None


def print_report(result, out=None) -> bool:
    """Print a run's header line and diagnostics table.

    Parameters
    ----------
    result : fastmc.SamplingResult
    out : file-like, optional
        Default ``sys.stdout``.

    Returns
    -------
    bool
        Whether a table was printed (a run stopped before two draws per chain has none).
    """
    from .diagnostics import summary

    out = sys.stdout if out is None else out
    keep, m = _kept(result)
    settings = result.settings or {}
    warm = settings.get("n_warmup")
    asked = int(settings.get("n_samples", result.n_samples))  # a stopped run's arrays end early
    head = f"{result.sampler}: {result.n_chains} chains x {asked} draws"
    if warm:
        head += f" after {warm} warm-up"
    head += f", backend {result.backend}, seed {result.seed}, {result.wall_time:.3g} s"
    print(head, file=out)
    if m < asked:
        which = "every chain" if keep.size == result.n_chains else f"chains {keep.tolist()}"
        print(f"stopped early: the table uses the first {m} draws of {which} "
              f"(draws done per chain: {np.asarray(result.n_done).tolist()})", file=out)
    if m < 2:
        print("too few draws for a diagnostics table", file=out)
        return False
    draws = result.draws[keep, :m]
    with warnings.catch_warnings():
        # the run's own checks report what matters; the table's NaN cells speak for themselves
        warnings.simplefilter("ignore")
        table = summary(draws, names=_names(result, result.dim))
    print(table, file=out)
    extra = []
    if result.divergent is not None:
        extra.append(f"divergent {int(result.divergent[keep, :m].sum())} of {result.divergent[keep, :m].size}")
    acc = result.accept_prob if result.accept_prob is not None else result.accepted
    if acc is not None and np.size(acc):
        extra.append(f"mean acceptance {float(np.mean(acc[keep, :m])):.3f}")
    state = getattr(result, "state", None)
    if state is not None and getattr(state, "step_size", None) is not None:
        extra.append("step size " + ", ".join(f"{s:.3g}" for s in np.ravel(state.step_size)[:8]))
    if extra:
        print("; ".join(extra), file=out)
    return True


class _WarningLog:
    """The warnings of a run, recorded for the exit code and printed as ``warning: ...``.

    Warnings raised before or during sampling (a doubtful gradient at the start point, a target
    that stopped the run, Ctrl-C) print at once, while the run may still take hours; the verdict
    on a finished run (:class:`fastmc.SamplingWarning`) prints after the table it is about.
    """

    def __enter__(self):
        self._saved = warnings.catch_warnings()
        self._saved.__enter__()  # restores the filters and showwarning on exit
        warnings.simplefilter("always")
        warnings.showwarning = self._show
        self.items = []
        return self

    def __exit__(self, *exc_info):
        return self._saved.__exit__(*exc_info)

    def _show(self, message, category, filename, lineno, file=None, line=None):
        from .adaptation import SamplingWarning

        if issubclass(category, (DeprecationWarning, PendingDeprecationWarning)):
            return
        item = (category, str(message))
        if item in self.items:  # "always" lets repeats through: report each once
            return
        self.items.append(item)
        if not issubclass(category, SamplingWarning):
            print(f"warning: {item[1]}", file=sys.stderr)

    def print_verdict(self):
        """Print the SamplingWarnings recorded so far."""
        from .adaptation import SamplingWarning

        for category, text in self.items:
            if issubclass(category, SamplingWarning):
                print(f"warning: {text}", file=sys.stderr)

    def problems(self) -> bool:
        """Whether a warning reports a sampling problem (the run's checks or a bad gradient)."""
        from .adaptation import SamplingWarning
        from .targets import GradientCheckWarning

        return any(issubclass(c, (SamplingWarning, GradientCheckWarning)) for c, _ in self.items)


def _after_run(result, log, *, checked: bool, max_treedepth=None, output=None) -> int:
    """Report a finished (or stopped) run and decide the exit code.

    ``checked``: the sampler already ran the post-sampling checks (NUTS, HMC with warm-up);
    otherwise they run here, so every sampler is judged by the same rules.
    """
    from .adaptation import warn_after_sampling

    interrupted = bool(getattr(result, "interrupted", False))
    complete = _n_kept(result) == int((result.settings or {}).get("n_samples", result.n_samples))
    if not checked and complete and not interrupted:
        if max_treedepth is None:
            max_treedepth = (result.settings or {}).get("max_treedepth")
        warn_after_sampling(result, max_treedepth=max_treedepth)
    if output is not None:
        save_npz(result, output)
    print_report(result)
    log.print_verdict()
    if output is not None:
        print(f"draws written to {output}", file=sys.stderr)
    if interrupted:
        print("interrupted: the table summarises the draws made before Ctrl-C", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not complete or log.problems():
        return EXIT_PROBLEMS
    return EXIT_OK


def _model_traceback(exc, model_path):
    """The exception's traceback from its first frame in the user's model file, or None."""
    if model_path is None:
        return None
    model_path = os.path.abspath(model_path)
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) != model_path:
        tb = tb.tb_next
    return tb


def _print_target_error(exc, model_path):
    """The user's error as Python would show it, without fastmc's own frames."""
    tb = _model_traceback(exc, model_path)
    if tb is not None:
        lines = traceback.format_exception(type(exc), exc, tb)
    else:  # the type, the message and fastmc's note (chain, iteration)
        lines = traceback.format_exception_only(type(exc), exc)
    sys.stderr.write("".join(lines))


def _run(call, *, model_path=None, checked, max_treedepth=None, output=None, name="sample") -> int:
    """Run a sampling call under the command line's rules for warnings, errors and Ctrl-C."""
    with _WarningLog() as log:
        try:
            result = call()
        except KeyboardInterrupt as exc:
            # an engine that raises instead of returning the partial run
            partial = getattr(exc, "partial_result", None)
            if partial is not None:
                partial.interrupted = True
                return _after_run(partial, log, checked=True, output=output)
            print(f"fastmc {name}: interrupted before any draws were kept", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:
            partial = getattr(exc, "partial_result", None)
            if partial is None and not isinstance(exc, (ValueError, TypeError)):
                raise
            if partial is not None or _model_traceback(exc, model_path) is not None:
                _print_target_error(exc, model_path)  # the user's target failed
            else:
                print(f"fastmc {name}: error: {exc}", file=sys.stderr)
            if partial is None:
                return EXIT_USAGE  # rejected before any sampling
            print(f"fastmc {name}: the target failed during sampling; the draws made before it:",
                  file=sys.stderr)
            if output is not None:
                save_npz(partial, output)
            print_report(partial)
            return EXIT_PROBLEMS
        return _after_run(result, log, checked=checked, max_treedepth=max_treedepth, output=output)


# --------------------------------------------------------------------------- subcommands
_ONLY = {  # option -> samplers it applies to
    "max_treedepth": ("nuts",),
    "n_leapfrog": ("hmc",),
    "integration_time": ("hmc",),
    "scale": ("rwmh",),
    "step_size": ("nuts", "hmc"),
    "adapt": ("nuts", "hmc"),
}


def _accepts(fn, name) -> bool:
    """Whether ``fn`` takes the keyword ``name`` (the progress and store features land separately)."""
    return name in inspect.signature(fn).parameters


def sample_kwargs(args, target):
    """The sampler and its keyword arguments for parsed ``fastmc sample`` arguments.

    Parameters
    ----------
    args : argparse.Namespace
    target : fastmc.Target or fastmc.GaussianMixture

    Returns
    -------
    fn : callable
        :func:`fastmc.nuts`, :func:`fastmc.hmc` or :func:`fastmc.rwmh`.
    kwargs : dict
        Everything but the target and the start point.

    Raises
    ------
    UsageError
        An option that does not apply to the sampler, or a missing one.
    """
    import fastmc

    sampler = args.sampler
    for opt, allowed in _ONLY.items():
        if getattr(args, opt) is not None and sampler not in allowed:
            flag = "--" + opt.replace("_", "-")
            raise UsageError(f"{flag} applies to --sampler {' or '.join(allowed)}, not {sampler}")
    kw = dict(chains=args.chains, seed=args.seed, backend=args.backend, n_threads=args.threads,
              n_warmup=args.warmup)
    if args.target_accept is not None:
        kw["target_accept"] = args.target_accept
    if args.adapt is not None:
        kw["adapt"] = args.adapt
    if sampler == "nuts":
        fn = fastmc.nuts
        kw.update(metric=args.metric, warn=True)
        if args.max_treedepth is not None:
            kw["max_treedepth"] = args.max_treedepth
        if args.step_size is not None:
            kw["step_size"] = args.step_size
    elif sampler == "hmc":
        fn = fastmc.hmc
        if args.n_leapfrog is not None and args.integration_time is not None:
            raise UsageError("give at most one of --n-leapfrog and --integration-time")
        if args.step_size is None and args.warmup == 0:
            raise UsageError("--step-size is required with --sampler hmc --warmup 0 (nothing adapts it)")
        kw.update(step_size=1.0 if args.step_size is None else args.step_size, metric=args.metric, warn=True)
        if args.n_leapfrog is not None:
            kw["n_leapfrog"] = args.n_leapfrog
        else:
            kw["integration_time"] = 2 * math.pi if args.integration_time is None else args.integration_time
    else:
        fn = fastmc.rwmh
        if args.metric == "diag":
            raise UsageError("--metric diag does not apply to --sampler rwmh: use unit (a scalar scale) or dense "
                             "(also adapt the proposal covariance)")
        kw.update(scale=2.38 / math.sqrt(target.dim) if args.scale is None else args.scale,
                  adapt_cov=args.metric == "dense")
    if args.progress is not None and _accepts(fn, "progress"):
        kw["progress"] = args.progress
    if args.store is not None:
        if not _accepts(fn, "store"):
            raise UsageError("--store: this version of fastmc cannot store runs (zarr storage is not there yet); "
                             "use --output PATH.npz")
        _check_output_path(args.store, "--store")
        kw["store"] = args.store
    return fn, kw


def cmd_sample(args) -> int:
    """``fastmc sample``: load the model, sample, report; see :func:`main` for the exit codes."""
    from ._validation import as_seed

    if args.output is not None:
        _check_output_path(args.output, "--output", ".npz")
    if args.model.endswith(".stan"):
        target, x0 = _load_stan(args.model, args.data), None
    elif args.data is not None:
        raise UsageError("--data: only a Stan program (MODEL.stan) takes a data file")
    else:
        target, x0 = load_model(args.model)
    fn, kw = sample_kwargs(args, target)
    kw["seed"] = as_seed(kw["seed"])  # drawn here when not given: the default start points use it too
    checked = args.sampler == "nuts" or (args.sampler == "hmc" and args.warmup > 0)
    max_depth = kw.get("max_treedepth", 10) if args.sampler == "nuts" else None

    def call():  # the default start points evaluate the target: its errors are handled as the run's
        if x0 is not None:
            start = x0
        elif hasattr(target, "initial_points"):  # a Stan program: Stan's own initialisation
            start = target.initial_points(args.chains, kw["seed"])
        else:
            start = _default_start(target, args.chains, kw["seed"])
        return fn(target, start, args.draws, **kw)

    return _run(call, model_path=args.model, checked=checked, max_treedepth=max_depth, output=args.output)


def _missing(name):
    import fastmc

    if not hasattr(fastmc, name):
        raise UsageError(f"this version of fastmc has no fastmc.{name} (zarr storage is not there yet); "
                         "fastmc summary reads .npz files written with fastmc sample --output")
    return getattr(fastmc, name)


def cmd_summary(args) -> int:
    """``fastmc summary``: the diagnostics table of a stored run."""
    from .adaptation import warn_after_sampling

    path = args.path
    if not os.path.exists(path):
        raise UsageError(f"PATH: no such file or directory {path!r}")
    if os.path.isfile(path) and not path.endswith((".zarr", ".zip")):
        try:
            result = load_npz(path)
        except ValueError as exc:
            raise UsageError(f"PATH: {exc}") from None
    else:
        load = _missing("load")
        try:
            result = load(path)
        except (ValueError, TypeError, OSError) as exc:
            raise UsageError(f"PATH: cannot read {path!r}: {exc}") from None
    interrupted = bool(getattr(result, "interrupted", False))
    complete = _n_kept(result) == int((result.settings or {}).get("n_samples", result.n_samples))
    with _WarningLog() as log:
        if complete and not interrupted:
            warn_after_sampling(result, max_treedepth=(result.settings or {}).get("max_treedepth"))
    print_report(result)
    log.print_verdict()
    if interrupted:
        print("this run was interrupted: the table summarises the draws made before Ctrl-C "
              "(fastmc resume continues a stored run)", file=sys.stderr)
    if interrupted or not complete or log.problems():
        return EXIT_PROBLEMS
    return EXIT_OK


def cmd_resume(args) -> int:
    """``fastmc resume``: continue a stored run with :func:`fastmc.resume`."""
    resume = _missing("resume")
    if not os.path.exists(args.path):
        raise UsageError(f"PATH: no such store {args.path!r}")
    if args.output is not None:
        _check_output_path(args.output, "--output", ".npz")
    kw = {}
    if args.progress is not None and _accepts(resume, "progress"):
        kw["progress"] = args.progress
    # the sampler's own checks ran only if the stored run used nuts or warm-up: check again here
    return _run(lambda: resume(args.path, **kw), checked=False, output=args.output, name="resume")


# --------------------------------------------------------------------------- entry point
def main(argv=None) -> int:
    """Run the ``fastmc`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 success, 1 sampling problems reported, 2 bad input, 130 interrupted.
        Argument errors found by argparse exit with 2 through ``SystemExit``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        return demo(argv)  # a bare `fastmc` has always run the demo
    if argv[0] == "demo":
        return demo(argv[1:])
    if argv[0] == "vae":
        from .vae.cli import main as vae_main

        try:
            return vae_main(argv[1:])
        except (FileNotFoundError, ValueError) as exc:  # a missing or malformed data directory
            print(f"fastmc vae: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"fastmc {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside sampling (loading or compiling the model): nothing to keep
        print(f"fastmc {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
