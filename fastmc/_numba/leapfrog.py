"""Leapfrog (velocity Verlet) with diagonal inverse mass. Twin: csrc/include/fastmc/leapfrog.hpp."""
from ._jit import njit_fn


@njit_fn
def leapfrog(logp_grad, grad_fn, tdata, q, p, grad, d, step, n_steps, inv_mass, inv_temp, twork):
    """Advance (q, p) in place by ``n_steps``; ``grad`` in: at q, out: at the end point.
    Returns log pi at the end point (non-finite values propagate to the caller)."""
    half = 0.5 * step * inv_temp
    full = step * inv_temp
    lp = 0.0
    for i in range(d):
        p[i] += half * grad[i]
    for l in range(n_steps):
        for i in range(d):
            q[i] += step * inv_mass[i] * p[i]
        if l + 1 < n_steps:
            grad_fn(q, grad, tdata, twork)  # inner steps need no log density
            for i in range(d):
                p[i] += full * grad[i]
        else:
            lp = logp_grad(q, grad, tdata, twork)
            for i in range(d):
                p[i] += half * grad[i]
    return lp
