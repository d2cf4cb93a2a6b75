"""Helpers that several test modules share (tests/reference.py holds the NumPy oracles): small
targets in the three user forms (cfunc, njit, Python), runs of the plain samplers on a workload, a
leapfrog trajectory by the Numba twin, random mixtures, the leapfrog-count rule, a z-test against
the batch-means MCSE."""
import contextlib
import math
import time

import numba
import numpy as np
from numba import cfunc, types
from reference import batch_means_mcse, random_spd
from scipy import stats

import fastmc
from fastmc.workloads import workload

# ---------------------------------------------------------------- user targets in the three forms

CSIG = types.intc(types.uintp, types.CPointer(types.float64), types.CPointer(types.float64),
                  types.CPointer(types.float64), types.voidptr)


@cfunc(CSIG)
def std_normal_c(dim, x, grad, lp, data):
    s = 0.0
    for i in range(dim):
        s += x[i] * x[i]
        grad[i] = -x[i]
    lp[0] = -0.5 * s
    return 0


@numba.njit
def std_normal_nb(x, grad, data):
    s = 0.0
    for i in range(x.size):
        s += x[i] * x[i]
        grad[i] = -x[i]
    return -0.5 * s


def std_normal_py(x):
    s = 0.0
    for v in x:
        s += v * v
    return -0.5 * s, -x


@cfunc(CSIG)
def half_normal_c(dim, x, grad, lp, data):
    """Standard normal restricted to x[0] > 0: outside, 'outside the support' (return 1)."""
    if x[0] <= 0.0:
        return 1
    s = 0.0
    for i in range(dim):
        s += x[i] * x[i]
        grad[i] = -x[i]
    lp[0] = -0.5 * s
    return 0


# ---------------------------------------------------------------- mixtures

def random_mixture(rng, d, K=3):
    """K components in dimension d: random weights, means and covariances (well conditioned)."""
    w = rng.uniform(0.1, 1.0, K)
    means = 2.0 * rng.standard_normal((K, d))
    covs = np.array([random_spd(rng, d) for _ in range(K)])
    return fastmc.GaussianMixture(w, means, covs)


# ---------------------------------------------------------------- runs

def run_sampler(sampler, name, n, backend, **kw):
    """rwmh or hmc on a workload from the origin, with the workload's tuned scale or step size and L."""
    mix, s = workload(name)
    x0 = np.zeros(mix.dim)
    if sampler == "rwmh":
        return fastmc.rwmh(mix, x0, n, scale=s["rwmh_sigma"], backend=backend, **kw)
    return fastmc.hmc(mix, x0, n, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], backend=backend, **kw)


def numba_leapfrog(mix, q, p, step, L, backend):
    """One leapfrog trajectory by the Numba twin (the C++ one is tied to it by the parity tests)."""
    from fastmc._numba.hmc.integrator import leapfrog_steps

    nt = mix._numba_target()
    q = q.copy()
    p = p.copy()
    g = mix.grad_logpdf(q)
    d = q.size
    lp, _ = leapfrog_steps(nt.logp_grad, nt.grad, nt.tdata, q, p, g, p.copy(), np.empty(d), step, L, 0, np.ones(d), d,
                           nt.make_work(nt.tdata))
    return q, p, lp


# ---------------------------------------------------------------- rules and tolerances

def leapfrog_steps_for(T, eps, cap):
    """The documented rule, from the recorded step sizes: min(cap, max(1, floor(T / eps)))."""
    return np.minimum(cap, np.maximum(1, np.floor(T / eps))).astype(np.int64)


def assert_within_mcse(y, target, n_stats):
    """The mean of y within z batch-means MCSEs of target, z for a 0.1 % family-wise error over
    n_stats moments checked on one run (two-sided Bonferroni)."""
    z = stats.norm.isf(0.001 / (2 * n_stats))
    assert abs(y.mean() - target) < z * batch_means_mcse(y), (y.mean(), target, batch_means_mcse(y))


@numba.njit(error_model="numpy")
def nan_outside_support(x, grad, data):
    """d = 8 (the log density of test_layout's transformed model in its constrained space), written without a support check: log(p) and log1p(-p) make the log density NaN (not
    -inf) for p = x[2] outside (0, 1), which the warm-up's first large steps reach."""
    mu, tau, p, v = x[0], x[1], x[2], x[4]
    lp = -0.5 * mu * mu - tau + math.log(p) + 2.0 * math.log1p(-p) + (v - 2.0)
    grad[0] = -mu
    grad[1] = -1.0
    grad[2] = 1.0 / p - 2.0 / (1.0 - p)
    grad[3] = 0.0
    grad[4] = 1.0
    for i in range(5, 8):
        lp -= 0.5 * x[i] * x[i]
        grad[i] = -x[i]
    return lp


def assert_same_draws(a, b):
    """Two runs with warm-up made the same draws, bit for bit: warm-up, kept, and every named
    (constrained) parameter."""
    np.testing.assert_array_equal(a.warmup.draws, b.warmup.draws)
    np.testing.assert_array_equal(a.draws, b.draws)
    for k in a.posterior:
        np.testing.assert_array_equal(a.posterior[k], b.posterior[k])


@contextlib.contextmanager
def ctrl_c_after(seconds=0.2):
    """Within the block, the first wait for a run raises KeyboardInterrupt after ``seconds`` of
    sampling, in the waiting thread, as SIGINT would (tests/test_long_runs.py sends a real one)."""
    import fastmc._runtime as runtime

    orig = runtime._wait
    calls = [0]

    def interrupt_soon(job):
        calls[0] += 1
        if calls[0] == 1:
            time.sleep(seconds)
            raise KeyboardInterrupt
        return orig(job)

    runtime._wait = interrupt_soon
    try:
        yield
    finally:
        runtime._wait = orig
