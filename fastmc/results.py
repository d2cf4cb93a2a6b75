"""The object every sampler returns."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SamplingResult"]


@contextmanager
def layout_of(target):
    """Around a sampler's run: a target's exception leaves ``target.layout`` on its
    ``partial_result`` (a context manager adds no stack frame, so warnings still point at the
    user's call)."""
    try:
        yield
    except Exception as exc:
        part = getattr(exc, "partial_result", None)
        if isinstance(part, SamplingResult):
            part._set_layout(getattr(target, "layout", None))
        raise


def constrain(layout, draws, seed, warmup=False) -> dict:
    """``layout.constrain(draws)``, passing the run's seed to a layout whose constrain step draws
    random numbers (a Stan model's generated quantities)."""
    if getattr(layout, "uses_seed", False):
        return layout.constrain(draws, seed=0 if seed is None else seed, warmup=warmup)
    return layout.constrain(draws)


@dataclass(repr=False)
class SamplingResult:
    """Draws and per-draw statistics of a multi-chain run.

    Attributes
    ----------
    sampler : str
        ``"rwmh"``, ``"hmc"`` or ``"nuts"``.
    draws : ndarray, shape (chains, n, d)
    log_density : ndarray, shape (chains, n)
        Log target density (untempered) at each kept draw.
    accepted : ndarray of bool, shape (chains, n)
        Whether the proposal of each iteration was accepted.
    n_nonfinite : ndarray of int64, shape (chains,)
        Proposals rejected because the log density (or, for HMC, the energy) was not finite; for
        NUTS, trajectories that reached a non-finite energy (log density or gradient) and stopped
        there (each also counts as divergent).
    wall_time : float
        Seconds spent in the kernel (all chains).
    seed : int
        The seed; chain ``c`` draws from a generator seeded by ``(seed, c)`` only.
    backend : str
        ``"cpp"`` or ``"numba"``: the backend that ran.
    settings : dict
        The sampler settings after validation.
    accept_prob : ndarray, shape (chains, n), optional
        HMC: Metropolis acceptance probability min(1, exp(-dH)).
    energy : ndarray, shape (chains, n), optional
        HMC: Hamiltonian H = -log pi(q)/T + p^T M^-1 p / 2 of the kept state.
    divergent : ndarray of bool, shape (chains, n), optional
        HMC: energy error above 1000 or a non-finite end point.
    n_grad_evals : ndarray of int64, shape (chains,), optional
        HMC: gradient evaluations, including the one at the start point.
    n_done : ndarray of int64, shape (chains,), optional
        Kept iterations completed per chain: n, unless the chain was stopped (Ctrl-C, or its
        target's negative return or exception); the rows after n_done are NaN (False for flags),
        and a warning says so. They equal the first n_done draws of the uninterrupted run.
    sample_stats : dict, optional
        Further per-draw statistics of HMC and NUTS, each (chains, n): ``step_size``,
        ``n_leapfrog`` (leapfrog steps of the transition) and, for NUTS, ``tree_depth``.
    warmup : SamplingResult, optional
        The warm-up iterations (``n_warmup > 0``), with their own draws and statistics; never mixed
        into ``draws``.
    adapted_scale : ndarray, optional
        RWMH after warm-up: the final proposal of each chain, (chains, d) scales or (chains, d, d)
        covariances; ``adapted_scale[c]`` can be passed back as ``scale``.
    interrupted : bool
        Whether the run was interrupted (Ctrl-C): the draws are those done until then.
    state : AdaptedState, optional
        Adapted step size and inverse metric, last position and generator state of every chain:
        pass it as ``resume=`` to continue the run, or its step size and metric to a new run.
    layout : Layout, optional
        The target's parameter layout (names, shapes, dims/coords, transforms), which gives
        :attr:`posterior`, :meth:`summary` labels and :meth:`to_arviz` its names; set by the
        samplers from ``target.layout``.
    """

    sampler: str
    draws: np.ndarray
    log_density: np.ndarray
    accepted: np.ndarray
    n_nonfinite: np.ndarray
    wall_time: float
    seed: int
    backend: str
    settings: dict = field(default_factory=dict)
    accept_prob: np.ndarray | None = None
    energy: np.ndarray | None = None
    divergent: np.ndarray | None = None
    n_grad_evals: np.ndarray | None = None
    n_done: np.ndarray | None = None
    sample_stats: dict = field(default_factory=dict)
    warmup: "SamplingResult | None" = None
    state: object = None
    adapted_scale: np.ndarray | None = None
    interrupted: bool = False
    layout: object = None
    _posterior: dict | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_chains(self) -> int:
        return self.draws.shape[0]

    @property
    def n_samples(self) -> int:
        return self.draws.shape[1]

    @property
    def dim(self) -> int:
        return self.draws.shape[2]

    @property
    def acceptance_rate(self) -> np.ndarray:
        """Mean acceptance per chain, shape (chains,).

        HMC and NUTS: the mean of the acceptance statistic ``accept_prob`` (Stan's
        ``accept_stat__``, ArviZ's ``acceptance_rate``), the quantity the step-size adaptation
        targets; not the fraction of transitions that moved, which for NUTS is close to 1 on any
        run. RWMH: the fraction of accepted proposals. Rows after a stopped chain's ``n_done``
        are left out.
        """
        if self.sampler in ("hmc", "nuts") and self.accept_prob is not None:
            a = self.accept_prob
            ok = np.isfinite(a)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(ok, a, 0.0).sum(axis=1) / ok.sum(axis=1)
        return self.accepted.mean(axis=1)

    @property
    def n_divergent(self) -> np.ndarray | None:
        """HMC: divergent transitions per chain, shape (chains,)."""
        return None if self.divergent is None else self.divergent.sum(axis=1)

    @property
    def ebfmi(self) -> np.ndarray | None:
        """HMC/NUTS: E-BFMI per chain from ``energy``, shape (chains,)."""
        from .adaptation import ebfmi

        return None if self.energy is None else ebfmi(self.energy)

    @property
    def draws_per_second(self) -> float:
        """Kept draws (all chains) per second of kernel time."""
        return self.n_chains * self.n_samples / self.wall_time if self.wall_time > 0 else float("inf")

    # ------------------------------------------------------------ named draws
    def _set_layout(self, layout):
        self.layout = layout
        if self.warmup is not None:
            self.warmup.layout = layout

    def _layout(self):
        if self.layout is None:
            from .layout import Layout

            self.layout = Layout.default(self.dim)
        return self.layout

    @property
    def names(self) -> list:
        """Labels of the d coordinates of ``draws`` (the unconstrained vector), e.g.
        ``["mu", "tau_log__", "theta[0]", ...]``; ``x[i]`` without a layout."""
        return self._layout().unconstrained_labels()

    @property
    def unconstrained(self) -> np.ndarray:
        """The raw draws of the unconstrained vector, shape (chains, n, d) (same as ``draws``)."""
        return self.draws

    @property
    def posterior(self) -> dict:
        """Named draws in the constrained space: ``{name: (chains, n, *shape)}``, parameters in
        layout order, then deterministics (PyMC models). Computed once, on first access."""
        if self._posterior is None:
            self._posterior = constrain(self._layout(), self.draws, self.seed)
        return self._posterior

    def flat_draws(self) -> np.ndarray:
        """All chains concatenated, shape (chains * n, d)."""
        return self.draws.reshape(-1, self.dim)

    def ess(self, method: str = "bulk", **kwargs) -> np.ndarray:
        """Effective sample size per dimension, shape (d,); see :func:`fastmc.ess`."""
        from .diagnostics import ess

        return ess(self.draws, method=method, **kwargs)

    def rhat(self, method: str = "rank", **kwargs) -> np.ndarray:
        """R-hat per dimension, shape (d,); see :func:`fastmc.rhat`."""
        from .diagnostics import rhat

        return rhat(self.draws, method=method, **kwargs)

    def summary(self, var_names=None, **kwargs):
        """Summary of the named, constrained draws, one row per element: ``mu``, ``theta[3]``.

        Parameters
        ----------
        var_names : sequence of str, optional
            The quantities to summarise (default every one in :attr:`posterior`).
        **kwargs
            Passed to :func:`fastmc.summary` (``hdi_prob``, ``kind``, ...).

        Returns
        -------
        Summary
            Rows in the order of :attr:`posterior` (elements in C order); ``fastmc.summary(
            result)`` summarises the unconstrained ``draws`` instead.
        """
        from .diagnostics import summary

        post = self.posterior
        if var_names is not None:
            if isinstance(var_names, str):
                var_names = [var_names]
            unknown = [v for v in var_names if v not in post]
            if unknown:
                raise ValueError(f"var_names {unknown} are not in the posterior; it has {list(post)}")
            post = {v: post[v] for v in var_names}
        names, cols = self._layout().labels(post)
        return summary(np.concatenate(cols, axis=2), names=names, **kwargs)

    def to_arviz(self, **kwargs):
        """The run as an ArviZ ``xarray.DataTree``; see :func:`fastmc.arviz.to_datatree`."""
        from .arviz import to_datatree

        return to_datatree(self, **kwargs)

    def __repr__(self) -> str:
        acc = ", ".join(f"{a:.3f}" for a in self.acceptance_rate[:8])
        more = ", ..." if self.n_chains > 8 else ""
        extra = ""
        if self.divergent is not None:
            extra = f", divergent={int(self.divergent.sum())}"
        return (f"SamplingResult(sampler={self.sampler!r}, chains={self.n_chains}, n={self.n_samples}, "
                f"d={self.dim}, backend={self.backend!r}, acceptance_rate=[{acc}{more}]{extra}, "
                f"nonfinite={int(self.n_nonfinite.sum())}, wall_time={self.wall_time:.3g}s, seed={self.seed})")
