"""Targets users write: cfunc, njit and Python paths, built-in models, rejection, errors."""

import numba
import numpy as np
import pytest
from numba import cfunc

import fastmc
from helpers import CSIG, assert_within_mcse, half_normal_c, std_normal_c, std_normal_py


@cfunc(CSIG)
def stops_beyond_3(dim, x, grad, lp, data):
    """Asks the sampler to stop (negative return) once it proposes x[0] > 3."""
    if x[0] > 3.0:
        return -1
    lp[0] = -0.5 * x[0] * x[0]
    grad[0] = -x[0]
    return 0


# ---------------------------------------------------------------- the three paths agree


# ---------------------------------------------------------------- built-in models vs oracles


# ---------------------------------------------------------------- rejection, stop, errors

def test_cfunc_outside_support_is_rejected_and_counted(backend):
    t = fastmc.Target.from_cfunc(half_normal_c, 1)
    r = fastmc.rwmh(t, [0.5], 200_000, scale=1.5, chains=2, seed=3, backend=backend)
    assert r.n_nonfinite.sum() > 0.2 * r.draws.size  # about half the proposals land below 0
    assert np.all(r.draws > 0)
    assert_within_mcse(r.draws[..., 0], np.sqrt(2 / np.pi), 2)
    assert_within_mcse(r.draws[..., 0] ** 2, 1.0, 2)


def test_negative_return_stops_sampling_and_keeps_draws(backend):
    t = fastmc.Target.from_cfunc(stops_beyond_3, 1, check_gradient=False)
    with pytest.warns(RuntimeWarning, match="stopped sampling early"):
        r = fastmc.rwmh(t, [0.0], 100_000, scale=3.0, chains=2, seed=1, backend=backend)
    assert np.all(r.n_done < 100_000)
    for c in range(2):
        assert np.all(r.draws[c, : r.n_done[c], 0] <= 3.0)
        assert np.all(np.isnan(r.draws[c, r.n_done[c]:])) and not r.accepted[c, r.n_done[c]:].any()


def _std_normal_raising_after(n_calls):
    """A 2-d standard normal Python target whose calls after the first n_calls raise (np.inf: none)."""
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] > n_calls:
            raise ZeroDivisionError("boom")
        return -0.5 * float(x @ x), -x

    return fastmc.Target.from_python(flaky, 2, check_gradient=False)


def test_python_exception_stops_with_partial_draws(cpp_only):
    t = _std_normal_raising_after(150)
    with pytest.raises(ZeroDivisionError, match="boom") as info:
        fastmc.rwmh(t, np.zeros(2), 100, scale=1.0, chains=3, seed=1)
    exc = info.value
    assert any("chain 1 at iteration" in n for n in exc.__notes__)
    part = exc.partial_result
    assert part.draws.shape[0] == 2 and part.n_done[0] == 100 and part.n_done[1] < 100
    # the first chain is intact: identical to the same chain of a clean run
    clean = fastmc.rwmh(fastmc.Target.from_python(std_normal_py, 2), np.zeros(2), 100, scale=1.0, chains=1, seed=1)
    np.testing.assert_array_equal(part.draws[0], clean.draws[0])


def test_negative_return_stops_nuts_and_keeps_draws(backend):
    t = fastmc.Target.from_cfunc(stops_beyond_3, 1, check_gradient=False)
    with pytest.warns(RuntimeWarning, match="stopped sampling early"):
        r = fastmc.nuts(t, [0.0], 100_000, n_warmup=100, chains=2, seed=1, backend=backend)
    assert np.all(r.n_done < 100_000)
    for c in range(2):
        k = max(int(r.n_done[c]), 0)
        assert np.all(r.draws[c, :k, 0] <= 3.0) and np.all(np.isfinite(r.draws[c, :k]))
        assert np.all(np.isnan(r.draws[c, k:])) and not r.accepted[c, k:].any()
        assert np.all(r.sample_stats["n_leapfrog"][c, k:] == 0)


def test_python_exception_in_nuts_keeps_partial_draws(cpp_only):
    t = _std_normal_raising_after(3000)
    with pytest.raises(ZeroDivisionError, match="boom") as info:
        fastmc.nuts(t, np.zeros(2), 200, n_warmup=100, chains=3, seed=1)
    exc = info.value
    part = exc.partial_result
    c = part.draws.shape[0] - 1
    assert any(f"chain {c} at iteration" in n for n in exc.__notes__)
    assert part.n_done[c] < 200 and np.all(part.n_done[:c] == 200)
    k = max(int(part.n_done[c]), 0)
    assert np.all(np.isfinite(part.draws[c, :k])) and np.all(np.isnan(part.draws[c, k:]))
    # the chains before the failing one are intact: identical to a clean run's
    clean = fastmc.nuts(_std_normal_raising_after(np.inf), np.zeros(2), 200,
                        n_warmup=100, chains=c, seed=1, warn=False)
    np.testing.assert_array_equal(part.draws[:c], clean.draws)


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
