"""Random-walk Metropolis-Hastings and Hamiltonian Monte Carlo over many chains.

The Python layer validates everything before any work and runs the chains through the sampling
runtime (:mod:`fastmc._runtime`); HMC runs the one HMC engine (:mod:`fastmc._hmc_engine`) that
NUTS runs too. The kernels live in ``csrc/include/fastmc`` (C++) and ``fastmc/_numba`` (Numba twins).
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _backends
from . import _runtime as runtime
from ._hmc_engine import run_hmc, static_hmc_steps
from ._schema import RWMH_CONFIG, RWMH_DRAW, record
from ._validation import (as_bool, as_choice, as_float_array, as_int, as_positive_float, as_probability, as_seed,
                          as_temperature, cholesky_or_raise, normal_diagonal, positive_vector,
                          refuse_if_too_large)
from .adaptation import SamplingWarning, check_resume, rng_states
from .executors import sample_on
from .results import SamplingResult, layout_of
from .targets._base import default_start

__all__ = ["rwmh", "hmc"]


def _proposal(scale, d: int):
    """scale -> (prop, kind): per-dimension sds (kind 0) or transposed lower Cholesky (kind 1)."""
    s = as_float_array("scale", scale, ndim=(0, 1, 2))
    if s.ndim == 0:
        s = np.full(d, as_positive_float("scale", float(s)))
        return s, 0
    if s.ndim == 1:
        if s.shape != (d,):
            raise ValueError(f"scale must be a scalar, shape (d,) = ({d},) or (d, d), got {s.shape}")
        return positive_vector("scale", s, d, "d", per=" in every dimension"), 0
    if s.shape != (d, d):
        raise ValueError(f"scale must be a scalar, shape (d,) = ({d},) or (d, d), got {s.shape}")
    L = cholesky_or_raise("scale (proposal covariance)", s)
    return np.ascontiguousarray(L.T), 1


#: Largest n_leapfrog and max_leapfrog of static HMC (2**max_treedepth for NUTS's cap of 30).
MAX_LEAPFROG = 2**30

#: A chain that accepted none of this many kept proposals is reported: at an acceptance rate of
#: 0.234 that happens by chance with probability 0.766^50 = 1.6e-6.
STUCK_MIN_DRAWS = 50


def rwmh(target, x0, n_samples, *, scale, chains=1, seed=None, temperature=1.0, backend="auto",
         n_threads=None, n_warmup=0, adapt_scale=True, adapt_cov=False, target_accept=None,
         warn=True, progress=None, check=False, executor=None, chains_per_task=None, _chain_offset=0,
         _dry=False) -> SamplingResult:
    """Random-walk Metropolis-Hastings with a Gaussian proposal, many chains in parallel.

    Parameters
    ----------
    target : GaussianMixture or Target
        The distribution pi to sample.
    x0 : array_like, shape (d,) or (chains, d), or None
        Start point(s); each must have a finite log density. ``None`` for a target with its
        own initial points (``Target.from_pymc``: the model's, jittered per chain from ``seed``).
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
    progress : bool or None
        Show a live progress display (draws per chain, divergences, step size, time left) on
        stderr; None (default): when a person is watching (a terminal or a notebook), never in
        pipes, files or logs (``FASTMC_PROGRESS=0`` also turns it off).
    check : bool
        Checked mode for a compiled target (``from_numba``, ``from_cfunc``): every call goes
        through a gradient buffer guarded past its end, and a write past ``grad[d - 1]``, a NaN
        or +inf log density returned as a number, or a non-finite gradient where the log density
        is finite stops the chain with a ValueError naming the coordinate, instead of corrupting
        memory or sampling garbage. Costs a copy of the gradient per call; off by default (the
        start point is always checked this way).
    executor : concurrent.futures.Executor, optional
        Run the chains on this executor's workers in tasks of ``chains_per_task`` chains; the
        result equals the local run's bit for bit (see :func:`fastmc.executors.sample_on`).
    chains_per_task : int, optional
        Chains per task (default: the chains spread evenly over the executor's workers).
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
    warn : bool
        Emit a :class:`~fastmc.SamplingWarning` when a chain accepted none of at least 50 kept
        proposals (it never moved from its start: the proposal scale is far too large or too
        small for the target).

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
    if executor is not None:
        return sample_on("rwmh", dict(locals()))
    if chains_per_task is not None:
        raise ValueError("chains_per_task needs executor= (the chains of a local run share one task)")
    x0, seed = default_start(target, x0, chains, seed, None)
    target = runtime.check_target(target)
    n = as_int("n_samples", n_samples, minimum=1)
    chains = as_int("chains", chains, minimum=1)
    inv_temp = 1.0 / as_temperature(temperature)
    prop, kind = _proposal(scale, target.dim)
    nw = as_int("n_warmup", n_warmup, minimum=0)
    adapt_scale = as_bool("adapt_scale", adapt_scale)
    adapt_cov = as_bool("adapt_cov", adapt_cov)
    warn = as_bool("warn", warn)
    d = target.dim
    if target_accept is None:
        target_accept = 0.44 if d == 1 else 0.234
    target_accept = as_probability("target_accept", target_accept)
    refuse_if_too_large(chains, nw + n, d)
    seed = as_seed(seed)
    threads = runtime.n_threads(n_threads, chains)
    be = _backends.for_target(target, backend)
    x = runtime.start_points(target, x0, chains)
    if _dry:  # validated only (an executor's check before it sends any task)
        return None
    config = record(RWMH_CONFIG, n_warmup=nw, n_samples=n, prop_kind=kind, adapt_scale=adapt_scale and nw > 0,
                    adapt_cov=adapt_cov and nw > 0, target_accept=target_accept, inv_temp=inv_temp)
    draws, stats, info = runtime.allocate(RWMH_DRAW, chains, nw + n, d)
    adapted = np.zeros((chains, d * d))
    out = runtime.run("rwmh", target, be, threads, config, (prop,), (x, rng_states(seed, chains, _chain_offset), draws, stats,
                                                                      adapted, info), progress=progress,
                      check=as_bool("check", check))
    wall = out.wall
    if out.failed is not None:  # a Python target raised: chains 0..failed ran
        draws, stats, info, adapted = (a[:out.failed + 1] for a in (draws, stats, info, adapted))
    draws, stats = runtime.trim(info["n_done"], draws, stats)
    settings = dict(scale=scale, temperature=1.0 / inv_temp, chains=chains, n_samples=n, n_threads=threads,
                    n_warmup=nw, adapt_scale=adapt_scale, adapt_cov=adapt_cov, target_accept=target_accept)

    def part(lo, hi):  # views of the run's buffers: a copy costs about as much as a fast target's sampling
        return SamplingResult("rwmh", draws[:, lo:hi], stats["log_density"][:, lo:hi],
                              stats["accepted"][:, lo:hi].view(bool), info["n_nonfinite"].copy(),
                              wall, seed, be.name, settings)

    res = part(nw, nw + n)
    if nw > 0:
        res.warmup = part(0, nw)
        res.adapted_scale = _adapted_scales(adapted, info["adapted_kind"], d)
    res._set_layout(target.layout)
    n_done = np.maximum(info["n_done"] - nw, 0)
    if warn and out.error is None:
        _warn_stuck_chains(res.accepted, n_done)
    return runtime.finish(res, out, info, n_warmup=nw, target=target)


def _warn_stuck_chains(accepted, n_done):
    """SamplingWarning for the chains that accepted none of their (at least STUCK_MIN_DRAWS) kept
    proposals: their draws all equal the start point, which no diagnostic computed from one chain
    would flag."""
    stuck = [c for c in range(accepted.shape[0])
             if n_done[c] >= STUCK_MIN_DRAWS and not accepted[c, :n_done[c]].any()]
    if stuck:
        warnings.warn(f"chain(s) {stuck} accepted none of their {int(n_done[stuck[0]])} proposals and never moved "
                      "from the start point: the proposal scale is probably far too large or too small for the "
                      "target (try n_warmup= to adapt it)", SamplingWarning, stacklevel=3)


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
        metric=None, target_accept=0.8, warn=True, progress=None, store=None, store_every=None, check=False,
        executor=None, chains_per_task=None, _chain_offset=0, _dry=False, **adapt_kwargs) -> SamplingResult:
    """Hamiltonian Monte Carlo with a fixed number of leapfrog steps or a fixed integration time,
    many chains in parallel.

    Parameters
    ----------
    target : GaussianMixture or Target
        The distribution pi to sample; U(q) = -log pi(q).
    x0 : array_like, shape (d,) or (chains, d), or None
        Start point(s); each must have a finite log density. ``None`` for a target with its
        own initial points (``Target.from_pymc``: the model's, jittered per chain from ``seed``).
    n_samples : int
        Iterations per chain (all kept), >= 1.
    step_size : float
        Leapfrog step, > 0; required unless ``resume`` is given (then it defaults to the resumed
        state's step size).
    n_leapfrog : int, optional
        Leapfrog steps per iteration, in [1, 2**30]. Give exactly one of ``n_leapfrog`` and
        ``integration_time``.
    integration_time : float, optional
        Length of every trajectory in time, finite and > 0, as Stan's static HMC
        (``engine=static int_time=...``, default 2*pi there): an iteration at step size eps takes
        L = min(max_leapfrog, max(1, floor(integration_time / eps))) leapfrog steps. During
        warm-up eps changes every iteration and L with it; after warm-up, and without warm-up,
        both are fixed. Warm-up runs record L per iteration in ``sample_stats["n_leapfrog"]``;
        a run without warm-up has it in ``settings["n_leapfrog"]``.
    max_leapfrog : int
        Cap on L with ``integration_time``, in [1, 2**30] (default 1024; unused with ``n_leapfrog``).
        The initial step-size search and dual averaging can make eps orders of magnitude smaller
        than its final value, mostly early in warm-up, and integration_time / eps has no bound:
        the cap bounds the cost of one iteration, at the price of a trajectory shorter than
        ``integration_time`` while eps * max_leapfrog < integration_time.
    inv_mass : float or array_like of shape (d,), optional
        Diagonal of M^-1 (default ones): kinetic energy p^T M^-1 p / 2, p ~ N(0, M).
    chains, seed, temperature, backend, n_threads, progress, store, store_every, check, executor, chains_per_task
        As in :func:`rwmh` and :func:`fastmc.nuts` (``chains`` defaults to 1, or to the resumed state's chains;
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
        ``adapt_step_size``, ``inv_metric``, ``resume``, ``step_size_jitter``, ``adapt``: see
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
    if executor is not None:
        return sample_on("hmc", dict(locals()))
    if chains_per_task is not None:
        raise ValueError("chains_per_task needs executor= (the chains of a local run share one task)")
    x0, seed = default_start(target, x0, 1 if chains is None else chains, seed, adapt_kwargs.get("resume"))
    target = runtime.check_target(target)
    n = as_int("n_samples", n_samples, minimum=1)
    resume = adapt_kwargs.get("resume")
    if chains is not None or resume is None:
        chains = as_int("chains", 1 if chains is None else chains, minimum=1)
    temperature = None if temperature is None else as_temperature(temperature)
    warn = as_bool("warn", warn)
    if resume is not None:
        adapt_kwargs["resume"] = resume = check_resume(resume)
    # checked here as well as by the engine: the decision below on a plain run reads them
    metric = None if metric is None else as_choice("metric", metric, ("diag", "dense", "unit"))
    target_accept = as_probability("target_accept", target_accept)
    if "adapt_step_size" in adapt_kwargs:
        adapt_kwargs["adapt_step_size"] = as_bool("adapt_step_size", adapt_kwargs["adapt_step_size"])
    if adapt_kwargs.get("step_size_jitter") is not None:
        adapt_kwargs["step_size_jitter"] = as_probability("step_size_jitter", adapt_kwargs["step_size_jitter"],
                                                          closed=True)
    if step_size is None and resume is None:
        raise ValueError("step_size is required (a float > 0) unless resume is given")
    step = None if step_size is None else as_positive_float("step_size", step_size)
    if n_leapfrog is not None and integration_time is not None:
        raise ValueError("give exactly one of n_leapfrog and integration_time, not both")
    if n_leapfrog is None and integration_time is None:
        raise ValueError("give exactly one of n_leapfrog and integration_time (neither was given)")
    # at most 2**30 leapfrog steps per transition, NUTS's bound at max_treedepth=30: beyond it one
    # iteration would run for hours (2**62 steps is a hang, not a request)
    max_leap = as_int("max_leapfrog", max_leapfrog, minimum=1, maximum=MAX_LEAPFROG)
    if integration_time is None:
        L, int_time = as_int("n_leapfrog", n_leapfrog, minimum=1, maximum=MAX_LEAPFROG), None
    else:
        L, int_time = None, as_positive_float("integration_time", integration_time)
    bad = set(adapt_kwargs) - {"gamma", "kappa", "t0", "init_buffer", "term_buffer", "base_window",
                               "adapt_step_size", "inv_metric", "resume", "step_size_jitter", "adapt"}
    if bad:
        raise TypeError(f"hmc() got unexpected keyword argument(s) {sorted(bad)}")
    nw = as_int("n_warmup", n_warmup, minimum=0)
    refuse_if_too_large(resume.n_chains if chains is None else chains, nw + n, target.dim)
    inv_metric = adapt_kwargs.pop("inv_metric", None)
    if inv_metric is not None:
        normal_diagonal("inv_metric", inv_metric, dense=metric == "dense")
    im = None if inv_mass is None else positive_vector("inv_mass", inv_mass, target.dim, "d", per=" in every dimension")
    if im is not None:
        if inv_metric is not None:
            raise ValueError("give at most one of inv_mass and inv_metric")
        inv_metric = np.diag(im) if metric == "dense" else im
    # a plain run (no warm-up, resume or jitter) keeps its settings as given and no warnings
    plain = nw == 0 and resume is None and adapt_kwargs.get("step_size_jitter") in (None, 0.0)
    kw = dict(gamma=0.05, kappa=0.75, t0=10.0, init_buffer=75, term_buffer=50, base_window=25,
              adapt_step_size=True, resume=None)
    kw.update(adapt_kwargs)
    with layout_of(target):
        res = run_hmc("hmc", target, x0, n, n_warmup=nw, metric=metric, chains=chains, seed=seed, step_size=step,
                      inv_metric=inv_metric, target_accept=target_accept, max_treedepth=1, n_leapfrog=L,
                      integration_time=int_time, max_leapfrog=max_leap, warn=warn and not plain, backend=backend,
                      n_threads=n_threads, temperature=temperature, progress=progress, store=store,
                      store_every=store_every, check=as_bool("check", check), _chain_offset=_chain_offset,
                      _dry=_dry, **kw)
    if res is None:  # _dry: validated only
        return None
    res._set_layout(target.layout)
    if plain:
        s = res.settings
        steps = static_hmc_steps(int_time, step, max_leap) if int_time is not None else L
        res.settings = dict(step_size=step, n_leapfrog=steps,
                            inv_mass=np.ones(target.dim) if im is None else im,
                            temperature=s["temperature"], chains=s["chains"], n_samples=n, n_threads=s["n_threads"])
        if int_time is not None:
            res.settings.update(integration_time=int_time, max_leapfrog=max_leap)
    return res
