"""Nesterov dual averaging of log step size. Twin: csrc/include/fastmc/adapt/dual_averaging.hpp.
The state is a record of ``DUAL_AVERAGING`` (the C++ struct's fields), updated in place."""
import math

import numpy as np

from .._jit import njit_inline

DUAL_AVERAGING = np.dtype([
    ("delta", np.float64), ("gamma", np.float64), ("kappa", np.float64), ("t0", np.float64),  # target, constants
    ("mu", np.float64), ("s_bar", np.float64), ("x_bar", np.float64), ("counter", np.float64),
], align=True)


@njit_inline
def da_init(da, delta, gamma, kappa, t0):
    da.delta = delta
    da.gamma = gamma
    da.kappa = kappa
    da.t0 = t0
    da.mu = 0.0
    da.s_bar = 0.0
    da.x_bar = 0.0
    da.counter = 0.0


@njit_inline
def da_restart(da, mu):
    da.mu = mu
    da.counter = 0.0
    da.s_bar = 0.0
    da.x_bar = 0.0


@njit_inline
def da_update(da, accept_stat):
    """One observation of the acceptance statistic; returns the next step size exp(x)."""
    da.counter += 1.0
    counter = da.counter
    a = 1.0 if accept_stat > 1.0 else accept_stat
    eta = 1.0 / (counter + da.t0)
    da.s_bar = (1.0 - eta) * da.s_bar + eta * (da.delta - a)
    x = da.mu - da.s_bar * math.sqrt(counter) / da.gamma
    x_eta = math.pow(counter, -da.kappa)
    da.x_bar = (1.0 - x_eta) * da.x_bar + x_eta * x
    return math.exp(x)


@njit_inline
def da_final_step(da):
    """The step size kept after warm-up."""
    return math.exp(da.x_bar)
