"""Adam (Kingma & Ba, 2015) for gradient *ascent* on a dict of NumPy arrays."""
from __future__ import annotations

import numpy as np

from . import kernels

__all__ = ["Adam"]


class Adam:
    """Adam with bias correction, updating parameters in place to *maximise*.

    Each parameter keeps its own step count, so a step may update a subset of
    the parameters (wake-sleep alternates generative and recognition updates).

    Parameters
    ----------
    params : dict of str -> ndarray
        Parameters, updated in place.
    lr : float, optional
        Step size; may be changed between steps through the ``lr`` attribute.
    beta1, beta2 : float, optional
        Decay rates of the first and second moment estimates.
    eps : float, optional
        Denominator offset; 1e-4 as in Burda et al. (2016).
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-4):
        if not (lr > 0 and np.isfinite(lr)):
            raise ValueError(f"lr must be positive and finite, got {lr!r}")
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {beta1!r}, {beta2!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.params = params
        self.lr = float(lr)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = {k: 0 for k in params}
        self._tmp = {k: np.empty_like(v) for k, v in params.items()}

    def step(self, grads):
        """Take one ascent step along ``grads``.

        Parameters
        ----------
        grads : dict of str -> ndarray
            Gradients of the objective for (a subset of) the parameters.
        """
        b1, b2 = self.beta1, self.beta2
        consts = {}  # t -> (step, eps), (t, dtype) -> kernel constants; usually one t per step
        for name, g in grads.items():
            p = self.params[name]
            self.t[name] += 1
            t = self.t[name]
            if t not in consts:
                # bias corrections folded into the step size and epsilon
                c1 = 1 - b1**t
                c2 = 1 - b2**t
                consts[t] = (self.lr * np.sqrt(c2) / c1, self.eps * np.sqrt(c2))
            step, eps = consts[t]
            if kernels.adam_update is not None and p.flags.c_contiguous:  # one fused pass per parameter
                c = consts.get((t, p.dtype))
                if c is None:
                    c = consts[(t, p.dtype)] = np.array([b1, 1 - b1, b2, 1 - b2, step, eps], dtype=p.dtype)
                g = np.ascontiguousarray(g, dtype=p.dtype)
                m, v = self.m[name], self.v[name]
                kernels.adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), c)
                continue
            m, v, tmp = self.m[name], self.v[name], self._tmp[name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step
            p += tmp

    def state_dict(self):
        """Copy of the optimiser state.

        Returns
        -------
        dict
            ``{"m": {name: ndarray}, "v": {name: ndarray}, "t": {name: int}}``: first and second
            moment estimates and per-parameter step counts.
        """
        return {"m": {k: v.copy() for k, v in self.m.items()}, "v": {k: v.copy() for k, v in self.v.items()},
                "t": dict(self.t)}
