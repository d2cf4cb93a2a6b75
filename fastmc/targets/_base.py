"""What every kind of target shares, with no dependency on any one kind: the record the Numba
kernels take, and batched evaluation through whichever backend runs the target.

Imports run one way: ``mixture``, ``numba_glue`` and ``user`` import this module, never each other
in a circle (``user`` -> ``numba_glue`` -> ``_base``).
"""
from __future__ import annotations

from collections import namedtuple

from .. import _backends
from .._validation import as_points

#: What the Numba kernels receive for a target: its jitted functions and their data.
#:
#: ``logp(x, tdata, work) -> float``, ``logp_grad(x, grad, tdata, work) -> float``,
#: ``grad(x, grad, tdata, work)``, ``make_work(tdata) -> work`` (one chain's workspace),
#: ``failed(work) -> bool`` (the target stopped this chain: a negative return or an exception) and
#: ``failure(work, x) -> code`` (that return code, 0 if none; the point where it happened into x),
#: where ``x`` and ``grad`` are float64 arrays of shape (d,).
NumbaTarget = namedtuple("NumbaTarget", "logp logp_grad grad failed failure make_work tdata")


def logp_grad_batch(target, x, backend: str, where=None):
    """Log density and gradient of any target (mixture or user).

    Parameters
    ----------
    target : GaussianMixture or Target
    x : array_like, shape (d,) or (n, d)
    backend : {"auto", "cpp", "numba"}
    where : callable, optional
        ``where(i)`` names point ``i`` in the note of an error the target raises there
        (default "evaluating x[i]").

    Returns
    -------
    logp : float or ndarray, shape (n,)
    grad : ndarray, shape (d,) or (n, d)
    """
    X, single = as_points(x, target.dim)
    lp, g, n_ok, code = _backends.for_target(target, backend).target_logp_grad(target, X)
    if n_ok < X.shape[0]:
        if where is None:
            where = (lambda i: "evaluating x") if single else (lambda i: f"evaluating x[{i}]")
        target._raise_failure(code, X[n_ok], where(n_ok))
    return (float(lp[0]), g[0]) if single else (lp, g)


def default_start(target, x0, chains, seed, resume):
    """x0 for a run: the given one, or, when it is None, the target's own initial points (PyMC
    targets: the model's initial point with per-chain jitter), seeded from the run's seed.

    Returns (x0, seed) with ``seed`` fixed to an integer when a start point was drawn, so the run
    and its start points share it."""
    if x0 is not None or resume is not None or not hasattr(target, "initial_points"):
        return x0, seed
    from .._validation import as_int, as_seed

    seed = as_seed(seed)
    return target.initial_points(as_int("chains", chains, minimum=1), seed=seed), seed
