"""The No-U-Turn sampler with Stan's warm-up, and the adaptive engine shared with ``hmc``.

Kernels: ``csrc/include/fastmc/{nuts,adapt,static_hmc,metric,welford,dual_averaging}.hpp`` and
their Numba twins in ``fastmc/_numba``. This module validates input, builds the warm-up
schedule and the per-chain generator states, runs the kernel and splits warm-up from kept draws.
"""
from __future__ import annotations

import numbers
import time

import numpy as np

from . import _backends
from ._validation import as_float_array, as_int, as_positive_float, as_seed, cholesky_or_raise
from .adaptation import AdaptedState, rng_states, warmup_schedule, warn_after_sampling
from .results import SamplingResult

__all__ = ["nuts"]

_METRICS = ("diag", "dense", "unit")
_TRANSITION = {"nuts": 0, "hmc": 1}


def _as_unit(name: str, value, *, closed: bool = False) -> float:
    """A real number in (0, 1), or in [0, 1] with ``closed``."""
    span = "[0, 1]" if closed else "(0, 1)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in {span}, got {type(value).__name__}")
    value = float(value)
    if not (0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0):
        raise ValueError(f"{name} must be in {span}, got {value}")
    return value


def _check_metric(metric) -> str:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be one of {_METRICS}, got {type(metric).__name__}")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    return metric


def _inv_metric(inv_metric, metric: str, d: int, chains: int) -> np.ndarray:
    """User inverse metric -> (chains, d) or (chains, d, d), validated and exactly symmetric."""
    if inv_metric is None:
        return np.ones((chains, d)) if metric != "dense" else np.tile(np.eye(d), (chains, 1, 1))
    if metric == "unit":
        raise ValueError("inv_metric cannot be given with metric='unit' (use metric='diag')")
    A = as_float_array("inv_metric", inv_metric)
    if metric == "diag":
        if A.shape == (d,):
            A = np.tile(A, (chains, 1))
        if A.shape != (chains, d):
            raise ValueError(f"inv_metric for metric='diag' must have shape (d,) = ({d},) or (chains, d) = "
                             f"({chains}, {d}), got {A.shape}")
        if not np.all(np.isfinite(A)) or np.any(A <= 0):
            raise ValueError("inv_metric must be finite and > 0 in every dimension")
        return np.ascontiguousarray(A)
    if A.shape == (d, d):
        A = np.tile(A, (chains, 1, 1))
    if A.shape != (chains, d, d):
        raise ValueError(f"inv_metric for metric='dense' must have shape (d, d) = ({d}, {d}) or (chains, d, d), "
                         f"got {A.shape}")
    for c in range(chains):
        cholesky_or_raise(f"inv_metric[{c}]", A[c])
    return np.ascontiguousarray(0.5 * (A + A.transpose(0, 2, 1)))  # bit-exact symmetry for the kernels


def _step_sizes(step_size, chains: int) -> np.ndarray:
    s = as_float_array("step_size", step_size, ndim=(0, 1))
    s = np.full(chains, float(s)) if s.ndim == 0 else s
    if s.shape != (chains,):
        raise ValueError(f"step_size must be a scalar or have shape (chains,) = ({chains},), got {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("step_size must be finite and > 0")
    return np.ascontiguousarray(s)


def _as_nonneg_int(name, value):
    return as_int(name, value, minimum=0)


def _run_adaptive(sampler, target, x0, n_samples, *, n_warmup, metric, chains, seed, step_size, inv_metric,
                  resume, adapt_step_size, target_accept, gamma, kappa, t0, init_buffer, term_buffer,
                  base_window, max_treedepth, n_leapfrog, warn, backend, n_threads, integration_time=None,
                  max_leapfrog=1, step_size_jitter=None, temperature=None):
    """Validate everything, run the engine, build the result (shared by ``nuts`` and ``hmc``).
    Static HMC takes ``n_leapfrog`` steps per transition, or, with ``integration_time`` (then
    ``n_leapfrog`` is None), min(max_leapfrog, max(1, floor(integration_time / eps))) steps at each
    transition's eps."""
    from .samplers import _check_target, _finish, _n_threads, _start_points

    target = _check_target(target)
    d = target.dim
    n = as_int("n_samples", n_samples, minimum=1)
    max_depth = as_int("max_treedepth", max_treedepth, minimum=1)
    # the kernels' encoding: integration time 0 means n_leapfrog steps (hmc passes exactly one of
    # the two, nuts n_leapfrog=1)
    n_leap = 0 if n_leapfrog is None else as_int("n_leapfrog", n_leapfrog, minimum=1)
    int_time = 0.0 if integration_time is None else as_positive_float("integration_time", integration_time)
    max_leap = as_int("max_leapfrog", max_leapfrog, minimum=1)
    delta = _as_unit("target_accept", target_accept)
    gamma = as_positive_float("gamma", gamma)
    kappa = as_positive_float("kappa", kappa)
    t0 = as_positive_float("t0", t0)
    init_buffer = _as_nonneg_int("init_buffer", init_buffer)
    term_buffer = _as_nonneg_int("term_buffer", term_buffer)
    base_window = as_int("base_window", base_window, minimum=1)
    if not isinstance(adapt_step_size, bool):
        raise TypeError(f"adapt_step_size must be a bool, got {type(adapt_step_size).__name__}")
    if resume is not None:
        if not isinstance(resume, AdaptedState):
            raise TypeError(f"resume must be an AdaptedState (result.state), got {type(resume).__name__}")
        if n_warmup is None:
            n_warmup = 0
        chains = resume.n_chains if chains is None else chains
    n_warmup = _as_nonneg_int("n_warmup", 1000 if n_warmup is None else n_warmup)
    chains = as_int("chains", 4 if chains is None else chains, minimum=1)
    if resume is not None:
        if resume.n_chains != chains:
            raise ValueError(f"resume has {resume.n_chains} chains but chains={chains}")
        if resume.position.shape[1] != d:
            raise ValueError(f"resume has dimension {resume.position.shape[1]}, the target {d}")
        if x0 is not None:
            raise ValueError("x0 must be None when resume is given (the run continues from resume.position)")
        metric = resume.metric if metric is None else metric
        if step_size is None:
            step_size = resume.step_size
        if inv_metric is None and resume.metric != "unit":
            inv_metric = resume.inv_metric
        x0 = resume.position
        if step_size_jitter is None:
            step_size_jitter = resume.step_size_jitter
        if temperature is None:
            temperature = resume.temperature
    jitter = _as_unit("step_size_jitter", 0.0 if step_size_jitter is None else step_size_jitter, closed=True)
    temperature = as_positive_float("temperature", 1.0 if temperature is None else temperature)
    metric = _check_metric("diag" if metric is None else metric)
    A = _inv_metric(inv_metric, metric, d, chains)
    steps = _step_sizes(1.0 if step_size is None else step_size, chains)
    if resume is not None:
        seed = resume.seed
        state = np.ascontiguousarray(resume.rng_state, dtype=np.uint64)
    else:
        seed = as_seed(seed)
        state = rng_states(seed, chains)
    threads = _n_threads(n_threads, chains)
    backend = _backends.resolve_backend(backend)
    if target.kind == "python":  # holds the GIL on every call: threads would only contend
        backend, threads = "cpp", 1
    x = _start_points(target, x0, chains)
    phase = warmup_schedule(n_warmup, init_buffer, term_buffer, base_window, adapt_metric=metric != "unit")
    kind = 1 if metric == "dense" else 0
    args = (x, n_warmup, n, phase, steps, A, state, _TRANSITION[sampler], max_depth, n_leap, int_time, max_leap,
            jitter, kind, adapt_step_size, delta, gamma, kappa, t0)
    t_start = time.perf_counter()
    r = _run_engine(target, backend, threads, args, 1.0 / temperature)
    wall = time.perf_counter() - t_start
    adapted = AdaptedState(metric, r["final_step"], r["inv_metric"], r["draws"][:, -1, :].copy(), r["rng_state"],
                           seed, jitter, temperature)
    settings = dict(n_warmup=n_warmup, metric=metric, target_accept=delta, max_treedepth=max_depth, chains=chains,
                    n_samples=n, n_threads=threads, gamma=gamma, kappa=kappa, t0=t0, init_buffer=init_buffer,
                    term_buffer=term_buffer, base_window=base_window, adapt_step_size=adapt_step_size,
                    step_size_jitter=jitter, temperature=temperature)
    if sampler == "hmc":
        del settings["max_treedepth"]
        if int_time > 0.0:
            settings.update(integration_time=int_time, max_leapfrog=max_leap)
        else:
            settings["n_leapfrog"] = n_leap

    def part(lo, hi):
        dr = r["draws"][:, lo:hi]
        moved = r["moved"][:, lo:hi].view(bool)  # the draw differs from the one before (x0 first)
        stats = dict(step_size=r["step_size"][:, lo:hi])
        if sampler == "nuts":
            stats["tree_depth"] = r["tree_depth"][:, lo:hi]
        stats["n_leapfrog"] = r["n_leapfrog"][:, lo:hi]  # leapfrog steps (gradients) of each transition
        # trajectories that reached a non-finite energy (rejected for static HMC, ended for NUTS)
        n_nonfinite = r["nonfinite"][:, lo:hi].sum(axis=1, dtype=np.int64)
        return SamplingResult(sampler, np.ascontiguousarray(dr), r["log_density"][:, lo:hi], moved,
                              n_nonfinite, wall, seed, backend, settings,
                              accept_prob=r["accept_stat"][:, lo:hi], energy=r["energy"][:, lo:hi],
                              divergent=r["divergent"][:, lo:hi].view(bool),
                              n_grad_evals=r["n_leapfrog"][:, lo:hi].sum(axis=1), sample_stats=stats)

    warm = part(0, n_warmup) if n_warmup > 0 else None
    result = part(n_warmup, n_warmup + n)
    result.n_grad_evals = r["n_grad"]  # all gradient evaluations of the run, warm-up included
    result.warmup = warm
    result.state = adapted
    if warn and r["error"] is None and np.all(r["n_done"] == n_warmup + n):
        warn_after_sampling(result, max_treedepth=max_depth if sampler == "nuts" else None, stacklevel=4)
    return _finish(result, r, n_warmup=n_warmup, stacklevel=4)


def _run_engine(target, backend, threads, args, inv_temp=1.0):
    """The warm-up engine over all chains, sampling the target to the power ``inv_temp`` (its
    ``log_density`` is the target's own): its dict of outputs, with the rows after a chain's
    n_done (the target asked to stop) set to NaN / 0. A Python target runs the chains one by one
    (it holds the GIL anyway), so the chain whose function raised is known and the later chains
    are not started: then ``failed_chain`` is set and the outputs hold chains 0..failed_chain."""
    from .samplers import _clear_after_done, _one_chain_at_a_time, _run_numba

    target._reset()
    if backend != "cpp":
        from ._numba.adapt import adaptive_run

        nt = target._numba_target()
        fns, tdata = (nt.logp_grad, nt.stop, nt.make_work), nt.tdata
        if inv_temp != 1.0:
            from ._numba.tempered import tempered_data, tempered_functions

            fns, tdata = tempered_functions(*fns, isinstance(tdata, tuple)), tempered_data(tdata, inv_temp)
        r = _run_numba(adaptive_run, threads, *fns, tdata, *args)
        r["error"] = None
    elif target.kind != "python":
        r = _backends.core().adaptive(target._cpp_spec(), *args, inv_temp, threads)
    else:
        x, n_warmup, n, phase, steps, A, state, *config = args
        r = _one_chain_at_a_time(
            lambda c: _backends.core().adaptive(target._cpp_spec(), x[c:c + 1], n_warmup, n, phase, steps[c:c + 1],
                                               A[c:c + 1], state[c:c + 1], *config, inv_temp, 1), x.shape[0])
    if inv_temp != 1.0:  # the engine recorded beta log pi
        r["log_density"] = r["log_density"] / inv_temp
    _clear_after_done(r)
    return r


def nuts(target, x0, n_samples, *, n_warmup=None, max_treedepth=10, target_accept=0.8, metric=None, chains=None,
         seed=None, step_size=None, inv_metric=None, resume=None, adapt_step_size=True, gamma=0.05, kappa=0.75,
         t0=10.0, init_buffer=75, term_buffer=50, base_window=25, step_size_jitter=None, temperature=None,
         warn=True, backend="auto", n_threads=None) -> SamplingResult:
    """Multinomial No-U-Turn sampler with Stan's warm-up, many chains in parallel.

    Parameters
    ----------
    target : GaussianMixture or Target
        The distribution to sample.
    x0 : array_like, shape (d,) or (chains, d), or None
        Start point(s), each with a finite log density; ``None`` only with ``resume``.
    n_samples : int
        Kept draws per chain, >= 1.
    n_warmup : int, optional
        Warm-up iterations per chain (default 1000, or 0 with ``resume``), returned in
        ``result.warmup`` and never among the kept draws.
    max_treedepth : int
        At most 2**max_treedepth - 1 leapfrog steps per draw, >= 1.
    target_accept : float
        Target of the dual averaging for the acceptance statistic, in (0, 1).
    metric : {"diag", "dense", "unit"}, optional
        Inverse mass matrix: adapted diagonal (default), adapted dense, or the identity.
    chains : int, optional
        Number of chains (default 4, or that of ``resume``).
    seed : int or None
        Chain c uses a generator seeded from (seed, c) only: identical draws for any thread count and
        on both backends.
    step_size : float or array_like of shape (chains,), optional
        Initial step size (default 1; Stan's search refines it), or the step size to use when
        ``adapt_step_size=False`` or ``n_warmup=0``.
    inv_metric : array_like, optional
        Initial inverse metric: (d,) or (chains, d) for "diag", (d, d) or (chains, d, d) symmetric
        positive definite for "dense"; default the identity.
    resume : AdaptedState, optional
        ``result.state`` of an earlier run: continue each chain from its last position, generator
        state, step size and metric. With ``n_warmup=0`` the draws equal those of one longer run.
    adapt_step_size : bool
        Dual averaging of the step size during warm-up.
    gamma, kappa, t0 : float
        Dual-averaging constants (Stan: 0.05, 0.75, 10).
    init_buffer, term_buffer, base_window : int
        Stan's metric-adaptation windows (75, 50, 25), scaled down for short warm-ups.
    step_size_jitter : float, optional
        Stan's ``stepsize_jitter``, in [0, 1] (default 0, or that of ``resume``): every
        transition, warm-up included, runs at eps * (1 + jitter * (2u - 1)) with u uniform from
        the chain's generator; dual averaging adapts the nominal eps.
        ``sample_stats["step_size"]`` records the step used.
    temperature : float, optional
        T > 0 (default 1, or that of ``resume``): sample pi(x)^(1/T), warm-up included.
        ``log_density`` stays log pi of the draws; ``energy`` is the tempered Hamiltonian.
    warn : bool
        Emit :class:`~fastmc.adaptation.SamplingWarning` for divergences, tree-depth saturation,
        E-BFMI < 0.3, R-hat > 1.01 and bulk ESS < 100 per chain.
    backend : {"auto", "cpp", "numba"}
    n_threads : int, optional
        Worker threads (default min(chains, CPU count)); never changes the draws.

    Returns
    -------
    SamplingResult
        ``draws`` (chains, n_samples, d); ``accept_prob`` the acceptance statistic, ``energy``,
        ``divergent`` (chains, n_samples); ``sample_stats["tree_depth"]``,
        ``sample_stats["n_leapfrog"]``, ``sample_stats["step_size"]`` (chains, n_samples);
        ``ebfmi`` (chains,); ``n_grad_evals`` (chains,) over the whole run; ``warmup`` (a
        SamplingResult of the warm-up iterations or None); ``state`` (:class:`AdaptedState`);
        ``n_done`` (chains,) kept iterations done (``n_samples`` unless the target stopped the
        run; negative when it stopped during warm-up).

    Raises
    ------
    Exception
        Whatever a Python target raised, with the chain and iteration in a note and the draws done
        so far as ``.partial_result`` (chains 0..failed chain; rows after ``n_done`` are NaN). A
        C function's negative return instead ends every chain after its current iteration, with a
        RuntimeWarning.

    Notes
    -----
    A transition is divergent when the energy error of a leapfrog state exceeds 1000 or is not
    finite; the tree stops growing there and the draw comes from the states before. Trajectories
    stopped by a non-finite energy (log density or gradient) are also counted in
    ``result.n_nonfinite`` (per chain, kept draws; the warm-up's in ``result.warmup``). The U-turn
    criterion is Betancourt's generalisation, checked on every merged subtree and across the joins.
    """
    return _run_adaptive("nuts", target, x0, n_samples, n_warmup=n_warmup, metric=metric, chains=chains, seed=seed,
                         step_size=step_size, inv_metric=inv_metric, resume=resume, adapt_step_size=adapt_step_size,
                         target_accept=target_accept, gamma=gamma, kappa=kappa, t0=t0, init_buffer=init_buffer,
                         term_buffer=term_buffer, base_window=base_window, max_treedepth=max_treedepth,
                         n_leapfrog=1, step_size_jitter=step_size_jitter, temperature=temperature, warn=warn,
                         backend=backend, n_threads=n_threads)
