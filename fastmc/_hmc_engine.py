"""The HMC engine's Python side, shared by :func:`fastmc.nuts` and :func:`fastmc.hmc`: validates
the settings, builds the warm-up schedule, the config record and the per-chain generator states,
runs the one HMC engine of both backends (``adapt/warmup.hpp`` and its Numba twin) and splits
warm-up from kept draws.
"""
from __future__ import annotations

import numbers
import os

import numpy as np

from . import _backends
from . import _runtime as runtime
from ._schema import ADAPT_FISHER, ADAPT_STAN, HMC_CONFIG, HMC_DRAW, TRANSITION_NUTS, TRANSITION_STATIC, record
from ._validation import as_float_array, as_int, as_positive_float, as_seed, cholesky_or_raise, positive_vector
from .adaptation import AdaptedState, fisher_schedule, rng_states, warmup_schedule, warn_after_sampling
from .results import SamplingResult
from .store import STORE_EVERY, RunStore
from ._numba.adapt.warmup import STATE_RNG, STATE_SCALARS, hmc_state_size

_METRICS = ("diag", "dense", "unit")
_ADAPT = {"stan": ADAPT_STAN, "fisher": ADAPT_FISHER}
_TRANSITION = {"nuts": TRANSITION_NUTS, "hmc": TRANSITION_STATIC}
# Stan keeps the tree depth small for a reason (2^depth leapfrog steps per draw); the bound keeps
# every buffer size far from overflow as well
MAX_TREEDEPTH = 30


def static_hmc_steps(integration_time: float, eps: float, max_leapfrog: int) -> int:
    """Leapfrog steps of static HMC with an integration time, the engine's rule
    (``static_hmc_steps`` in hmc/static_hmc.hpp): floor(T / eps), at least 1, at most max_leapfrog."""
    r = integration_time / eps
    if r >= max_leapfrog:
        return int(max_leapfrog)
    return int(r) if r >= 1.0 else 1


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


def _as_nonneg_int(name, value):
    return as_int(name, value, minimum=0)


def run_hmc(sampler, target, x0, n_samples, *, n_warmup, metric, chains, seed, step_size, inv_metric, resume,
            adapt_step_size, target_accept, gamma, kappa, t0, init_buffer, term_buffer, base_window, max_treedepth,
            n_leapfrog, warn, backend, n_threads, integration_time=None, max_leapfrog=1, step_size_jitter=None,
            temperature=None, progress=None, store=None, store_every=None, check=False, adapt=None,
            metric_from_grad=None, _load=False, _chain_offset=0, _dry=False):
    """Validate everything, run the engine, build the result (shared by ``nuts`` and ``hmc``).
    Static HMC takes ``n_leapfrog`` steps per transition, or, with ``integration_time`` (then
    ``n_leapfrog`` is None), min(max_leapfrog, max(1, floor(integration_time / eps))) steps at each
    transition's eps. ``metric_from_grad``: start the Fisher warm-up from the metric of the start
    point's gradient (default: with ``adapt="fisher"`` when neither ``inv_metric`` nor ``resume``
    gives the metric).

    ``_chain_offset``: the run's chains are chains offset.. of a larger run (their generators are
    seeded as there; an executor's task). ``_dry``: validate everything and return None before
    allocating or sampling."""
    target = runtime.check_target(target)
    if not target.has_grad:
        raise TypeError(f"{sampler} needs a gradient: build the target with Target.from_python(logp_and_grad=...)")
    d = target.dim
    n = as_int("n_samples", n_samples, minimum=1)
    max_depth = as_int("max_treedepth", max_treedepth, minimum=1)
    if max_depth > MAX_TREEDEPTH:
        raise ValueError(f"max_treedepth must be <= {MAX_TREEDEPTH} (2**max_treedepth leapfrog steps per draw), "
                         f"got {max_depth}")
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
    if adapt is not None and (not isinstance(adapt, str) or adapt not in _ADAPT):
        raise (TypeError if not isinstance(adapt, str) else ValueError)(
            f"adapt must be one of {tuple(_ADAPT)} or None, got {adapt!r}")
    user_metric = inv_metric is not None
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
    if adapt is None:  # the default: the Fisher diagonal, Stan's windows for a dense metric
        adapt = "fisher" if metric == "diag" else "stan"
    if adapt == "fisher" and metric == "dense":
        raise ValueError("adapt='fisher' adapts a diagonal metric: use metric='diag' (or adapt='stan' for a dense "
                         "one)")
    if metric_from_grad is None:
        metric_from_grad = adapt == "fisher" and not user_metric and resume is None
    A = _inv_metric(inv_metric, metric, d, chains)
    steps = positive_vector("step_size", 1.0 if step_size is None else step_size, chains, "chains")
    if resume is not None:
        seed = resume.seed
        state = np.array(resume.rng_state, dtype=np.uint64, order="C")  # updated in place by the run
    else:
        seed = as_seed(seed)
        state = rng_states(seed, chains, _chain_offset)
    threads = runtime.n_threads(n_threads, chains)
    be = _backends.for_target(target, backend)
    backend = be.name
    every = STORE_EVERY if store_every is None else as_int("store_every", store_every, minimum=1)
    if store is not None and not isinstance(store, RunStore) and not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store must be a path (str or os.PathLike), got {type(store).__name__}")
    x = runtime.start_points(target, x0, chains) if not _load else np.array(x0, dtype=np.float64)
    fisher = adapt == "fisher" and metric == "diag"
    if fisher:
        phase = fisher_schedule(n_warmup)
    else:
        phase = warmup_schedule(n_warmup, init_buffer, term_buffer, base_window, adapt_metric=metric != "unit")
    if _dry:
        return None
    config = record(HMC_CONFIG, n_warmup=n_warmup, n_samples=n, transition=_TRANSITION[sampler], max_depth=max_depth,
                    n_leapfrog=n_leap, max_leapfrog=max_leap, metric_kind=1 if metric == "dense" else 0,
                    adapt_step=adapt_step_size, integration_time=int_time, jitter=jitter, delta=delta, gamma=gamma,
                    kappa=kappa, t0=t0, inv_temp=1.0 / temperature, checkpoint_every=0,
                    adapt_metric=_ADAPT[adapt] if fisher else ADAPT_STAN,
                    metric_from_grad=bool(metric_from_grad) and fisher and n_warmup > 0)
    draws, stats, info = runtime.allocate(HMC_DRAW, chains, n_warmup + n, d)
    A = np.array(A)  # updated in place: the adapted metric
    ns = hmc_state_size(d, 1 if metric == "dense" else 0, ADAPT_FISHER if fisher else ADAPT_STAN)
    state_in, ckpt = np.zeros((chains, ns)), np.zeros((chains, 2, ns))
    on_poll = None
    if store is not None:
        if not isinstance(store, RunStore):  # a new stored run: everything needed to continue it
            call = dict(n_samples=n, n_warmup=n_warmup, metric=metric, chains=chains, seed=seed,
                        adapt_step_size=adapt_step_size, target_accept=delta, gamma=gamma, kappa=kappa, t0=t0,
                        init_buffer=init_buffer, term_buffer=term_buffer, base_window=base_window,
                        max_treedepth=max_depth, n_leapfrog=None if n_leap == 0 else n_leap,
                        integration_time=None if int_time == 0.0 else int_time, max_leapfrog=max_leap,
                        step_size_jitter=jitter, temperature=temperature, adapt=adapt,
                        metric_from_grad=bool(metric_from_grad))
            store = RunStore.create(store, sampler=sampler, call=call, chains=chains, n_total=n_warmup + n, d=d,
                                    state_size=ns, store_every=every, draw_dtype=HMC_DRAW,
                                    init=dict(x0=x, step=steps, inv_metric=A, rng=state), target=target)
        else:
            store.prefill(state_in, draws, stats)
        config[0]["checkpoint_every"] = store.every

        def on_poll():
            store.flush(info, ckpt, draws, stats)
    if _load:  # a stored run as far as it went, without sampling
        info, states = store.saved_info()
        for c in range(chains):
            if info[c]["n_done"] > 0:
                A[c] = states[c, STATE_SCALARS + 2 * d:STATE_SCALARS + 2 * d + A[c].size].reshape(A[c].shape)
                state[c] = states[c, STATE_RNG:STATE_RNG + 4].copy().view(np.uint64)
        out = runtime.Outcome(np.zeros((chains, d)))
        out.interrupted = bool(np.any(info["n_done"] < n_warmup + n))
    else:
        out = runtime.run("hmc", target, be, threads, config, (phase,),
                          (x, steps, state_in, A, state, draws, stats, ckpt, info), progress=progress,
                          sampler=sampler, on_poll=on_poll, check=check)
    wall = out.wall
    if out.failed is not None:  # a Python target raised: chains 0..failed ran
        draws, stats, info, A, state = (a[:out.failed + 1] for a in (draws, stats, info, A, state))
    if temperature != 1.0:  # the engine recorded beta log pi
        stats["log_density"] /= config[0]["inv_temp"]
    draws, stats = runtime.trim(info["n_done"], draws, stats)
    adapted = AdaptedState(metric, info["final_step"].copy(), A, runtime.last_draws(info["n_done"], draws, x), state,
                           seed, jitter, temperature)
    settings = dict(n_warmup=n_warmup, metric=metric, target_accept=delta, max_treedepth=max_depth, chains=chains,
                    n_samples=n, n_threads=threads, gamma=gamma, kappa=kappa, t0=t0, init_buffer=init_buffer,
                    term_buffer=term_buffer, base_window=base_window, adapt_step_size=adapt_step_size,
                    step_size_jitter=jitter, temperature=temperature, adapt=adapt)
    if sampler == "hmc":
        del settings["max_treedepth"]
        if int_time > 0.0:
            settings.update(integration_time=int_time, max_leapfrog=max_leap)
        else:
            settings["n_leapfrog"] = n_leap

    def part(lo, hi):
        st = stats[:, lo:hi]

        def field(name):
            return st[name]  # a view into the records: no copy of a field per statistic

        extra = dict(step_size=field("step_size"), step_size_bar=field("step_size_bar"),
                     energy_error=field("energy_error"), max_energy_error=field("max_energy_error"))
        if sampler == "nuts":
            extra["tree_depth"] = field("tree_depth")
        extra["n_leapfrog"] = field("n_leapfrog")  # leapfrog steps (gradients) of each transition
        # trajectories that reached a non-finite energy (rejected for static HMC, ended for NUTS)
        n_nonfinite = st["nonfinite"].sum(axis=1, dtype=np.int64)
        return SamplingResult(sampler, draws[:, lo:hi], field("log_density"),  # views, as the fields
                              field("moved").view(bool),  # the draw differs from the one before (x0 first)
                              n_nonfinite, wall, seed, backend, settings, accept_prob=field("accept_stat"),
                              energy=field("energy"), divergent=field("divergent").view(bool),
                              n_grad_evals=extra["n_leapfrog"].sum(axis=1), sample_stats=extra)

    warm = part(0, n_warmup) if n_warmup > 0 else None
    result = part(n_warmup, n_warmup + n)
    result.n_grad_evals = info["n_grad"].copy()  # all gradient evaluations of the run, warm-up included
    result.warmup = warm
    result.state = adapted
    if warn and out.error is None and np.all(info["n_done"] == n_warmup + n):
        warn_after_sampling(result, max_treedepth=max_depth if sampler == "nuts" else None, stacklevel=4)
    return runtime.finish(result, out, info, n_warmup=n_warmup, target=target, stacklevel=4)


def _stand_in(x, grad, data):  # a target of the right dimension for reading a store; never sampled
    return 0.0


def run_stored(st, target, *, backend="auto", n_threads=None, progress=None, warn=True, run=True):
    """Continue (``run``) or read a stored run: the same call as the one that made it, with the
    store's start arrays and saved states (fastmc.resume, fastmc.load)."""
    if target is None:
        target = st.target()
        if target is None and run:
            raise TypeError(f"target is required: the run in {st.path!r} sampled a user target, which is not "
                            "stored; pass the same target again")
        if target is None:  # reading needs only the target's dimension: a stand-in never called
            from .targets import Target

            import numba

            target = Target.from_numba(numba.njit(_stand_in), st.d, check_gradient=False)
    call = dict(st.call)
    metric = call.pop("metric")
    inv_metric = None if metric == "unit" else st.init("inv_metric")
    return run_hmc(st.sampler, target, st.init("x0"), call.pop("n_samples"), metric=metric, step_size=st.init("step"),
                   inv_metric=inv_metric, resume=None, warn=warn and run, backend=backend, n_threads=n_threads,
                   progress=progress, store=st, _load=not run, **call)
