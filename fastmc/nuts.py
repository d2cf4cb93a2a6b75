"""The No-U-Turn sampler with warm-up (the HMC engine of :mod:`fastmc._hmc_engine`).

Kernels: ``csrc/include/fastmc/{hmc,adapt}/`` and their Numba twins in ``fastmc/_numba/{hmc,adapt}/``.
"""
from __future__ import annotations

from ._hmc_engine import run_hmc
from ._validation import as_bool, as_int, as_probability, as_temperature, normal_diagonal, refuse_if_too_large
from .adaptation import check_resume
from .executors import sample_on
from .results import SamplingResult, layout_of
from .targets._base import default_start

__all__ = ["nuts"]


def _refuse_huge_runs(target, n_samples, n_warmup, chains, resume):
    """A MemoryError before the engine allocates anything of size chains or n_warmup (its
    per-chain arrays and warm-up schedule come before the runtime's exact check)."""
    d = getattr(target, "dim", None)
    if not isinstance(d, int):
        return  # the engine names a bad target
    c = (resume.n_chains if resume is not None else 4) if chains is None else as_int("chains", chains, minimum=1)
    w = (0 if resume is not None else 1000) if n_warmup is None else as_int("n_warmup", n_warmup, minimum=0)
    refuse_if_too_large(c, w + as_int("n_samples", n_samples, minimum=1), d)


def nuts(target, x0, n_samples, *, n_warmup=None, max_treedepth=10, target_accept=0.8, metric=None, adapt=None,
         chains=None,
         seed=None, step_size=None, inv_metric=None, resume=None, adapt_step_size=True, gamma=0.05, kappa=0.75,
         t0=10.0, init_buffer=75, term_buffer=50, base_window=25, step_size_jitter=None, temperature=None,
         warn=True, backend="auto", n_threads=None, progress=None, store=None, store_every=None,
         check=False, executor=None, chains_per_task=None, _chain_offset=0, _dry=False) -> SamplingResult:
    """Multinomial No-U-Turn sampler with warm-up, many chains in parallel.

    Parameters
    ----------
    target : GaussianMixture or Target
        The distribution to sample.
    x0 : array_like, shape (d,) or (chains, d), or None
        Start point(s) of the unconstrained vector, each with a finite log density; ``None``
        with ``resume``, or for a target with its own initial points (``Target.from_pymc``:
        the model's initial point, jittered per chain from ``seed``).
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
    adapt : {"fisher", "stan"}, optional
        How warm-up adapts the metric: "fisher" for ``metric="diag"`` and "stan" for
        ``metric="dense"`` by default. "stan": Stan's windows, the (regularised) variance of the
        draws in each window, a step-size search at every window end. "fisher": the diagonal
        that minimises the Fisher divergence, sqrt(var(x_i) / var(grad_i)) of the warm-up's draws
        and gradients, starting from ``1 / |grad_i|`` at the start point and updated every iteration
        from a running estimate that a newer one replaces every 10 draws early on, then every 80
        (:func:`fastmc.adaptation.fisher_schedule`); the last 15% adapt the step size alone. It
        uses the gradients already computed: on the benchmark set (bench/bench_adapt.py) 6-57 %
        more ESS per gradient than Stan's, as much as nutpie's. Only with ``metric="diag"``;
        ``init_buffer``, ``term_buffer`` and ``base_window`` are Stan's and not used by it.
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
    progress : bool or None
        Show a live progress display (draws per chain, divergences, step size, time left) on
        stderr; None (default): when a person is watching (a terminal or a notebook), never in
        pipes, files or logs (``FASTMC_PROGRESS=0`` also turns it off).
    store : str or os.PathLike, optional
        Write the run to this new zarr store while it samples (draws, sample statistics, warm-up
        included, and each chain's state every ``store_every`` iterations and at Ctrl-C):
        :func:`fastmc.resume` continues it exactly after an interruption or a crash,
        :func:`fastmc.load` reads it. Needs the ``store`` extra (zarr).
    store_every : int, optional
        Iterations between two saved states (default 250): the most a crash can cost.
    check : bool
        Checked mode for a compiled target (``from_numba``, ``from_cfunc``): every call goes
        through a gradient buffer guarded past its end, and a write past ``grad[d - 1]``, a NaN
        or +inf log density returned as a number, or a non-finite gradient where the log density
        is finite stops the chain with a ValueError naming the coordinate, instead of corrupting
        memory or sampling garbage. Costs a copy of the gradient per call; off by default (the
        start point is always checked this way).
    executor : concurrent.futures.Executor, optional
        Run the chains on this executor's workers (Dask's ``client.get_executor(pure=False)``, a
        ``ProcessPoolExecutor``, ...) in tasks of ``chains_per_task`` chains: the result equals the
        local run's bit for bit. See :func:`fastmc.executors.sample_on`. Not with ``store``.
    chains_per_task : int, optional
        Chains per task (default: the chains spread evenly over the executor's workers).

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
        Whatever a Python or ``@njit`` target raised, once, with the chain and iteration in a note
        and the draws done so far as ``.partial_result`` (rows after ``n_done`` are NaN). A C
        function's negative return instead ends its own chain after the current iteration, with a
        RuntimeWarning; Ctrl-C ends every chain there and returns the draws so far
        (``result.interrupted``).

    Notes
    -----
    A transition is divergent when the energy error of a leapfrog state exceeds 1000 or is not
    finite; the tree stops growing there and the draw comes from the states before. Trajectories
    stopped by a non-finite energy (log density or gradient) are also counted in
    ``result.n_nonfinite`` (per chain, kept draws; the warm-up's in ``result.warmup``). The U-turn
    criterion is Betancourt's generalisation, checked on every merged subtree and across the joins.
    """
    if executor is not None:
        return sample_on("nuts", dict(locals()))
    if chains_per_task is not None:
        raise ValueError("chains_per_task needs executor= (the chains of a local run share one task)")
    # checked here, not only by the engine, so that a corrupted resume state is named as such
    # (not as a bad step_size or x0) and out-of-range numbers give a ValueError naming them
    resume = None if resume is None else check_resume(resume)
    warn = as_bool("warn", warn)
    adapt_step_size = as_bool("adapt_step_size", adapt_step_size)
    target_accept = as_probability("target_accept", target_accept)
    step_size_jitter = None if step_size_jitter is None else as_probability("step_size_jitter", step_size_jitter,
                                                                              closed=True)
    temperature = None if temperature is None else as_temperature(temperature)
    if inv_metric is not None:
        normal_diagonal("inv_metric", inv_metric, dense=metric == "dense")
    _refuse_huge_runs(target, n_samples, n_warmup, chains, resume)
    x0, seed = default_start(target, x0, 4 if chains is None else chains, seed, resume)
    with layout_of(target):
        res = run_hmc("nuts", target, x0, n_samples, n_warmup=n_warmup, metric=metric, chains=chains, seed=seed,
                      step_size=step_size, inv_metric=inv_metric, resume=resume, adapt_step_size=adapt_step_size,
                      target_accept=target_accept, gamma=gamma, kappa=kappa, t0=t0, init_buffer=init_buffer,
                      term_buffer=term_buffer, base_window=base_window, max_treedepth=max_treedepth,
                      n_leapfrog=1, step_size_jitter=step_size_jitter, temperature=temperature, warn=warn,
                      backend=backend, n_threads=n_threads, progress=progress, store=store,
                      store_every=store_every, check=as_bool("check", check), adapt=adapt,
                      _chain_offset=_chain_offset,
                      _dry=_dry)
    if res is None:  # _dry: validated only
        return None
    res._set_layout(target.layout)
    return res
