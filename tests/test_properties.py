"""Properties of the metric leapfrog integrator that HMC and NUTS share (the Numba twin,
fastmc/_numba/metric.py): reversibility, energy error of order eps^2 over a fixed trajectory
length, volume preservation, and the velocity it carries staying A p; for the diagonal metric and
the dense one, in the plain layout (d < 64) and the panel layout of the product (d >= 64).

The C++ integrator (metric.hpp) has no binding of its own, so it is not called here; it is held to
the Numba twin by the parity tests (tests/test_nuts.py) and to the NumPy reference by
tests/test_reference_nuts.py, which run whole transitions through the public API.
"""
import warnings

import numba
import numpy as np
import pytest
from numba.core.errors import NumbaExperimentalFeatureWarning

import fastmc
# the one place the kernel is imported (the redesign may move it, e.g. to fastmc/_numba/hmc/)
from fastmc._numba.hmc.integrator import metric_leapfrog, metric_start
from fastmc._numba.hmc.metric import metric_layout_size, metric_product_layout

from reference import random_spd

DIAG, DENSE = 0, 1


@numba.njit(cache=False)
def _trajectory(logp_grad, tdata, twork, q, p, kind, A, eps, n_steps, H, v):
    """n_steps leapfrog steps from (q, p) in place; H[i] the energy after step i (H[0] at the
    start); v gets the velocity the integrator carries at the end."""
    d = q.shape[0]
    g = np.empty(d)
    u = np.empty(d)
    lp = logp_grad(q, g, tdata, twork)
    H[0] = -lp + metric_start(kind, d, A, p, g, v, u)
    for i in range(n_steps):
        lp, kin = metric_leapfrog(logp_grad, tdata, q, p, g, v, u, eps, kind, A, d, twork)
        H[i + 1] = -lp + kin


class _Setup:
    """A correlated Gaussian target (its Numba functions) and an inverse metric A that is not its
    covariance, for kind DIAG or DENSE in dimension d."""

    def __init__(self, kind, d):
        rng = np.random.default_rng(100 + d + kind)
        S = random_spd(rng, d, 0.5, 2.0)
        self.target = fastmc.GaussianMixture([1.0], [rng.normal(size=d)], [S])
        nt = self.target._numba_target()
        self.fns = (nt.logp_grad, nt.tdata, nt.make_work(nt.tdata))
        self.kind, self.d = kind, d
        M = random_spd(rng, d, 0.5, 2.0)
        self.A_matrix = np.diag(np.diag(M)) if kind == DIAG else M
        if kind == DIAG:
            self.A = np.ascontiguousarray(np.diag(M))
        else:
            flat = np.ascontiguousarray(M.ravel())
            self.A = metric_product_layout(d, flat, np.empty(metric_layout_size(kind, d)))
        self.q0 = self.target.means[0] + rng.normal(size=d)
        self.p0 = np.linalg.solve(np.linalg.cholesky(self.A_matrix).T, rng.normal(size=d))  # ~ N(0, A^-1)

    def run(self, q, p, eps, n_steps):
        q, p = q.copy(), p.copy()
        H = np.empty(n_steps + 1)
        v = np.empty(self.d)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
            _trajectory(*self.fns, q, p, self.kind, self.A, eps, n_steps, H, v)
        return q, p, H, v


CASES = [(DIAG, 5), (DENSE, 5), (DENSE, 66)]
IDS = ["diag-d5", "dense-d5", "dense-d66-panels"]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def setup(request):
    return _Setup(*request.param)


def test_panel_layout_is_used(setup):
    """The d >= 64 case really runs the product in the panel layout (not A itself)."""
    if setup.kind == DENSE:
        assert (setup.A.size > setup.d ** 2) == (setup.d >= 64)


def test_reversible(setup):
    """L steps forward, negate p, L steps back: the start point again (to rounding)."""
    q1, p1, _, _ = setup.run(setup.q0, setup.p0, 0.1, 40)
    assert np.abs(q1 - setup.q0).max() > 0.1  # it moved
    q2, p2, _, _ = setup.run(q1, -p1, 0.1, 40)
    np.testing.assert_allclose(q2, setup.q0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(-p2, setup.p0, rtol=0, atol=1e-10)


def test_velocity_follows_A_p(setup):
    """The velocity the integrator carries (updated by half kicks of A g for the dense metric)
    equals A p at the end of a trajectory, to rounding."""
    _, p, _, v = setup.run(setup.q0, setup.p0, 0.1, 40)
    np.testing.assert_allclose(v, setup.A_matrix @ p, rtol=1e-11, atol=1e-12)


def test_energy_error_is_second_order(setup):
    """Over a fixed trajectory length, halving eps divides the largest |H - H0| by about 4."""
    T = 2.0
    steps = np.array([0.1, 0.05, 0.025])
    errs = []
    for eps in steps:
        _, _, H, _ = setup.run(setup.q0, setup.p0, eps, int(round(T / eps)))
        errs.append(np.abs(H - H[0]).max())
    slopes = np.diff(np.log(errs)) / np.diff(np.log(steps))
    assert errs[0] > 1e-6  # well above rounding
    assert np.all((slopes >= 1.8) & (slopes <= 2.2)), (errs, slopes)


def test_volume_preserving(setup):
    """The map (q, p) -> (q', p') of a trajectory has Jacobian determinant 1 (central differences;
    exact up to rounding here, as the map is linear for a Gaussian target)."""
    d, h, L = setup.d, 1e-4, 10
    z0 = np.concatenate([setup.q0, setup.p0])
    J = np.empty((2 * d, 2 * d))
    for j in range(2 * d):
        e = np.zeros(2 * d)
        e[j] = h
        plus = np.concatenate(setup.run((z0 + e)[:d], (z0 + e)[d:], 0.1, L)[:2])
        minus = np.concatenate(setup.run((z0 - e)[:d], (z0 - e)[d:], 0.1, L)[:2])
        J[:, j] = (plus - minus) / (2 * h)
    sign, logdet = np.linalg.slogdet(J)
    assert sign == 1.0 and abs(logdet) < 1e-8
