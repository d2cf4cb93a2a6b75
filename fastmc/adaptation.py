"""Warm-up adaptation shared by :func:`fastmc.nuts`, :func:`fastmc.hmc` and :func:`fastmc.rwmh`.

Stan's windowed schedule for the metric, the adapted state that a later run can resume from,
and the warnings a finished run raises. The per-iteration arithmetic (dual averaging, Welford,
the metric) lives in the kernels: ``csrc/include/fastmc/{adapt,dual_averaging,welford,metric}.hpp``
and their Numba twins.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, replace

import numpy as np

from ._validation import as_choice, as_float_array, as_probability, as_temperature, cholesky_or_raise, positive_vector
from .diagnostics import ess, rhat

__all__ = ["AdaptedState", "SamplingWarning", "check_resume", "fisher_schedule", "warmup_schedule"]

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


def check_resume(state) -> AdaptedState:
    """A copy of the ``resume=`` state with every field checked and in the form the engine takes,
    or a TypeError/ValueError naming ``resume.<field>``, so that a damaged state is not reported
    as a bad ``step_size`` or ``x0`` of the call.

    Parameters
    ----------
    state : AdaptedState

    Returns
    -------
    AdaptedState
        Float64 C-contiguous ``step_size`` (chains,), ``inv_metric`` (chains, d) or (chains, d, d),
        ``position`` (chains, d), uint64 ``rng_state`` (chains, 4), an int ``seed`` and float
        ``step_size_jitter`` and ``temperature``.
    """
    if not isinstance(state, AdaptedState):
        raise TypeError(f"resume must be an AdaptedState (result.state), got {type(state).__name__}")
    metric = as_choice("resume.metric", state.metric, ("diag", "dense", "unit"))
    pos = as_float_array("resume.position", state.position, ndim=2)
    chains, d = pos.shape
    if chains < 1 or d < 1:
        raise ValueError(f"resume.position must have shape (chains, d) with chains, d >= 1, got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("resume.position must be finite, found NaN or inf")
    step = positive_vector("resume.step_size", state.step_size, chains, "chains")
    A = as_float_array("resume.inv_metric", state.inv_metric)
    want = (chains, d, d) if metric == "dense" else (chains, d)
    if A.shape != want:
        raise ValueError(f"resume.inv_metric must have shape {want} for metric={metric!r}, got {A.shape}")
    if metric == "dense":
        for c in range(chains):
            cholesky_or_raise(f"resume.inv_metric[{c}]", A[c])
    else:
        positive_vector("resume.inv_metric", A.reshape(-1), A.size, "chains * d")
    raw = state.rng_state
    # nested lists (a state read back from text) as objects: NumPy would turn a mix of integers
    # below and above 2**63 into float64, losing the low bits of the state
    rng = raw if isinstance(raw, np.ndarray) else np.array(raw, dtype=object)
    if rng.dtype == object:
        if not all(isinstance(v, numbers.Integral) and 0 <= v < 2**64 for v in rng.flat):
            raise TypeError(f"resume.rng_state must hold integers in [0, 2**64), shape ({chains}, 4)")
        rng = rng.astype(np.uint64)
    if rng.dtype.kind not in "iu":
        raise TypeError(f"resume.rng_state must be a uint64 array of shape ({chains}, 4), got dtype {rng.dtype}")
    if rng.dtype.kind == "i" and np.any(rng < 0):
        raise ValueError("resume.rng_state must hold integers in [0, 2**64), found a negative one")
    rng = rng.astype(np.uint64)
    if rng.shape != (chains, 4):
        raise ValueError(f"resume.rng_state must have shape ({chains}, 4), got {rng.shape}")
    dead = np.flatnonzero(~rng.any(axis=1))
    if dead.size:  # xoshiro256** never leaves the all-zero state: every draw would be 0
        raise ValueError(f"resume.rng_state[{int(dead[0])}] is all zeros, which is not a generator state")
    seed = state.seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"resume.seed must be an integer, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**64:
        raise ValueError("resume.seed must be in [0, 2**64)")
    jitter = as_probability("resume.step_size_jitter", state.step_size_jitter, closed=True)
    try:
        temperature = as_temperature(state.temperature)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"resume.{exc}") from None
    return replace(state, metric=metric, step_size=step, inv_metric=np.ascontiguousarray(A), position=pos,
                   rng_state=np.array(rng, order="C"), seed=int(seed), step_size_jitter=jitter,
                   temperature=temperature)


def _splitmix64_mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on uint64 arrays (NumPy's uint64 arithmetic wraps mod 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def rng_states(seed: int, chains: int, offset: int = 0) -> np.ndarray:
    """Initial xoshiro256** states (chains, 4) uint64, exactly as ``Rng(seed, chain)`` seeds them,
    for chains ``offset .. offset + chains - 1`` (an executor's task runs a slice of a run's chains).
    Vectorised over chains, so that an absurd chain count reaches the memory check at once."""
    out = np.empty((chains, 4), dtype=np.uint64)
    z = np.uint64(seed) + _splitmix64_mix(np.arange(offset + 1, offset + chains + 1, dtype=np.uint64))
    for i in range(4):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        out[:, i] = _splitmix64_mix(z)
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
    phase[init_buffer:n_warmup - term_buffer] = 1
    # window ends: one step per window (their sizes double), not one per iteration, so that a huge
    # n_warmup costs no Python loop before the run's memory check
    size = base_window
    end = init_buffer + size - 1
    while 0 <= end < n_warmup:
        phase[end] |= 2
        if end == last:
            break
        size *= 2
        end += size
        if end != last and end + 2 * size >= n_warmup - term_buffer:
            end = last
    return phase


def fisher_schedule(n_warmup: int, early_window: float = 0.3, final_window: float = 0.15, early_switch: int = 10,
                    switch: int = 80) -> np.ndarray:
    """The gradient-based (Fisher) warm-up schedule as one flag byte per warm-up iteration.

    Every iteration before the final window adds its draw and gradient to both estimates and
    updates the diagonal metric from the foreground one; the background estimate replaces the
    foreground one whenever it holds ``early_switch`` draws (``switch`` after the early window) and
    a whole such interval remains before the final window, where only the step size adapts. The
    step size is searched anew once the metric has its first estimate (the second iteration); its
    dual averaging then runs to the end of the warm-up without a restart (measured on T2, T3 and a
    100-d correlated Gaussian: a restart at the final window ends warm-up at a smaller step,
    acceptance 0.83-0.85 against 0.81-0.82, and 1-10 % less ESS per gradient).

    Parameters
    ----------
    n_warmup : int
    early_window, final_window : float
        Fractions of ``n_warmup``: the early part with short switch intervals, and the end with a
        fixed metric.
    early_switch, switch : int
        Draws in the background estimate at a switch, in and after the early window.

    Returns
    -------
    ndarray of uint8, shape (n_warmup,)
        Bit 0: add this draw and gradient; bit 1: update the metric; bit 2: switch the estimates
        (before the update); bit 3: search the step size and restart its dual averaging. The
        kernels' ``kPhase*`` constants.
    """
    phase = np.zeros(n_warmup, dtype=np.uint8)
    if n_warmup < 3:
        return phase
    end = n_warmup - int(final_window * n_warmup)  # the metric adapts in iterations [0, end)
    early = early_window * n_warmup
    phase[:end] = 1 | 2
    # switches: every early_switch draws while in the early window, then every switch draws, each
    # only if the interval after it ends before the final window (arithmetic: a huge n_warmup costs
    # no Python loop before the run's memory check)
    t = np.arange(early_switch - 1, n_warmup, early_switch)
    t = t[(t < early) & (t + early_switch <= end)]
    last = int(t[-1]) if t.size else -1
    phase[t] |= 4
    t = np.arange(last + switch, n_warmup, switch)
    phase[t[t + switch <= end]] |= 4
    if end > 1:
        phase[1] |= 8
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
