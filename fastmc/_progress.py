"""The live display of a run: one tqdm bar over every chain's iterations (warm-up and sampling),
with the draws done per chain, divergences so far, the current step size and the time left.

The chain driver publishes each chain's counters in its CHAIN_INFO record after every iteration
(relaxed stores); the calling thread reads them here while the chains run without the GIL.
"""
from __future__ import annotations

import os
import sys

import numpy as np

#: Seconds between two refreshes of the display (and between two checks for Ctrl-C).
REFRESH = 0.1


def _in_notebook() -> bool:
    """Whether this runs inside a Jupyter kernel (where stderr is not a terminal but a person watches)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # pragma: no cover - IPython without a shell
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def wanted(progress) -> bool:
    """``progress`` resolved: True/False as given; None means on when a person is watching (stderr
    is a terminal, or a notebook), off otherwise (pipes, files, CI logs)."""
    if progress is None:
        if os.environ.get("FASTMC_PROGRESS", "").strip().lower() in ("0", "false", "no", "off"):
            return False
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        return tty or _in_notebook()
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or None, got {type(progress).__name__}")
    return progress


def _chains_text(done, limit=8) -> str:
    shown = ", ".join(str(int(v)) for v in done[:limit])
    return f"[{shown}{', ...' if len(done) > limit else ''}]"


class Display:
    """The bar of one run (``enabled`` False: does nothing).

    Parameters
    ----------
    sampler : str
    info : ndarray of CHAIN_INFO, shape (chains,)
        Read while the chains run.
    n_warmup, n_samples : int
        Iterations per chain.
    hmc : bool
        Whether the info has divergences and step sizes to show.
    enabled : bool
    """

    def __init__(self, sampler, info, n_warmup, n_samples, *, hmc, enabled):
        self.info = info
        self.n_warmup = n_warmup
        self.hmc = hmc
        self.bar = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        chains = info.shape[0]
        self.bar = tqdm(total=chains * (n_warmup + n_samples), desc=f"{sampler} {chains} chain{'s' * (chains > 1)}",
                        unit="it", unit_scale=True, mininterval=REFRESH, smoothing=0.1, dynamic_ncols=True,
                        file=sys.stderr)
        self.shown = 0

    def update(self) -> None:
        if self.bar is None:
            return
        done = np.array(self.info["n_done"])  # one snapshot: the chains keep writing
        total = int(done.sum())
        phase = "warm-up" if done.min() < self.n_warmup else "sampling"
        post = f"{phase} {_chains_text(done)}"
        if self.hmc:
            steps = np.array(self.info["step_size"])
            post += f", divergences {int(np.array(self.info['n_divergent']).sum())}, step {np.median(steps):.3g}"
        self.bar.set_postfix_str(post, refresh=False)
        self.bar.update(total - self.shown)
        self.shown = total

    def close(self) -> None:
        if self.bar is not None:
            self.update()
            self.bar.close()
            self.bar = None
