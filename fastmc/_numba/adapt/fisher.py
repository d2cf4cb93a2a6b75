"""The diagonal inverse metric that minimises the Fisher divergence, A_i = sqrt(var(x_i) / var(g_i)),
from two running estimates of the warm-up's draws and gradients.
Twin: csrc/include/fastmc/adapt/fisher.hpp, which documents it. An estimate ``est`` is flat
(4 * d,): the Welford mean and m2 of the draws, then of the gradients; ``cnt`` (1,) int64."""
import math

from .._jit import njit_inline

FISHER_BLOCKS = 4
FISHER_MIN = 1e-20
FISHER_MAX = 1e20


@njit_inline
def fisher_reset(d, est, cnt):
    cnt[0] = 0
    for i in range(FISHER_BLOCKS * d):
        est[i] = 0.0


@njit_inline
def fisher_add(d, x, g, est, cnt):
    cnt[0] += 1
    dn = float(cnt[0])
    for i in range(d):
        dx = x[i] - est[i]
        est[i] += dx / dn
        est[d + i] += (x[i] - est[i]) * dx
        dg = g[i] - est[2 * d + i]
        est[2 * d + i] += dg / dn
        est[3 * d + i] += (g[i] - est[2 * d + i]) * dg


@njit_inline
def fisher_metric(d, est, A):
    for i in range(d):
        a = math.sqrt(est[d + i] / est[3 * d + i])  # IEEE division (error_model="numpy"), as in C++
        if a == a:
            A[i] = FISHER_MIN if a < FISHER_MIN else (FISHER_MAX if a > FISHER_MAX else a)


@njit_inline
def fisher_from_gradient(d, g, A):
    for i in range(d):
        a = 1.0 / abs(g[i])
        A[i] = 1.0 if not (a <= FISHER_MAX) else (FISHER_MIN if a < FISHER_MIN else a)
