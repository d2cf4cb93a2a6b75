"""Random-walk Metropolis-Hastings and Hamiltonian Monte Carlo over many chains.

The Python layer validates everything before any work, resolves the backend and wraps the
kernels' output in a :class:`~fastmc.results.SamplingResult`. The kernels themselves live in
``csrc/include/fastmc`` (C++) and ``fastmc/_numba`` (Numba twins).
"""
from __future__ import annotations

import os
import time
import warnings

import numpy as np

from . import _backends
from ._validation import (as_float_array, as_int, as_positive_float, as_seed, cholesky_or_raise,
                          require_finite)
from .results import SamplingResult
from .targets import GaussianMixture, Target

__all__ = ["rwmh", "hmc"]


def _check_target(target):
    if not isinstance(target, (GaussianMixture, Target)):
        raise TypeError(f"target must be a fastmc.GaussianMixture or a fastmc.Target, got {type(target).__name__}")
    return target


def _start_points(target, x0, chains: int) -> np.ndarray:
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
    lp = target.logpdf(x, backend="numba" if "cpp" not in _backends.available_backends() else "cpp")
    bad = np.flatnonzero(~np.isfinite(np.atleast_1d(lp)))
    if bad.size:
        raise ValueError(f"x0 for chain {int(bad[0])} has a non-finite log density ({np.atleast_1d(lp)[bad[0]]})")
    if target.check_gradient:
        target._check_gradient_at(x[0])
    return np.ascontiguousarray(x)


def _n_threads(n_threads, chains: int) -> int:
    if n_threads is None:
        return max(1, min(chains, os.cpu_count() or 1))
    return as_int("n_threads", n_threads, minimum=1)


def _proposal(scale, d: int):
    """scale -> (prop, kind): per-dimension sds (kind 0) or transposed lower Cholesky (kind 1)."""
    s = as_float_array("scale", scale, ndim=(0, 1, 2))
    if s.ndim == 0:
        s = np.full(d, as_positive_float("scale", float(s)))
        return s, 0
    if s.ndim == 1:
        if s.shape != (d,):
            raise ValueError(f"scale must be a scalar, shape (d,) = ({d},) or (d, d), got {s.shape}")
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ValueError("scale must be finite and > 0 in every dimension")
        return s, 0
    if s.shape != (d, d):
        raise ValueError(f"scale must be a scalar, shape (d,) = ({d},) or (d, d), got {s.shape}")
    L = cholesky_or_raise("scale (proposal covariance)", s)
    return np.ascontiguousarray(L.T), 1


def _run_numba(fn, n_threads, *args):
    import numba
    from numba.core.errors import NumbaExperimentalFeatureWarning

    old = numba.get_num_threads()
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        # the kernels take the target's compiled functions as arguments on purpose (one kernel for
        # every target): Numba's note that first-class functions are experimental is not for users
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
            return fn(*args)
    finally:
        numba.set_num_threads(old)


_NUMBA_KEYS = {
    "rwmh": ("draws", "log_density", "accepted", "n_nonfinite", "n_done", "adapted", "adapted_kind"),
    "hmc": ("draws", "log_density", "accepted", "accept_prob", "energy", "divergent", "n_grad", "n_nonfinite",
            "n_done"),
}


def _call_kernel(sampler, target, backend, threads, x, first_chain, args):
    """One kernel call over the chains in x (chains, d); returns the binding's dict of outputs."""
    *params, inv_temp, seed = args
    if backend == "cpp":
        fn = getattr(_backends.core(), sampler)
        return fn(target._cpp_spec(), x, *params, inv_temp, seed, first_chain, threads)
    from ._numba import chains

    nt = target._numba_target()
    if sampler == "rwmh":
        fns = (nt.logp, nt.stop, nt.make_work)
        run = chains.rwmh_run
    else:
        fns = (nt.logp_grad, nt.grad, nt.stop, nt.make_work)
        run = chains.hmc_run
    res = _run_numba(run, threads, *fns, nt.tdata, x, *params, inv_temp, np.uint64(seed), first_chain)
    out = dict(zip(_NUMBA_KEYS[sampler], res))
    out["error"] = None
    return out


def _run(sampler, target, backend, threads, x, *args):
    """Run all chains (a Python target's one by one: :func:`_one_chain_at_a_time`)."""
    target._reset()
    t0 = time.perf_counter()
    if target.kind != "python":
        out = _call_kernel(sampler, target, backend, threads, x, 0, args)
    else:
        out = _one_chain_at_a_time(lambda c: _call_kernel(sampler, target, backend, 1, x[c:c + 1], c, args),
                                   x.shape[0])
    out["wall"] = time.perf_counter() - t0
    _clear_after_done(out)
    return out


def _one_chain_at_a_time(run_chain, chains):
    """For a Python target (it holds the GIL anyway): run_chain(c) for c = 0, 1, ... until one
    returns an error, so the chain whose function raised is known and later chains never start.
    The outputs of chains 0..failed_chain, concatenated, with ``error`` and ``failed_chain``."""
    parts = []
    for c in range(chains):
        parts.append(run_chain(c))
        if parts[-1]["error"] is not None:
            break
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "error"}
    out["error"] = parts[-1]["error"]
    out["failed_chain"] = len(parts) - 1
    return out


def _clear_after_done(out):
    """Rows after a chain's n_done (the target stopped sampling) hold NaN / 0, never stale memory."""
    chains, total = out["draws"].shape[:2]
    for c in np.flatnonzero(np.asarray(out["n_done"]) < total):
        t = int(out["n_done"][c])
        for v in out.values():
            if isinstance(v, np.ndarray) and v.shape[:2] == (chains, total):
                v[c, t:] = np.nan if v.dtype.kind == "f" else 0


def _finish(res: SamplingResult, out: dict, n_warmup: int = 0, stacklevel: int = 3) -> SamplingResult:
    """Return the result, or raise the target's exception with the draws done so far attached.
    out["n_done"] counts iterations from the start of the run; ``res.n_done`` from the first kept
    draw (``n_warmup`` earlier). ``stacklevel`` points a warning at the user's call."""
    res.n_done = np.asarray(out["n_done"]) - n_warmup
    n = res.n_samples
    err = out.get("error")
    if err is None:
        if np.any(res.n_done < n):
            warnings.warn(f"the target stopped sampling early: iterations done per chain {res.n_done.tolist()} of "
                          f"{n}; the draws after that are NaN", RuntimeWarning, stacklevel=stacklevel)
        return res
    # out holds chains 0..failed_chain only (_one_chain_at_a_time)
    c = out["failed_chain"]
    t = int(out["n_done"][c])
    where = f"iteration {t} (warm-up included)" if n_warmup else f"iteration {t}"
    err.add_note(f"fastmc: raised by the target in chain {c} at {where}; the draws done so far are on "
                 f"this exception as .partial_result (chains 0..{c}, valid up to n_done per chain)")
    err.partial_result = res
    raise err


def rwmh(target, x0, n_samples, *, scale, chains=1, seed=None, temperature=1.0, backend="auto",
         n_threads=None, n_warmup=0, adapt_scale=True, adapt_cov=False, target_accept=None) -> SamplingResult:
    """Random-walk Metropolis-Hastings with a Gaussian proposal, many chains in parallel.

    Parameters
    ----------
    target : GaussianMixture or Target
        The distribution pi to sample.
    x0 : array_like, shape (d,) or (chains, d)
        Start point(s); each must have a finite log density.
    n_samples : int
        Iterations per chain (all kept), >= 1.
    scale : float, array_like of shape (d,), or array_like of shape (d, d)
        Proposal: ``x' = x + N(0, S)`` with S = scale^2 I, diag(scale^2) or the full covariance
        ``scale``.
    chains : int
        Number of chains, >= 1.
    seed : int or None
        Chain c uses a generator seeded from (seed, c) only: identical draws for any thread count
        and on both backends. ``None`` draws a seed, recorded in the result.
    temperature : float
        T > 0; the chain targets pi(x)^(1/T).
    backend : {"auto", "cpp", "numba"}
        ``FASTMC_BACKEND`` overrides ``"auto"``.
    n_threads : int or None
        Worker threads (default: min(chains, CPU count)). Never changes the draws.
    n_warmup : int
        Warm-up iterations before the kept ones (default 0), returned in ``result.warmup``.
    adapt_scale : bool
        During warm-up, scale the proposal by lambda, tuned by Robbins-Monro
        (log lambda += (alpha - target_accept) m^-0.6, alpha the acceptance probability).
    adapt_cov : bool
        At half of the warm-up, replace the proposal by 2.38^2/d times the (Stan-regularised)
        covariance of the draws of the warm-up's second quarter, then keep tuning lambda.
    target_accept : float, optional
        In (0, 1); default 0.234, or 0.44 in one dimension.

    Returns
    -------
    SamplingResult
        ``draws`` (chains, n, d), ``log_density`` (chains, n), ``accepted`` (chains, n), ...
        With warm-up, ``warmup`` holds the warm-up iterations and ``adapted_scale`` the final
        proposal of each chain, (chains, d) scales or (chains, d, d) covariances: pass
        ``adapted_scale[c]`` back as ``scale`` to sample without warm-up.

    Notes
    -----
    A proposal with a non-finite log density is rejected and counted in ``n_nonfinite``.
    """
    target = _check_target(target)
    n = as_int("n_samples", n_samples, minimum=1)
    chains = as_int("chains", chains, minimum=1)
    inv_temp = 1.0 / as_positive_float("temperature", temperature)
    prop, kind = _proposal(scale, target.dim)
    nw = as_int("n_warmup", n_warmup, minimum=0)
    d = target.dim
    if target_accept is None:
        target_accept = 0.44 if d == 1 else 0.234
    target_accept = as_positive_float("target_accept", target_accept)
    if not target_accept < 1.0:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept}")
    seed = as_seed(seed)
    threads = _n_threads(n_threads, chains)
    backend = _backends.resolve_backend(backend)
    x = _start_points(target, x0, chains)
    out = _run("rwmh", target, backend, threads, x, nw, n, prop, kind, bool(adapt_scale) and nw > 0,
               bool(adapt_cov) and nw > 0, target_accept, inv_temp, seed)
    settings = dict(scale=scale, temperature=1.0 / inv_temp, chains=chains, n_samples=n, n_threads=threads,
                    n_warmup=nw, adapt_scale=bool(adapt_scale), adapt_cov=bool(adapt_cov), target_accept=target_accept)
    keep = slice(nw, None)
    res = SamplingResult("rwmh", out["draws"][:, keep], out["log_density"][:, keep],
                         out["accepted"][:, keep].view(bool), out["n_nonfinite"], out["wall"], seed, backend, settings)
    if nw > 0:
        res.warmup = SamplingResult("rwmh", out["draws"][:, :nw], out["log_density"][:, :nw],
                                    out["accepted"][:, :nw].view(bool), out["n_nonfinite"], out["wall"], seed,
                                    backend, settings)
        res.adapted_scale = _adapted_scales(out["adapted"], out["adapted_kind"], d)
    out["n_done"] = np.maximum(np.asarray(out["n_done"]) - nw, 0)
    return _finish(res, out)


def _adapted_scales(adapted, kinds, d):
    """The kernels' final proposal factors -> (chains, d) scales or (chains, d, d) covariances."""
    if np.all(kinds == 0):
        return adapted[:, :d].copy()
    out = np.empty((adapted.shape[0], d, d))
    for c in range(adapted.shape[0]):
        if kinds[c] == 0:
            out[c] = np.diag(adapted[c, :d] ** 2)
        else:
            Lc = adapted[c].reshape(d, d).T  # stored transposed
            out[c] = Lc @ Lc.T
    return out


def hmc(target, x0, n_samples, *, step_size=None, n_leapfrog=None, integration_time=None, max_leapfrog=1024,
        inv_mass=None, chains=None, seed=None, temperature=None, backend="auto", n_threads=None, n_warmup=0,
        metric=None, target_accept=0.8, warn=True, **adapt_kwargs) -> SamplingResult:
    """Hamiltonian Monte Carlo with a fixed number of leapfrog steps or a fixed integration time,
    many chains in parallel.

    Parameters
    ----------
    target : GaussianMixture or Target
        The distribution pi to sample; U(q) = -log pi(q).
    x0 : array_like, shape (d,) or (chains, d)
        Start point(s); each must have a finite log density.
    n_samples : int
        Iterations per chain (all kept), >= 1.
    step_size : float
        Leapfrog step, > 0; required unless ``resume`` is given (then it defaults to the resumed
        state's step size).
    n_leapfrog : int, optional
        Leapfrog steps per iteration, >= 1. Give exactly one of ``n_leapfrog`` and
        ``integration_time``.
    integration_time : float, optional
        Length of every trajectory in time, finite and > 0, as Stan's static HMC
        (``engine=static int_time=...``, default 2*pi there): an iteration at step size eps takes
        L = min(max_leapfrog, max(1, floor(integration_time / eps))) leapfrog steps. During
        warm-up eps changes every iteration and L with it; after warm-up, and without warm-up,
        both are fixed. Warm-up runs record L per iteration in ``sample_stats["n_leapfrog"]``;
        a run without warm-up has it in ``settings["n_leapfrog"]``.
    max_leapfrog : int
        Cap on L with ``integration_time``, >= 1 (default 1024; unused with ``n_leapfrog``).
        The initial step-size search and dual averaging can make eps orders of magnitude smaller
        than its final value, mostly early in warm-up, and integration_time / eps has no bound:
        the cap bounds the cost of one iteration, at the price of a trajectory shorter than
        ``integration_time`` while eps * max_leapfrog < integration_time.
    inv_mass : float or array_like of shape (d,), optional
        Diagonal of M^-1 (default ones): kinetic energy p^T M^-1 p / 2, p ~ N(0, M).
    chains, seed, temperature, backend, n_threads
        As in :func:`rwmh` (``chains`` defaults to 1, or to the resumed state's chains;
        ``temperature`` to 1, or to the resumed state's). The Metropolis correction uses
        H = U(q)/T + K(p), so the chain targets pi^(1/T); ``log_density`` stays log pi.
    n_warmup : int
        Warm-up iterations (default 0: none). With ``n_warmup > 0`` the run adapts the step size
        (dual averaging from ``step_size`` toward ``target_accept``) and the metric as
        :func:`fastmc.nuts` does, returns the warm-up in ``result.warmup`` and the adapted state
        in ``result.state``, at any temperature (the warm-up adapts to pi^(1/T)). With
        ``integration_time`` the number of leapfrog steps follows the step size (see above).
    metric : {"diag", "dense", "unit"}, optional
        Metric adapted during warm-up (``inv_mass`` is its diagonal start value); default
        "diag", or the resumed state's metric.
    target_accept : float
        In (0, 1); Stan's default 0.8.
    warn : bool
        Post-sampling warnings (warm-up runs only), as in :func:`fastmc.nuts`.
    **adapt_kwargs
        ``gamma``, ``kappa``, ``t0``, ``init_buffer``, ``term_buffer``, ``base_window``,
        ``adapt_step_size``, ``inv_metric``, ``resume``, ``step_size_jitter``: see
        :func:`fastmc.nuts` (a non-zero ``step_size_jitter`` also works without warm-up; with
        ``integration_time`` the steps follow the nominal step size, so the time jitters too, as in
        Stan; with ``resume`` the step size, metric and step-size jitter come from the resumed
        state unless given; ``n_leapfrog`` or ``integration_time`` is the one given to this call,
        and may differ from the earlier run's).

    Returns
    -------
    SamplingResult
        Also ``accept_prob``, ``energy``, ``divergent`` (chains, n) and ``n_grad_evals``
        (chains,). Warm-up runs add ``sample_stats["step_size"]`` and
        ``sample_stats["n_leapfrog"]`` (chains, n), ``warmup`` and ``state`` as :func:`fastmc.nuts`.

    Notes
    -----
    A trajectory ending at a non-finite energy is rejected, counted in ``n_nonfinite`` and
    flagged divergent; an energy error above 1000 is flagged divergent (as in Stan).
    """
    target = _check_target(target)
    n = as_int("n_samples", n_samples, minimum=1)
    resume = adapt_kwargs.get("resume")
    if chains is not None or resume is None:
        chains = as_int("chains", 1 if chains is None else chains, minimum=1)
    temperature = None if temperature is None else as_positive_float("temperature", temperature)
    if step_size is None and resume is None:
        raise ValueError("step_size is required (a float > 0) unless resume is given")
    step = None if step_size is None else as_positive_float("step_size", step_size)
    if n_leapfrog is not None and integration_time is not None:
        raise ValueError("give exactly one of n_leapfrog and integration_time, not both")
    if n_leapfrog is None and integration_time is None:
        raise ValueError("give exactly one of n_leapfrog and integration_time (neither was given)")
    max_leap = as_int("max_leapfrog", max_leapfrog, minimum=1)
    if integration_time is None:
        L, int_time = as_int("n_leapfrog", n_leapfrog, minimum=1), None
    else:
        L, int_time = None, as_positive_float("integration_time", integration_time)
    # warm-up, resume and step-size jitter run in the warm-up engine (jitter alone: with no warm-up)
    engine = (as_int("n_warmup", n_warmup, minimum=0) > 0 or resume is not None
              or adapt_kwargs.get("step_size_jitter") not in (None, 0.0))
    if engine:
        from .nuts import _run_adaptive

        bad = set(adapt_kwargs) - {"gamma", "kappa", "t0", "init_buffer", "term_buffer", "base_window",
                                   "adapt_step_size", "inv_metric", "resume", "step_size_jitter"}
        if bad:
            raise TypeError(f"hmc() got unexpected keyword argument(s) {sorted(bad)}")
        kw = dict(gamma=0.05, kappa=0.75, t0=10.0, init_buffer=75, term_buffer=50, base_window=25,
                  adapt_step_size=True, inv_metric=inv_mass, resume=None)
        kw.update(adapt_kwargs)
        return _run_adaptive("hmc", target, x0, n, n_warmup=n_warmup, metric=metric, chains=chains, seed=seed,
                             step_size=step, target_accept=target_accept,
                             max_treedepth=1, n_leapfrog=L, integration_time=int_time, max_leapfrog=max_leap, warn=warn,
                             backend=backend, n_threads=n_threads, temperature=temperature, **kw)
    if adapt_kwargs:
        raise TypeError(f"hmc() got unexpected keyword argument(s) {sorted(adapt_kwargs)} (only with n_warmup > 0)")
    inv_temp = 1.0 if temperature is None else 1.0 / temperature
    d = target.dim
    if inv_mass is None:
        im = np.ones(d)
    else:
        im = as_float_array("inv_mass", inv_mass, ndim=(0, 1))
        im = np.full(d, float(im)) if im.ndim == 0 else im
        if im.shape != (d,):
            raise ValueError(f"inv_mass must be a scalar or have shape (d,) = ({d},), got {im.shape}")
        if not np.all(np.isfinite(im)) or np.any(im <= 0):
            raise ValueError("inv_mass must be finite and > 0 in every dimension")
    im = np.ascontiguousarray(im)
    seed = as_seed(seed)
    threads = _n_threads(n_threads, chains)
    backend = _backends.resolve_backend(backend)
    x = _start_points(target, x0, chains)
    if not target.has_grad:
        raise TypeError("hmc needs a gradient: build the target with Target.from_python(logp_and_grad=...)")
    if int_time is not None:  # no warm-up: one step size, so one L, by the engine's rule (its Python form)
        from ._numba.static_hmc import static_hmc_steps

        L = int(static_hmc_steps.py_func(int_time, step, max_leap))
    out = _run("hmc", target, backend, threads, x, n, step, L, im, inv_temp, seed)
    wall = out["wall"]
    settings = dict(step_size=step, n_leapfrog=L, inv_mass=im, temperature=1.0 / inv_temp, chains=chains,
                    n_samples=n, n_threads=threads)
    if int_time is not None:
        settings.update(integration_time=int_time, max_leapfrog=max_leap)
    res = SamplingResult("hmc", out["draws"], out["log_density"], out["accepted"].view(bool), out["n_nonfinite"],
                         wall, seed, backend, settings, accept_prob=out["accept_prob"], energy=out["energy"],
                         divergent=out["divergent"].view(bool), n_grad_evals=out["n_grad"])
    return _finish(res, out)
