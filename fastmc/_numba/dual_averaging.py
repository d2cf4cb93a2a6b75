"""Nesterov dual averaging of log step size. Twin: csrc/include/fastmc/dual_averaging.hpp.
State ``da`` (8,) float: delta, gamma, kappa, t0, mu, s_bar, x_bar, counter."""
import math

from ._jit import njit_inline


@njit_inline
def da_init(da, delta, gamma, kappa, t0):
    da[0] = delta
    da[1] = gamma
    da[2] = kappa
    da[3] = t0
    da[4] = 0.0
    da[5] = 0.0
    da[6] = 0.0
    da[7] = 0.0


@njit_inline
def da_restart(da, mu):
    da[4] = mu
    da[7] = 0.0
    da[5] = 0.0
    da[6] = 0.0


@njit_inline
def da_update(da, accept_stat):
    """One observation; returns the next step size exp(x)."""
    da[7] += 1.0
    counter = da[7]
    a = 1.0 if accept_stat > 1.0 else accept_stat
    eta = 1.0 / (counter + da[3])
    da[5] = (1.0 - eta) * da[5] + eta * (da[0] - a)
    x = da[4] - da[5] * math.sqrt(counter) / da[1]
    x_eta = math.pow(counter, -da[2])
    da[6] = (1.0 - x_eta) * da[6] + x_eta * x
    return math.exp(x)


@njit_inline
def da_final_step(da):
    return math.exp(da[6])
