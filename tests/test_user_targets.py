"""Targets users write: cfunc, njit and Python paths, built-in models, rejection, errors."""

import numba
import numpy as np
import pytest
from numba import cfunc

import fastmc
from helpers import CSIG, std_normal_c


# ---------------------------------------------------------------- the three paths agree


# ---------------------------------------------------------------- built-in models vs oracles


# ---------------------------------------------------------------- rejection, stop, errors


_NS = 8


@cfunc(CSIG)
def normal_with_stack_scratch(dim, x, grad, lp, data):
    s = fastmc.stack_array(_NS)
    for i in range(dim):
        s[i] = -x[i]
    t = 0.0
    for i in range(dim):
        grad[i] = s[i]
        t += x[i] * s[i]
    lp[0] = 0.5 * t
    return 0


def test_stack_array_scratch_in_a_cfunc(backend):
    a = fastmc.Target.from_cfunc(normal_with_stack_scratch, 3)
    b = fastmc.Target.from_cfunc(std_normal_c, 3)
    X = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_array_equal(a.logpdf_and_grad(X, backend=backend)[1], -X)
    np.testing.assert_allclose(a.logpdf(X, backend=backend), b.logpdf(X, backend=backend), rtol=1e-15)
    with pytest.raises(Exception):
        numba.njit(lambda n: fastmc.stack_array(n))(4)  # the length must be a compile-time constant
