"""Runs stored as they are made: a zarr (format 3) group that a run writes while it samples and
that :func:`resume` continues exactly, even after the process was killed.

The chain driver saves each chain's whole state (position, gradient, step size, dual averaging,
Welford sums, metric, generator words) every ``store_every`` iterations, and when Ctrl-C stops
it; the calling thread copies each saved state and writes, in this order, the draws and sample
statistics up to it, the state into one of two slots, and last the chain's marker
``(iterations, slot)``. A run killed at any moment (SIGKILL included) leaves a marker that
points at a whole state whose draws are all written, so resuming from it gives, bit for bit,
the draws the uninterrupted run would have made.

Layout: ``draws`` (chains, n_total, d); ``stats`` (chains, n_total, itemsize) the HMC_DRAW
records as bytes; ``state`` (chains, 2, state_size); ``marker`` (chains, 2) int64; the start
arrays ``init_x0``, ``init_step``, ``init_inv_metric``; attributes: the sampler and its validated
settings (everything needed to continue), the fastmc version, and a GaussianMixture target's arrays
(a user target must be passed to :func:`resume` again).
"""
from __future__ import annotations

import os

import numpy as np

from ._schema import CHAIN_DONE, CHAIN_INFO, CHAIN_INTERRUPTED

__all__ = ["resume", "load"]

#: Iterations between two saved states when ``store_every`` is not given.
STORE_EVERY = 250


def _zarr():
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("storing runs needs the zarr package: pip install 'fastmc[store]'") from exc
    return zarr


def _version():
    try:
        from importlib.metadata import version

        return version("fastmc")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


class RunStore:
    """One stored run (see the module docstring). Made by the samplers (``store=``), reopened by
    :func:`resume` and :func:`load`."""

    def __init__(self, group, path):
        self.group = group
        self.path = path
        a = group.attrs
        self.chains, self.n_total, self.d = int(a["chains"]), int(a["n_total"]), int(a["dim"])
        self.state_size = int(a["state_size"])
        self.every = int(a["store_every"])
        self.call = dict(a["call"])
        self.sampler = str(a["sampler"])
        marker = group["marker"][:]
        self.written = np.maximum(marker[:, 0], 0).astype(np.int64)  # rows stored per chain
        self.slot = marker[:, 1].copy()  # the slot of the latest state (-1: none)
        self.seen = np.zeros(self.chains, dtype=np.int64)  # saved states of this process's run copied

    # ------------------------------------------------------------------ making and opening
    @classmethod
    def create(cls, path, *, sampler, call, chains, n_total, d, state_size, store_every, draw_dtype, init, target):
        """A new store at ``path`` (which must not exist) for a run of these dimensions."""
        zarr = _zarr()
        path = os.fspath(path)
        if os.path.exists(path):
            raise ValueError(f"store {path!r} exists: give a new path, or continue it with fastmc.resume({path!r})")
        g = zarr.open_group(path, mode="w-", zarr_format=3)
        chunk = max(1, min(int(store_every), n_total))
        g.create_array("draws", shape=(chains, n_total, d), chunks=(1, chunk, d), dtype="float64",
                       fill_value=np.nan)
        g.create_array("stats", shape=(chains, n_total, draw_dtype.itemsize), chunks=(1, chunk, draw_dtype.itemsize),
                       dtype="uint8", fill_value=0)
        g.create_array("state", shape=(chains, 2, state_size), chunks=(1, 1, state_size), dtype="float64",
                       fill_value=0.0)
        g.create_array("marker", shape=(chains, 2), chunks=(1, 2), dtype="int64", fill_value=-1)
        for name, arr in init.items():
            arr = np.ascontiguousarray(arr)
            g.create_array(f"init_{name}", shape=arr.shape, dtype=arr.dtype, fill_value=0)[...] = arr
        target_attr = None
        from .targets import GaussianMixture

        if isinstance(target, GaussianMixture):
            for name in ("weights", "means", "covs"):
                arr = np.ascontiguousarray(getattr(target, name), dtype=np.float64)
                g.create_array(f"target_{name}", shape=arr.shape, dtype="float64", fill_value=0.0)[...] = arr
            target_attr = "GaussianMixture"
        g.attrs.update(dict(fastmc_version=_version(), sampler=sampler, call=call, chains=chains, n_total=n_total,
                            dim=d, state_size=state_size, store_every=int(store_every),
                            stats_dtype=[[n, draw_dtype[n].str] for n in draw_dtype.names],
                            target=target_attr))
        return cls(g, path)

    @classmethod
    def open(cls, path):
        """An existing store, to continue or read."""
        zarr = _zarr()
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise ValueError(f"store {path!r} does not exist")
        try:
            g = zarr.open_group(path, mode="r+", zarr_format=3)
            if "marker" not in g or "call" not in g.attrs:
                raise KeyError("marker")
        except Exception as exc:
            raise ValueError(f"{path!r} is not a fastmc store ({type(exc).__name__}: {exc})") from None
        return cls(g, path)

    def target(self):
        """The stored GaussianMixture, or None for a user target."""
        if self.group.attrs.get("target") != "GaussianMixture":
            return None
        from .targets import GaussianMixture

        return GaussianMixture(self.group["target_weights"][:], self.group["target_means"][:],
                               self.group["target_covs"][:])

    def init(self, name):
        return self.group[f"init_{name}"][...]

    # ------------------------------------------------------------------ continuing
    def prefill(self, state_in, draws, stats):
        """The latest saved state of every chain into state_in (chains, state_size) and the rows
        before it into draws and stats, for the engine to continue from."""
        marker = self.group["marker"][:]
        for c in range(self.chains):
            t, slot = int(marker[c, 0]), int(marker[c, 1])
            if t <= 0 or slot < 0:
                continue
            state_in[c] = self.group["state"][c, slot]
            draws[c, :t] = self.group["draws"][c, :t]
            stats[c, :t] = self.group["stats"][c, :t].view(stats.dtype).reshape(t)
        return marker[:, 0].clip(min=0)

    def saved_info(self):
        """CHAIN_INFO records (chains,) of the stored run as far as it went, with each chain's
        latest state (chains, state_size) or zeros."""
        from ._numba.adapt.warmup import STATE_EPS, STATE_NGRAD, STATE_NDIV

        marker = self.group["marker"][:]
        info = np.zeros(self.chains, CHAIN_INFO)
        states = np.zeros((self.chains, self.state_size))
        for c in range(self.chains):
            t, slot = int(marker[c, 0]), int(marker[c, 1])
            if t > 0 and slot >= 0:
                states[c] = self.group["state"][c, slot]
                info[c]["n_done"] = t
                info[c]["n_grad"] = int(states[c, STATE_NGRAD])
                info[c]["final_step"] = states[c, STATE_EPS]
                info[c]["n_divergent"] = int(states[c, STATE_NDIV])
            info[c]["status"] = CHAIN_DONE if t == self.n_total else CHAIN_INTERRUPTED
        return info, states

    # ------------------------------------------------------------------ writing while sampling
    def flush(self, info, ckpt, draws, stats):
        """Write every chain's newest saved state (and the rows before it) that is not stored yet."""
        raw = stats.view(np.uint8).reshape(stats.shape[0], stats.shape[1], -1)
        for c in range(info.shape[0]):
            seq = int(info[c]["n_checkpoints"])
            if seq <= self.seen[c]:
                continue
            snap = ckpt[c, (seq - 1) % 2].copy()
            if int(info[c]["n_checkpoints"]) != seq:  # the chain may be rewriting that row: next time
                continue
            t = int(snap[0])
            w = int(self.written[c])
            if t > w:
                self.group["draws"][c, w:t] = draws[c, w:t]
                self.group["stats"][c, w:t] = raw[c, w:t]
            slot = 0 if self.slot[c] != 0 else 1  # never the slot the marker points at
            self.group["state"][c, slot] = snap
            self.group["marker"][c] = np.array([t, slot], dtype=np.int64)  # last: the state is whole
            self.written[c], self.slot[c], self.seen[c] = t, slot, seq


def resume(path, target=None, *, backend="auto", n_threads=None, progress=None, warn=True):
    """Continue a stored run (``store=`` of :func:`fastmc.nuts` or :func:`fastmc.hmc`) to its end.

    The draws, sample statistics and adapted state equal, bit for bit, those of the run had it
    never stopped, whether it was interrupted (Ctrl-C) or killed (any signal, a crash, a power
    cut): each chain continues from its latest saved state, and the store keeps growing.

    Parameters
    ----------
    path : str or os.PathLike
        The store.
    target : Target, optional
        The target the run sampled; needed unless it was a GaussianMixture (stored with the run).
    backend, n_threads, progress
        As for the samplers; they never change the draws.
    warn : bool
        Warn about sampling problems at the end, as the samplers do.

    Returns
    -------
    SamplingResult
        The whole run, as the uninterrupted call would have returned it.
    """
    from ._hmc_engine import run_stored

    return run_stored(RunStore.open(path), target, backend=backend, n_threads=n_threads, progress=progress,
                      warn=warn, run=True)


def load(path, target=None):
    """A stored run as a :class:`SamplingResult`, as far as it went (unfinished chains: the
    draws they made, NaN after; ``result.n_done`` says how many).

    Parameters
    ----------
    path : str or os.PathLike
    target : Target, optional
        Not needed to read draws; accepted for symmetry with :func:`resume`.

    Returns
    -------
    SamplingResult
    """
    from ._hmc_engine import run_stored

    return run_stored(RunStore.open(path), target, run=False)
