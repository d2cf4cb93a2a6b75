"""Warm-up adaptation shared by :func:`fastmc.nuts`, :func:`fastmc.hmc` and :func:`fastmc.rwmh`.

Stan's windowed schedule for the metric, the adapted state that a later run can resume from,
and the warnings a finished run raises. The per-iteration arithmetic (dual averaging, Welford,
the metric) lives in the kernels: ``csrc/include/fastmc/{adapt,dual_averaging,welford,metric}.hpp``
and their Numba twins.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .diagnostics import ess, rhat

__all__ = ["AdaptedState", "SamplingWarning", "warmup_schedule"]

_M64 = (1 << 64) - 1


class SamplingWarning(UserWarning):
    """A run finished but its diagnostics suggest the draws may not be trustworthy.

    Silence with ``warn=False`` on the sampler or
    ``warnings.simplefilter("ignore", fastmc.SamplingWarning)``.
    """


@dataclass(repr=False)
class AdaptedState:
    """Where a run stopped: enough to start a new run without warm-up, or to continue exactly.

    Attributes
    ----------
    metric : {"diag", "dense", "unit"}
    step_size : ndarray, shape (chains,)
        Step size per chain after warm-up.
    inv_metric : ndarray, shape (chains, d) or (chains, d, d)
        Inverse mass matrix per chain (diagonal, or dense for ``metric="dense"``).
    position : ndarray, shape (chains, d)
        Last draw of each chain.
    rng_state : ndarray of uint64, shape (chains, 4)
        Generator state of each chain after the last draw.
    seed : int
        Seed of the run that started the sequence.
    step_size_jitter : float
        The run's ``step_size_jitter``, which a resumed run keeps unless given another.
    temperature : float
        The run's temperature T (it sampled pi^(1/T)), which a resumed run keeps unless given
        another.
    """

    metric: str
    step_size: np.ndarray
    inv_metric: np.ndarray
    position: np.ndarray
    rng_state: np.ndarray
    seed: int
    step_size_jitter: float = 0.0
    temperature: float = 1.0

    @property
    def n_chains(self) -> int:
        return self.position.shape[0]

    def __repr__(self) -> str:
        steps = ", ".join(f"{s:.3g}" for s in self.step_size[:4])
        temp = f", temperature={self.temperature:g}" if self.temperature != 1.0 else ""
        return (f"AdaptedState(metric={self.metric!r}, chains={self.n_chains}, d={self.position.shape[1]}, "
                f"step_size=[{steps}{', ...' if self.n_chains > 4 else ''}]{temp})")


def _splitmix64_mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def rng_states(seed: int, chains: int) -> np.ndarray:
    """Initial xoshiro256** states (chains, 4) uint64, exactly as ``Rng(seed, chain)`` seeds them."""
    out = np.empty((chains, 4), dtype=np.uint64)
    for c in range(chains):
        z = (seed + _splitmix64_mix(c + 1)) & _M64
        for i in range(4):
            z = (z + 0x9E3779B97F4A7C15) & _M64
            out[c, i] = _splitmix64_mix(z)
    return out


def warmup_schedule(n_warmup: int, init_buffer: int = 75, term_buffer: int = 50, base_window: int = 25,
                    adapt_metric: bool = True) -> np.ndarray:
    """Stan's windowed metric-adaptation schedule as one flag byte per warm-up iteration.

    Parameters
    ----------
    n_warmup : int
    init_buffer, term_buffer, base_window : int
        Fast adaptation at the start and end (step size only) and the first slow window, which
        doubles until the terminal buffer. When they do not fit, they become 15 %, 10 % and the
        rest of ``n_warmup``, as in Stan; below 20 warm-up iterations the metric is not adapted.
    adapt_metric : bool

    Returns
    -------
    ndarray of uint8, shape (n_warmup,)
        Bit 0: the draw of this iteration enters the (co)variance estimate; bit 1: a window ends
        after this iteration (new metric, new step-size search, restarted dual averaging).
    """
    phase = np.zeros(n_warmup, dtype=np.uint8)
    if not adapt_metric or n_warmup < 20:
        return phase
    if init_buffer + base_window + term_buffer > n_warmup:
        init_buffer = int(0.15 * n_warmup)
        term_buffer = int(0.1 * n_warmup)
        base_window = n_warmup - (init_buffer + term_buffer)
    last = n_warmup - term_buffer - 1
    size = base_window
    next_end = init_buffer + size - 1
    for t in range(n_warmup):
        if init_buffer <= t < n_warmup - term_buffer:
            phase[t] |= 1
        if t == next_end:
            phase[t] |= 2
            if next_end != last:
                size *= 2
                next_end = t + size
                if next_end != last and next_end + 2 * size >= n_warmup - term_buffer:
                    next_end = last
    return phase


def ebfmi(energy: np.ndarray) -> np.ndarray:
    """Estimated Bayesian fraction of missing information per chain.

    Parameters
    ----------
    energy : ndarray, shape (chains, n)

    Returns
    -------
    ndarray, shape (chains,)
        ``sum (E_t - E_{t-1})^2 / sum (E_t - mean E)^2``; values below 0.3 suggest the momentum
        resampling explores the energy distribution poorly.
    """
    e = np.asarray(energy, dtype=float)
    num = np.sum(np.diff(e, axis=1) ** 2, axis=1)
    den = np.sum((e - e.mean(axis=1, keepdims=True)) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def warn_after_sampling(result, *, max_treedepth: int | None = None, stacklevel: int = 3) -> list[str]:
    """Raise :class:`SamplingWarning` for the problems Stan and PyMC report after a run.

    Divergences, tree-depth saturation, E-BFMI below 0.3, rank R-hat above 1.01 and bulk ESS below
    100 per chain (the last two only when ``fastmc.diagnostics`` is available and there are at
    least 2 chains). Returns the messages.
    """
    msgs = []
    if result.divergent is not None and result.divergent.any():
        nd = int(result.divergent.sum())
        msgs.append(f"{nd} of {result.divergent.size} draws after warm-up are divergent; "
                    "raise target_accept or reparametrise the target")
    depth = result.sample_stats.get("tree_depth") if result.sample_stats else None
    if depth is not None and max_treedepth is not None:
        ns = int((depth >= max_treedepth).sum())
        if ns:
            msgs.append(f"{ns} of {depth.size} draws saturated max_treedepth={max_treedepth}")
    if result.energy is not None and result.n_samples >= 3:
        b = ebfmi(result.energy)
        low = np.flatnonzero(b < 0.3)
        if low.size:
            msgs.append(f"E-BFMI below 0.3 in chains {low.tolist()} (min {b.min():.3f})")
    if result.n_chains >= 2 and result.n_samples >= 4:
        # NaN (constant draws) is reported by rhat / ess themselves; judge the other dimensions
        r = np.asarray(rhat(result.draws, method="rank"), dtype=float)
        r = r[np.isfinite(r)]
        if r.size and r.max() > 1.01:
            msgs.append(f"R-hat above 1.01 (max {r.max():.3f}): the chains have not mixed")
        e = np.asarray(ess(result.draws, method="bulk"), dtype=float)
        e = e[np.isfinite(e)]
        if e.size and e.min() < 100 * result.n_chains:
            msgs.append(f"bulk ESS {e.min():.0f} (smallest over dimensions) is below 100 per chain "
                        f"({100 * result.n_chains} for {result.n_chains} chains): draw more")
    for m in msgs:
        warnings.warn(m, SamplingWarning, stacklevel=stacklevel)
    return msgs
