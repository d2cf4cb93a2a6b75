"""Welford (co)variance of warm-up draws and Stan's regularised inverse metric.
Twin: csrc/include/fastmc/adapt/welford.hpp. ``m2`` is flat: (d,) or (d*d,); ``cnt`` (1,) int64."""
from .._jit import njit_inline
from ..hmc.metric import METRIC_DIAG


@njit_inline
def welford_reset(kind, d, mean, m2, cnt):
    cnt[0] = 0
    for i in range(d):
        mean[i] = 0.0
    m = d if kind == METRIC_DIAG else d * d
    for i in range(m):
        m2[i] = 0.0


@njit_inline
def welford_add(kind, d, x, mean, m2, cnt, delta):
    cnt[0] += 1
    dn = float(cnt[0])
    for i in range(d):
        delta[i] = x[i] - mean[i]
        mean[i] += delta[i] / dn
    if kind == METRIC_DIAG:
        for i in range(d):
            m2[i] += (x[i] - mean[i]) * delta[i]
        return
    for i in range(d):
        a = x[i] - mean[i]
        for j in range(d):
            m2[i * d + j] += a * delta[j]


@njit_inline
def welford_metric(kind, d, m2, n, A):
    """A = n/(n+5) S + 1e-3 * 5/(n+5) I, S the (exactly symmetrised) sample covariance."""
    dn = float(n)
    w = dn / (dn + 5.0)
    r = 1e-3 * (5.0 / (dn + 5.0))
    if kind == METRIC_DIAG:
        for i in range(d):
            A[i] = w * (m2[i] / (dn - 1.0)) + r
        return
    for i in range(d):
        for j in range(d):
            s = 0.5 * (m2[i * d + j] + m2[j * d + i]) / (dn - 1.0)
            A[i * d + j] = w * s + r if i == j else w * s
