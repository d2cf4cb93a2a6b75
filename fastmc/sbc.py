"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari and Gelman 2018,
arXiv:1804.06788): draw parameters from the prior, simulate data from them, fit the data with
NUTS, and count how many of the (thinned) posterior draws fall below the true value. When the
sampler and the model agree with the simulator, each parameter's rank is uniform on
{0, ..., L}; a bug in the model (a wrong prior scale), the simulator or the sampler shows as ranks
piled at the ends (too narrow), in the middle (too wide) or to one side (biased).

The fits are independent: :func:`sbc` runs them through :func:`fastmc.map_fits`, on any executor.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ._validation import as_int, as_seed
from .executors import map_fits

__all__ = ["sbc", "SBCResult", "eight_schools_prior", "eight_schools_simulate"]


@dataclass(repr=False)
class SBCResult:
    """Rank statistics of a simulation-based calibration.

    Attributes
    ----------
    ranks : dict
        ``{name: int64 array (n_sims, *shape)}``: for each simulation, how many of the ``n_draws``
        posterior draws of each element lie below its true (prior-drawn) value, in [0, n_draws].
    n_draws : int
        L, posterior draws per simulation after thinning (ranks take L + 1 values).
    divergent : ndarray of int64, shape (n_sims,)
        Divergent transitions of each fit after warm-up (should be 0: a fit with divergences can
        bias the ranks without any bug in the model).
    seeds : list of int
        Each simulation's seed (its prior draw, data and fit depend on it only).
    seed : int
        The seed of the whole calibration (``fastmc.executors.task_seeds(seed, n_sims)``).
    """

    ranks: dict
    n_draws: int
    divergent: np.ndarray
    seeds: list = field(default_factory=list)
    seed: int | None = None

    @property
    def n_sims(self) -> int:
        return len(self.divergent)

    def _columns(self):
        """(labels, (n_sims, k) ranks) of every scalar element."""
        labels, cols = [], []
        for name, r in self.ranks.items():
            flat = r.reshape(r.shape[0], -1)
            shape = r.shape[1:]
            for i, idx in enumerate(np.ndindex(*shape)):
                labels.append(name if not shape else f"{name}[{', '.join(map(str, idx))}]")
                cols.append(flat[:, i])
        return labels, np.stack(cols, axis=1)

    def uniformity(self, n_bins: int | None = None) -> dict:
        """Pearson chi-square test of uniform ranks, per scalar element.

        Parameters
        ----------
        n_bins : int, optional
            Equal-width bins of the L + 1 rank values (default: the largest divisor of L + 1
            that leaves at least 5 simulations expected per bin, at most 20); must divide L + 1.

        Returns
        -------
        dict
            ``{label: (chi2 statistic, p-value)}``, labels as ``"mu"``, ``"z[3]"``; the test has
            ``n_bins - 1`` degrees of freedom.
        """
        from scipy import stats

        values = self.n_draws + 1
        if n_bins is None:
            n_bins = max([b for b in range(1, min(20, values) + 1) if values % b == 0
                          and self.n_sims / b >= 5] or [1])
        n_bins = as_int("n_bins", n_bins, minimum=1)
        if values % n_bins:
            raise ValueError(f"n_bins must divide the number of rank values L + 1 = {values}, got {n_bins}")
        labels, cols = self._columns()
        width = values // n_bins
        out = {}
        for lab, col in zip(labels, cols.T):
            counts = np.bincount(col // width, minlength=n_bins)
            chi2, p = stats.chisquare(counts)
            out[lab] = (float(chi2), float(p))
        return out

    def plot(self, n_bins: int | None = None, axes=None):
        """Rank histograms, one panel per scalar element, with the band that holds 99 % of a
        uniform histogram's bins (binomial quantiles). Needs matplotlib (the ``plot`` extra).

        Returns
        -------
        ndarray of matplotlib Axes
        """
        import matplotlib.pyplot as plt
        from scipy import stats

        labels, cols = self._columns()
        values = self.n_draws + 1
        if n_bins is None:
            n_bins = max([b for b in range(1, min(20, values) + 1) if values % b == 0 and self.n_sims / b >= 5] or [1])
        width = values // n_bins
        if axes is None:
            ncol = min(5, len(labels))
            nrow = -(-len(labels) // ncol)
            _, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.0 * nrow), squeeze=False)
        axes = np.asarray(axes).ravel()
        lo, hi = stats.binom.ppf([0.005, 0.995], self.n_sims, 1.0 / n_bins)
        for ax, lab, col in zip(axes, labels, cols.T):
            counts = np.bincount(col // width, minlength=n_bins)
            ax.axhspan(lo, hi, color="0.85")
            ax.bar(np.arange(n_bins), counts, width=1.0, color="C0")
            ax.set_title(lab, fontsize=9)
            ax.set_yticks([])
        for ax in axes[len(labels):]:
            ax.set_visible(False)
        return axes

    def __repr__(self) -> str:
        worst = min(p for _, p in self.uniformity().values())
        return (f"SBCResult(n_sims={self.n_sims}, n_draws={self.n_draws}, parameters={list(self.ranks)}, "
                f"smallest uniformity p-value={worst:.3g}, divergent fits={int(np.count_nonzero(self.divergent))})")


def _one_fit(index, seed, shared):
    """One simulation: prior draw, data, NUTS fit, ranks (runs on a worker)."""
    from .nuts import nuts

    target, prior, simulate, x0, settings = shared
    rng = np.random.default_rng(seed)
    truth = {k: np.asarray(v, dtype=np.float64) for k, v in prior(rng).items()}
    data = simulate(truth, rng)
    t = target.with_data(**data) if isinstance(data, dict) else target.with_data(data)
    x = np.zeros(t.dim) if x0 is None else x0
    thin = settings["thin"]
    res = nuts(t, x, settings["n_draws"] * thin, seed=seed, warn=False, progress=False, n_threads=1,
               **settings["nuts"])
    post = res.posterior
    ranks = {}
    for name, value in truth.items():
        if name not in post:
            raise KeyError(f"prior returned {name!r}, which is not in the target's posterior {list(post)}")
        draws = post[name][:, ::thin]  # (chains, n_draws, *shape)
        draws = draws.reshape((-1,) + draws.shape[2:])
        if draws.shape[1:] != value.shape:
            raise ValueError(f"prior returned {name!r} of shape {value.shape}, the posterior has {draws.shape[1:]}")
        ranks[name] = (draws < value).sum(axis=0)
    return ranks, int(res.divergent.sum())


def sbc(target, prior, simulate, n_sims, *, n_draws=99, thin=4, x0=None, executor=None, seed=None,
        progress=None, **nuts_kwargs) -> SBCResult:
    """Simulation-based calibration of a model written as a target, fitted with NUTS.

    Parameters
    ----------
    target : Target
        The model, with data to be replaced by each simulation's: ``target.with_data(data)``
        (a ``from_numba`` / ``from_cfunc`` target: ``data`` an array of the target's data shape)
        or ``target.with_data(**data)`` (a PyMC target: ``data`` a dict of ``pm.Data`` values).
        It is sent once to each worker (see :func:`fastmc.map_fits`).
    prior : callable
        ``prior(rng) -> {name: value}``, a draw of (some of) the posterior's quantities in the
        constrained space, names and shapes as in ``result.posterior``; ``rng`` a
        ``numpy.random.Generator``.
    simulate : callable
        ``simulate(params, rng) -> data`` from the same draw.
    n_sims : int
        Number of simulations, >= 1.
    n_draws : int
        L, posterior draws kept per fit after thinning (ranks in 0..L; default 99: 100 values).
    thin : int
        Keep every ``thin``-th draw (the fit draws ``n_draws * thin``): thinning makes the draws
        closer to independent, as the ranks' uniformity assumes.
    x0 : array_like, shape (d,), optional
        Start point of every fit (default the origin of the unconstrained space).
    executor : concurrent.futures.Executor, optional
        Where the fits run (:func:`fastmc.map_fits`); each fit runs one thread.
    seed : int, optional
        Simulation i's prior draw, data and fit depend on (seed, i) only (None: drawn, and
        recorded in the result).
    progress : bool or None
        One progress bar over the simulations.
    **nuts_kwargs
        Passed to :func:`fastmc.nuts` (``n_warmup``, ``chains`` (default 1), ``target_accept``...).

    Returns
    -------
    SBCResult
        ``ranks`` per parameter, ``uniformity()`` (chi-square p-values), ``plot()``.

    Examples
    --------
    Eight schools, non-centred, on a Dask cluster::

        from fastmc.sbc import eight_schools_prior, eight_schools_simulate
        out = fastmc.sbc(fastmc.models.eight_schools_noncentered(), eight_schools_prior,
                         eight_schools_simulate, 200, seed=1, n_warmup=500,
                         executor=client.get_executor(pure=False))
        out.uniformity()   # {"mu": (chi2, p), "tau": ..., "z[0]": ...}
        out.plot()
    """
    from .targets import Target

    if not isinstance(target, Target):
        raise TypeError(f"target must be a fastmc.Target (with data to replace), got {type(target).__name__}")
    for name, fn in (("prior", prior), ("simulate", simulate)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
    n_sims = as_int("n_sims", n_sims, minimum=1)
    n_draws = as_int("n_draws", n_draws, minimum=1)
    thin = as_int("thin", thin, minimum=1)
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.shape != (target.dim,):
            raise ValueError(f"x0 must have shape (d,) = ({target.dim},), got {x0.shape}")
    bad = {"seed", "n_samples", "x0", "executor", "progress", "warn"} & set(nuts_kwargs)
    if bad:
        raise TypeError(f"sbc() sets {sorted(bad)} of each fit itself")
    settings = dict(n_draws=n_draws, thin=thin, nuts=dict(dict(chains=1), **nuts_kwargs))
    from .executors import task_seeds

    seed = as_seed(seed)  # drawn here when None, so that the result records it
    out = map_fits(_one_fit, range(n_sims), executor=executor, seed=seed, progress=progress,
                   shared=(target, prior, simulate, x0, settings))
    done = [o for o in out if o is not None]
    if not done:
        raise RuntimeError("no simulation finished")
    chains = settings["nuts"]["chains"]
    ranks = {k: np.stack([o[0][k] for o in done]).astype(np.int64) for k in done[0][0]}
    return SBCResult(ranks, n_draws * chains, np.array([o[1] for o in done], dtype=np.int64),
                     [s for s, o in zip(task_seeds(seed, n_sims), out) if o is not None], seed)


# ---------------------------------------------------------------------- eight schools (the example)
def eight_schools_prior(rng, mu_scale: float = 5.0, tau_scale: float = 5.0) -> dict:
    """A draw of ``fastmc.models.eight_schools_noncentered``'s prior: mu ~ N(0, mu_scale),
    tau ~ HalfCauchy(tau_scale), z ~ N(0, 1) (8,)."""
    return {"mu": rng.normal(0.0, mu_scale), "tau": abs(tau_scale * rng.standard_cauchy()),
            "z": rng.standard_normal(8)}


def eight_schools_simulate(params, rng, sigma=None, mu_scale: float = 5.0, tau_scale: float = 5.0) -> np.ndarray:
    """y_j ~ N(mu + tau z_j, sigma_j) for the eight schools' sigma; returns the target's data
    ``[y (8), sigma (8), mu_scale, tau_scale]`` (the scales are those the fitted model uses)."""
    from .targets.pymc_models import EIGHT_SCHOOLS

    sigma = EIGHT_SCHOOLS["sigma"] if sigma is None else np.asarray(sigma, dtype=np.float64)
    y = params["mu"] + params["tau"] * params["z"] + sigma * rng.standard_normal(sigma.size)
    return np.concatenate([y, sigma, [mu_scale, tau_scale]])
