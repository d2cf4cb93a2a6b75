"""Gaussian mixture log density and gradient. Twin: csrc/include/fastmc/targets/mixture.hpp.

``tdata = (logc (K,), means (K, d), prec (K, d, d), panel)``: ``panel`` is ``prec`` again for
d >= SYM_PANEL_MIN_DIM, where the products follow the order of the C++ kernel's panel layout
(linalg.py ``symv_panel``; the precisions are exactly symmetric), else None. The product is
chosen by type at compile time: a run-time branch with a call to the panel product would keep
LLVM from optimising the small-d gradient. The workspace is a tuple of separate arrays
``(z (K, d), delta (d,), a (K,), lanes (4, d))`` made by :func:`mixture_make_work`: one shared
buffer would let LLVM assume that z and delta alias, and the loops would not vectorise.
"""
import math

import numpy as np
from numba.core import types
from numba.extending import overload

from .._jit import njit, njit_inline
from ..core.linalg import dot4, fma, symv, symv_panel


@njit_inline
def mixture_failed(work):
    """A mixture never fails."""
    return False


@njit_inline
def mixture_failure(work, x):
    """No failure: code 0, x untouched."""
    return 0


def _product(prec, panel, k, delta, z, d, lanes):
    """z[k] = P_k delta in the column-axpy order (panel None) or the panel order."""


@overload(_product, inline="always")
def _product_impl(prec, panel, k, delta, z, d, lanes):
    if isinstance(panel, types.NoneType):
        def full(prec, panel, k, delta, z, d, lanes):
            symv(prec, k, delta, z, d)
        return full

    def in_panel_order(prec, panel, k, delta, z, d, lanes):
        symv_panel(prec, k, delta, z, d, lanes)
    return in_panel_order


@njit
def mixture_make_work(tdata):
    """Workspace for one chain: (z_k = P_k (x - mu_k) (K, d), x - mu_k (d,), terms (K,), the
    panel-order product's lanes (4, d))."""
    K, d = tdata[1].shape
    return np.empty((K, d)), np.empty(d), np.empty(K), np.empty((4, d))


@njit_inline
def _components(x, tdata, work):
    logc, means, prec, panel = tdata
    z, delta, a, lanes = work
    K, d = means.shape
    for k in range(K):
        for i in range(d):
            delta[i] = x[i] - means[k, i]
        _product(prec, panel, k, delta, z, d, lanes)
        a[k] = logc[k] - 0.5 * dot4(delta, z, k, d)


@njit_inline
def _exp_shifted(a, K):
    """a_k -> exp(a_k - max) in place (the max term is exactly 1); returns (sum, max)."""
    m = a[0]
    for k in range(1, K):
        m = a[k] if a[k] > m else m
    s = 0.0
    for k in range(K):
        a[k] = 1.0 if a[k] == m else math.exp(a[k] - m)
        s += a[k]
    return s, m


@njit_inline
def _gather_grad(z, a, s, grad, K, d):
    """grad = -sum_k r_k z_k with r_k = e_k / s."""
    for i in range(d):
        grad[i] = 0.0
    for k in range(K):
        nr = -(a[k] / s)
        for i in range(d):
            grad[i] = fma(nr, z[k, i], grad[i])


@njit_inline
def mixture_logp(x, tdata, work):
    """log p(x) for one point ``x`` (d,)."""
    K, d = tdata[1].shape
    _components(x, tdata, work)
    s, m = _exp_shifted(work[2], K)
    return m + math.log(s)


@njit_inline
def mixture_logp_grad(x, grad, tdata, work):
    """log p(x) for one point ``x`` (d,); writes grad log p into ``grad`` (d,)."""
    K, d = tdata[1].shape
    _components(x, tdata, work)
    s, m = _exp_shifted(work[2], K)
    _gather_grad(work[0], work[2], s, grad, K, d)
    return m + math.log(s)


@njit_inline
def mixture_grad(x, grad, tdata, work):
    """grad log p(x) into ``grad`` (d,), without the log density (leapfrog inner steps)."""
    K, d = tdata[1].shape
    _components(x, tdata, work)
    s, m = _exp_shifted(work[2], K)
    _gather_grad(work[0], work[2], s, grad, K, d)


@njit
def mixture_logp_batch(X, tdata):
    """Log density only (start points, users' logpdf): X (n, d) -> (n,)."""
    n, d = X.shape
    lp = np.empty(n)
    work = mixture_make_work(tdata)
    for i in range(n):
        lp[i] = mixture_logp(X[i], tdata, work)
    return lp
