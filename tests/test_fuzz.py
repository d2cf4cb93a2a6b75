"""Property-based fuzzing of every public entry point (hypothesis).

Each test starts from a valid, small and fast call and replaces one or two of its arguments with
hostile values: huge and tiny numbers, NaN and inf, subnormals, integers beyond 64 bits, wrong
types and shapes, 0-size and 0-d arrays, and layout variants of a valid array (Fortran order,
non-contiguous, read-only, big-endian, float32, integer, a list). What must hold:

* the call raises a ValueError or TypeError whose message names an argument of the call, or
* it returns, and for layout variants the result equals the call with the same values as a
  C-contiguous float64 array; other accepted values give a result of the documented shape;
* no warning other than fastmc's own (SamplingWarning, DiagnosticWarning, GradientCheckWarning,
  the early-stop RuntimeWarning) escapes: a NumPy RuntimeWarning means an unguarded computation;
* no other exception type, crash or hang. (A MemoryError is accepted only for a count so large
  that the run's arrays cannot be allocated.)

Every defect of issue 22 that an argument can reproduce is pinned by an ``@example``, so it stays
covered whatever hypothesis draws. The number of examples is small for CI; ``--fuzz-long`` or
``FASTMC_FUZZ_LONG=1`` multiplies it (``FASTMC_FUZZ_EXAMPLES=n`` sets it per test).
"""
from __future__ import annotations

import copy
import decimal
import fractions
import os
import re
import warnings

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fastmc
from fastmc.adaptation import SamplingWarning
from fastmc.diagnostics import DiagnosticWarning

from helpers import std_normal_c, std_normal_nb

LONG = os.environ.get("FASTMC_FUZZ_LONG") == "1"


def fuzz_settings(n):
    """``n`` examples in CI (derandomised, so a CI run is reproducible), 50 n with FASTMC_FUZZ_LONG."""
    n = int(os.environ.get("FASTMC_FUZZ_EXAMPLES", 50 * n if LONG else n))
    return settings(max_examples=n, deadline=None, database=None, derandomize=not LONG,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


# ---------------------------------------------------------------- hostile values

SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 5e-324, 1e-320, 2.2250738585072014e-308, 1e-300,
                  1e300, 1.7976931348623157e308, -1e300, 0.5, 2.0]
# 2**40 rather than 2**31: an array of 2**31 doubles (16 GiB) could still be allocated and filled here
HUGE_INTS = [2**40, 2**62, 2**63 - 1, 2**63, 2**64, 2**70, -2**70, 10**400, -1, 0]
WRONG_TYPES = [None, "1", "0.5", b"1", True, False, 1j, [1.0], (1.0,), {}, object(), np.array(1.0),
               np.array([1.0]), np.float32(0.5), np.int64(3), np.uint64(2**64 - 1), np.bool_(True),
               fractions.Fraction(1, 3), decimal.Decimal("0.5"), np.array(["a"]), np.datetime64(1, "s")]
STRINGS = ["", "diag ", "DIAG", "dense\x00", "none", "auto", "numba", "cpp", "gpu", "bulk", "🙂"]

scalar_hostile = st.one_of(st.sampled_from(SPECIAL_FLOATS), st.sampled_from(HUGE_INTS), st.sampled_from(WRONG_TYPES),
                           st.sampled_from(STRINGS), st.floats(allow_nan=True, allow_infinity=True),
                           st.integers(-5, 70))


class Layout:
    """A layout or dtype variant of a valid array: the call must give the canonical result (or a
    named error where the argument requires a C-contiguous float64 array)."""

    def __init__(self, how, arr):
        self.how, self.arr = how, arr

    def __repr__(self):
        return f"Layout({self.how!r}, {self.arr!r})"

    def canonical(self):
        return np.array(self.arr, dtype=np.float64, order="C")


def _layouts(a):
    a = np.asarray(a, dtype=np.float64)
    out = [Layout("list", a.tolist()), Layout("readonly", _readonly(a)), Layout("big-endian", a.astype(">f8"))]
    if a.ndim >= 1:
        nc = np.empty(a.shape[:-1] + (2 * a.shape[-1],))
        nc[..., ::2] = a
        out.append(Layout("non-contiguous", nc[..., ::2]))
    if a.ndim >= 2:
        out.append(Layout("fortran", np.asfortranarray(a)))
    out.append(Layout("float32", a.astype(np.float32)))  # the canonical call gets the rounded values
    if np.all(a == np.round(a)):
        out.append(Layout("int64", a.astype(np.int64)))
        out.append(Layout("int32", a.astype(np.int32)))
    return out


def _readonly(a):
    b = np.array(a)
    b.setflags(write=False)
    return b


def _value_variants(a):
    """Wrong values, shapes and types derived from a valid array."""
    a = np.asarray(a, dtype=np.float64)
    out = [a.reshape(-1)[:0], np.zeros((0,) + a.shape), np.array(a.reshape(-1)[0]) if a.size else np.array(0.0),
           a[None], np.concatenate([a.reshape(-1), [1.0]]), a.astype(complex), a.astype(str), a.astype(object),
           np.full(a.shape, np.nan), np.full(a.shape, 1e308), np.full(a.shape, 1e-320), a.astype(bool),
           [[1.0], [1.0, 2.0]], "abc"]
    for v in (np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 0.0, -1.0, 10**400):
        if a.size:
            b = a.astype(object) if isinstance(v, int) and abs(v) > 2**64 else a.copy()
            b.reshape(-1)[-1] = v
            out.append(b)
    return out


def hostile(value):
    """Hostile replacements for an argument whose valid value is ``value``."""
    options = [scalar_hostile]
    if isinstance(value, (np.ndarray, list)):
        options.append(st.sampled_from(_layouts(value)))
        options.append(st.sampled_from(_value_variants(value)))
    return st.one_of(options)


# ---------------------------------------------------------------- running a call and judging it

ALLOWED_WARNINGS = (SamplingWarning, DiagnosticWarning, fastmc.GradientCheckWarning)


def _allowed(w):
    if issubclass(w.category, ALLOWED_WARNINGS):
        return True
    return w.category is RuntimeWarning and "stopped sampling early" in str(w.message)


def names_an_argument(msg, names):
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?!\w)", msg) for n in names)


class Rejected:
    def __init__(self, exc):
        self.type, self.msg = type(exc), str(exc)

    def __eq__(self, other):
        return isinstance(other, Rejected) and (self.type, self.msg) == (other.type, other.msg)

    def __repr__(self):
        return f"Rejected({self.type.__name__}: {self.msg})"


def judge(f, kwargs, names, *, huge_count=False):
    """Call f(**kwargs): a Rejected for a named ValueError/TypeError, else the result. Fails the
    test for an unnamed error, any other exception and any warning that is not fastmc's."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            out = f(**kwargs)
        except (ValueError, TypeError) as exc:
            assert names_an_argument(str(exc), names), f"error names no argument of {sorted(names)}: {exc!r}"
            out = Rejected(exc)
        except fastmc.AutocorrError as exc:  # integrated_time's documented refusal (quiet=False)
            out = Rejected(exc)
        except FloatingPointError as exc:  # vae.train's documented stop when the objective diverges
            assert "diverged" in str(exc), exc
            out = Rejected(exc)
        except MemoryError as exc:
            if not huge_count:
                raise
            out = Rejected(exc)
    leaked = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in rec if not _allowed(w)]
    assert not leaked, leaked
    return out


def _has_huge_count(kwargs, counts):
    return any(isinstance(kwargs.get(k), (int, np.integer)) and not isinstance(kwargs.get(k), bool)
               and int(kwargs[k]) >= 2**30 for k in counts)


def fuzz_call(f, base, replaced, counts=(), compare=None, check=None):
    """Run f with ``base`` updated by ``replaced`` and judge it (see the module docstring).
    ``compare(a, b)`` asserts two results equal; ``check(result, kwargs)`` checks an accepted one."""
    kwargs = dict(base)
    kwargs.update({k: (v.arr if isinstance(v, Layout) else v) for k, v in replaced.items()})
    names = set(base) | {"resume", "prob", "target", "x"}
    huge = _has_huge_count(kwargs, counts)
    out = judge(f, kwargs, names, huge_count=huge)
    if any(isinstance(v, Layout) for v in replaced.values()) and not isinstance(out, Rejected):
        want_kwargs = dict(base)
        want_kwargs.update({k: (v.canonical() if isinstance(v, Layout) else v) for k, v in replaced.items()})
        want = judge(f, want_kwargs, names, huge_count=huge)
        assert not isinstance(want, Rejected), (want, out)
        compare(out, want)
    elif not isinstance(out, Rejected) and check is not None:
        check(out, kwargs)
    return out


def replacements(base, keys=None, max_args=2):
    """A dict of one or two argument names of ``base`` -> hostile values."""
    keys = sorted(base if keys is None else keys)

    @st.composite
    def strat(draw):
        chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=max_args, unique=True))
        return {k: draw(hostile(base[k])) for k in chosen}

    return strat()


def same_result(a, b):
    for name in ("draws", "log_density", "accepted", "n_nonfinite", "divergent"):
        x, y = getattr(a, name, None), getattr(b, name, None)
        if x is not None or y is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)


def same_array(a, b):
    np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


# ---------------------------------------------------------------- samplers

MIX = fastmc.default_mixture()
X0 = np.array([0.5, -0.25])


def _check_run(res, kw):
    assert isinstance(res, fastmc.SamplingResult)
    assert res.draws.ndim == 3 and res.draws.shape[2] == 2
    assert res.log_density.shape == res.draws.shape[:2] and res.accepted.shape == res.draws.shape[:2]
    done = np.asarray(res.n_done)
    for c in range(res.draws.shape[0]):
        assert np.all(np.isfinite(res.draws[c, :max(int(done[c]), 0)]))


RWMH = dict(target=MIX, x0=X0, n_samples=6, scale=0.75, chains=2, seed=3, temperature=1.0, n_threads=2,
            n_warmup=8, adapt_scale=True, adapt_cov=True, target_accept=0.25, warn=True)
HMC = dict(target=MIX, x0=X0, n_samples=5, step_size=0.25, n_leapfrog=3, chains=2, seed=3, n_threads=2,
           inv_mass=np.array([1.0, 0.5]), max_leapfrog=16, temperature=1.0, n_warmup=0, target_accept=0.8,
           warn=True, step_size_jitter=0.0, metric="diag")
HMC_WARM = dict(target=MIX, x0=X0, n_samples=5, step_size=0.25, integration_time=1.0, max_leapfrog=16, chains=2,
                seed=3, n_warmup=25, metric="diag", target_accept=0.8, gamma=0.05, kappa=0.75, t0=10.0,
                init_buffer=5, term_buffer=3, base_window=5, adapt_step_size=True,
                inv_metric=np.array([1.0, 0.5]), step_size_jitter=0.25, temperature=2.0, warn=True)
NUTS = dict(target=MIX, x0=X0, n_samples=5, n_warmup=25, max_treedepth=5, target_accept=0.8, metric="diag",
            chains=2, seed=3, step_size=0.5, inv_metric=np.array([1.0, 0.5]), adapt_step_size=True, gamma=0.05,
            kappa=0.75, t0=10.0, init_buffer=5, term_buffer=3, base_window=5, step_size_jitter=0.25,
            temperature=1.0, warn=True, n_threads=2)
NUTS_DENSE = dict(NUTS, metric="dense", inv_metric=np.array([[1.0, 0.25], [0.25, 0.5]]), x0=np.array([X0, -X0]))
COUNTS = ("n_samples", "chains", "n_warmup", "n_leapfrog", "max_leapfrog", "n_threads", "init_buffer", "term_buffer",
          "base_window", "max_treedepth")


def _sampler_test(f, base, backend, replaced):
    base = dict(base, backend=backend)
    fuzz_call(f, base, replaced, counts=COUNTS, compare=same_result, check=_check_run)


@fuzz_settings(120)
@given(replaced=replacements(RWMH))
@example(replaced={"n_threads": 2**70})  # D11: pybind11's "incompatible function arguments" / silently clamped
@example(replaced={"n_samples": 2**70})
@example(replaced={"temperature": 10**400})  # D11: OverflowError
@example(replaced={"scale": 10**400})
@example(replaced={"temperature": 1e-320})  # D12: a subnormal temperature recorded as 0
@example(replaced={"scale": 1e-320})
@example(replaced={"adapt_scale": "no"})  # D17: counted as True
@example(replaced={"adapt_cov": "no"})
@example(replaced={"target_accept": 10**400})
@example(replaced={"x0": Layout("big-endian", X0.astype(">f8")), "scale": Layout("readonly", _readonly([0.5, 1.0]))})
def test_fuzz_rwmh(backend, replaced):
    _sampler_test(fastmc.rwmh, RWMH, backend, replaced)


@fuzz_settings(120)
@given(replaced=replacements(HMC))
@example(replaced={"step_size_jitter": 0.0})  # D17: a valid value that raised TypeError
@example(replaced={"target_accept": 7.5})  # D17: ignored without warm-up
@example(replaced={"metric": "bogus"})
@example(replaced={"step_size": 10**400})  # D11
@example(replaced={"n_leapfrog": 2**70})
@example(replaced={"temperature": 1e-320})  # D12
@example(replaced={"step_size": 1e-320})
@example(replaced={"inv_mass": np.array([1e-320, 1.0])})
@example(replaced={"warn": "no"})
@example(replaced={"metric": np.array(["diag", "dense"])})
def test_fuzz_hmc(backend, replaced):
    _sampler_test(fastmc.hmc, HMC, backend, replaced)


@fuzz_settings(100)
@given(replaced=replacements(HMC_WARM))
@example(replaced={"init_buffer": 2**70})  # D11: accepted as a huge buffer
@example(replaced={"gamma": 1e-320})  # D12
@example(replaced={"adapt_step_size": np.bool_(False)})
@example(replaced={"inv_metric": np.array([1e-320, 1.0])})
def test_fuzz_hmc_warmup(backend, replaced):
    _sampler_test(fastmc.hmc, HMC_WARM, backend, replaced)


@fuzz_settings(120)
@given(replaced=replacements(NUTS))
@example(replaced={"max_treedepth": 2**61})  # D1: malloc(): invalid size
@example(replaced={"max_treedepth": 2**63 - 1})
@example(replaced={"max_treedepth": 2**40, "chains": 3})
@example(replaced={"n_threads": 2**70})  # D11
@example(replaced={"n_warmup": 2**70})
@example(replaced={"target_accept": 10**400})
@example(replaced={"temperature": 1e-320})  # D12: all-NaN log densities and NumPy warnings
@example(replaced={"temperature": 1.7976931348623157e308})
@example(replaced={"kappa": 1e-320, "t0": 1e-320})
@example(replaced={"step_size": np.array([0.5, np.nan])})
@example(replaced={"inv_metric": Layout("non-contiguous", np.array([1.0, 0.0, 0.5])[::2])})
def test_fuzz_nuts(backend, replaced):
    _sampler_test(fastmc.nuts, NUTS, backend, replaced)


@fuzz_settings(60)
@given(replaced=replacements(NUTS_DENSE, keys=("inv_metric", "x0", "metric", "chains", "step_size")))
@example(replaced={"inv_metric": Layout("fortran", np.asfortranarray([[1.0, 0.25], [0.25, 0.5]]))})
@example(replaced={"inv_metric": np.array([[1.0, 0.25], [0.2, 0.5]])})
def test_fuzz_nuts_dense(backend, replaced):
    _sampler_test(fastmc.nuts, NUTS_DENSE, backend, replaced)


def test_fuzz_huge_warmup_is_refused_at_once(backend):
    """D9: nuts(n_warmup=10**9) ran a Python loop for 390 s before its MemoryError; chains=2**62
    gave NumPy's "array is too big" from the engine's per-chain arrays."""
    import time

    t = time.perf_counter()
    for kw in (dict(n_warmup=10**9, chains=4), dict(n_warmup=10, chains=2**62)):
        with pytest.raises(MemoryError, match=r"the draws of this run need .* run fewer chains or iterations"):
            fastmc.nuts(MIX, X0, 10, backend=backend, **kw)
        with pytest.raises(MemoryError, match=r"the draws of this run need .* run fewer chains or iterations"):
            fastmc.hmc(MIX, X0, 10, step_size=0.1, n_leapfrog=2, backend=backend, **kw)
        with pytest.raises(MemoryError, match=r"the draws of this run need .* run fewer chains or iterations"):
            fastmc.rwmh(MIX, X0, 10, scale=1.0, backend=backend, **kw)
    assert time.perf_counter() - t < 5.0


# ---------------------------------------------------------------- resume states

def _state():
    return fastmc.nuts(MIX, X0, 5, n_warmup=25, chains=2, seed=3, warn=False, backend="numba"
                       if "cpp" not in fastmc.available_backends() else "cpp").state


STATE = _state()
STATE_FIELDS = dict(metric=STATE.metric, step_size=STATE.step_size, inv_metric=STATE.inv_metric,
                    position=STATE.position, rng_state=STATE.rng_state, seed=STATE.seed,
                    step_size_jitter=STATE.step_size_jitter, temperature=STATE.temperature)


def _resume_field_variants(name, value):
    if name == "rng_state":
        return st.one_of(st.sampled_from([np.zeros_like(value), value.astype(np.float64), value[:, :3], value[:1],
                                          value.astype(np.int64), value.T.copy(), None, "state"]),
                         st.sampled_from(_layouts(value.astype(np.float64))[:1]),
                         st.just(Layout("fortran-uint64", np.asfortranarray(value))))
    return hostile(value)


@st.composite
def corrupted_states(draw):
    names = draw(st.lists(st.sampled_from(sorted(STATE_FIELDS)), min_size=1, max_size=2, unique=True))
    return {n: draw(_resume_field_variants(n, STATE_FIELDS[n])) for n in names}


def _resume_call(sampler, backend, fields):
    s = copy.deepcopy(STATE)
    layouts = {}
    for k, v in fields.items():
        setattr(s, k, v.arr if isinstance(v, Layout) else v)
        if isinstance(v, Layout):
            layouts[k] = v
    kw = dict(x0=None, n_samples=4, resume=s, warn=False, backend=backend)
    if sampler is fastmc.hmc:
        kw["n_leapfrog"] = 3
    names = {"resume", "chains", "x0", "step_size", "backend"}
    out = judge(lambda **k: sampler(MIX, **k), kw, names)
    if layouts and not isinstance(out, Rejected):
        good = copy.deepcopy(STATE)
        for k, v in fields.items():
            canon = (v.arr.astype(np.uint64) if k == "rng_state" else v.canonical()) if isinstance(v, Layout) else v
            setattr(good, k, canon)
        same_result(out, sampler(MIX, **dict(kw, resume=good)))
    return out


@fuzz_settings(100)
@given(fields=corrupted_states(), sampler=st.sampled_from(["nuts", "hmc"]))
@example(fields={"step_size": np.array([np.nan, 1.0])}, sampler="nuts")  # D16: reported as step_size
@example(fields={"position": np.full((2, 2), np.nan)}, sampler="hmc")  # D16: reported as x0
@example(fields={"position": np.zeros(2)}, sampler="nuts")  # IndexError
@example(fields={"rng_state": np.zeros((2, 4), np.uint64)}, sampler="nuts")  # a generator stuck at 0
@example(fields={"rng_state": np.zeros((2, 4))}, sampler="hmc")  # float state silently converted
@example(fields={"seed": "a"}, sampler="nuts")
@example(fields={"temperature": 1e-320}, sampler="hmc")
def test_fuzz_resume_state(backend, fields, sampler):
    _resume_call(getattr(fastmc, sampler), backend, fields)


# ---------------------------------------------------------------- targets

MIX_ARGS = dict(weights=np.array([0.25, 0.75]), means=np.array([[0.0, 0.0], [1.0, -1.0]]),
                covs=np.array([np.eye(2), np.diag([2.0, 0.5])]))
PTS = np.array([[0.5, -0.25], [3.0, 1.0]])


@fuzz_settings(150)
@given(replaced=replacements(MIX_ARGS))
@example(replaced={"covs": np.array([1e-320 * np.eye(2), np.eye(2)])})  # D17: NaN everywhere
@example(replaced={"covs": np.array([np.eye(2), [[1.0, 1.0], [1.0, 1.0 + 1e-17]]])})
@example(replaced={"weights": np.array([1e-320, 0.0])})
def test_fuzz_gaussian_mixture(backend, replaced):
    def build(**kw):
        return fastmc.GaussianMixture(**kw).logpdf_and_grad(PTS, backend=backend)

    def check(out, kw):
        lp, g = out
        assert lp.shape == (2,) and g.shape == (2, 2) and not np.isnan(lp).any()

    fuzz_call(build, MIX_ARGS, replaced, compare=lambda a, b: (same_array(a[0], b[0]), same_array(a[1], b[1])),
              check=check)


@fuzz_settings(120)
@given(x=hostile(PTS), method=st.sampled_from(["logpdf", "logpdf_and_grad", "grad_logpdf"]),
       target=st.sampled_from(["mixture", "cfunc", "numba"]))
@example(x=np.array([10**400, 0.0], dtype=object), method="logpdf", target="mixture")
def test_fuzz_target_evaluation(backend, x, method, target):
    t = {"mixture": MIX, "cfunc": fastmc.Target.from_cfunc(std_normal_c, 2),
         "numba": fastmc.Target.from_numba(std_normal_nb, 2)}[target]

    def call(x, backend):
        out = getattr(t, method)(x, backend=backend)
        return out if isinstance(out, tuple) else (out,)

    fuzz_call(call, dict(x=PTS, backend=backend), {"x": x},
              compare=lambda a, b: [same_array(u, v) for u, v in zip(a, b)])


def _py_target_fns():
    return [lambda x: (-0.5 * float(x @ x), -x), lambda x: "abc", lambda x: None, lambda x: (0.0, -x, 1),
            lambda x: (np.nan, -x), lambda x: (np.inf, -x), lambda x: (0.0, np.array([np.nan, 0.0])),
            lambda x: (1j, -x), lambda x: (0.0, -x.astype(np.float32)), lambda x: (10**400, -x),
            lambda x: (0.0, [[1.0, 2.0]]), lambda x: (0.0, "ab"), lambda x: (np.float32(-1), x.tolist())]


@fuzz_settings(60)
@given(fn=st.sampled_from(_py_target_fns()), dim=st.one_of(st.just(2), scalar_hostile),
       sampler=st.sampled_from(["rwmh", "hmc", "nuts", "logpdf"]), backend_arg=st.sampled_from(["auto", "cpp",
                                                                                               "numba"]))
def test_fuzz_python_target(cpp_only, fn, dim, sampler, backend_arg):
    """D16: wrong returns give errors saying what was returned, and backend="numba" is the same
    named ValueError in every sampler (NUTS ran silently on C++)."""
    def call(fn, dim, backend):
        t = fastmc.Target.from_python(fn, dim)
        if sampler == "logpdf":
            return t.logpdf_and_grad(X0, backend=backend)
        kw = dict(rwmh=dict(scale=1.0), hmc=dict(step_size=0.1, n_leapfrog=2), nuts=dict(n_warmup=10))[sampler]
        return getattr(fastmc, sampler)(t, X0, 5, chains=1, seed=1, backend=backend, warn=False, **kw)

    names = {"dim", "backend", "logp_and_grad", "logp", "x0", "x", "grad"}
    out = judge(call, dict(fn=fn, dim=dim, backend=backend_arg), names)
    if backend_arg == "numba" and type(dim) is int and dim == 2:
        assert isinstance(out, Rejected) and out.type is ValueError and "backend='numba'" in out.msg, out


CFUNC_ARGS = dict(dim=2, data=np.array([1.0, 2.0]), check_gradient=True)


@fuzz_settings(80)
@given(replaced=replacements(CFUNC_ARGS), kind=st.sampled_from(["cfunc", "numba"]))
def test_fuzz_user_target_constructors(backend, replaced, kind):
    def build(dim, data, check_gradient):
        f = fastmc.Target.from_cfunc if kind == "cfunc" else fastmc.Target.from_numba
        t = f(std_normal_c if kind == "cfunc" else std_normal_nb, dim, data, check_gradient=check_gradient)
        return t.logpdf_and_grad(np.zeros(t.dim if t.dim <= 8 else 1)[:t.dim], backend=backend)

    fuzz_call(build, CFUNC_ARGS, replaced, counts=("dim",),
              compare=lambda a, b: (same_array(a[0], b[0]), same_array(a[1], b[1])))


MODELS = {
    "gaussian": (fastmc.models.gaussian, dict(mean=np.array([0.0, 1.0]), cov=np.array([[1.0, 0.5], [0.5, 2.0]]))),
    "rosenbrock": (fastmc.models.rosenbrock, dict(a=1.0, b=5.0)),
    "funnel": (fastmc.models.funnel, dict(dim=3, scale=3.0)),
    "logistic_regression": (fastmc.models.logistic_regression,
                            dict(X=np.array([[1.0, 0.5], [1.0, -1.0], [1.0, 2.0]]), y=np.array([0.0, 1.0, 1.0]),
                                 prior_scale=1.0)),
}


@st.composite
def model_case(draw, model=None):
    model = draw(st.sampled_from(sorted(MODELS))) if model is None else model
    return model, draw(replacements(MODELS[model][1]))


def check_model(backend, case):
    model, replaced = case
    f, base = MODELS[model]

    def build(**kw):
        t = f(**kw)
        return t.logpdf_and_grad(np.full(t.dim, 0.25), backend=backend)

    fuzz_call(build, base, replaced, counts=("dim",),
              compare=lambda a, b: (same_array(a[0], b[0]), same_array(a[1], b[1])))


@fuzz_settings(40)
@pytest.mark.parametrize("model", sorted(MODELS))
@given(data=st.data())
def test_fuzz_models(backend, model, data):
    check_model(backend, data.draw(model_case(model)))


@fuzz_settings(40)
@given(n=hostile(5), seed=st.one_of(st.integers(0, 2**64 + 5), scalar_hostile))
def test_fuzz_mixture_sample(n, seed):
    fuzz_call(lambda n, seed: MIX.sample(n, seed=seed), dict(n=5, seed=1), {"n": n, "seed": seed}, counts=("n",))


# ---------------------------------------------------------------- diagnostics

DRAWS = np.random.default_rng(22).standard_normal((3, 40, 2)).cumsum(axis=1) * 0.1
DRAWS2 = DRAWS[..., 0]


def _diag_variants():
    """Degenerate draws on top of the generic hostile arrays: NaN, inf, constant, huge, few draws."""
    out = []
    for a in (DRAWS, DRAWS2):
        b = a.copy()
        b[0, 3] = np.nan
        out.append(b)
        b = a.copy()
        b[1, 5] = np.inf
        out.append(b)
        out += [np.ones_like(a), a * 1e200, a * 1e-320, a[:, :3], a[:1], a[:, :1], np.full_like(a, -np.inf)]
    return out


diag_x = st.one_of(hostile(DRAWS), hostile(DRAWS2), st.sampled_from(_diag_variants()))
DIAG = {
    "ess": (fastmc.ess, dict(method="bulk", prob=None, relative=False)),
    "rhat": (fastmc.rhat, dict(method="rank")),
    "mcse": (fastmc.mcse, dict(method="mean", prob=None, sd_variant="arviz")),
    "summary": (lambda x, **kw: fastmc.summary(x, **kw).values, dict(names=None, hdi_prob=0.94, kind="hdi",
                                                                        sd_variant="arviz")),
    "autocorr": (fastmc.autocorr, {}),
    "autocov": (fastmc.autocov, {}),
    "integrated_time": (fastmc.integrated_time, dict(c=5, tol=50, quiet=True)),
}
METHODS = {"ess": fastmc.diagnostics.ESS_METHODS, "rhat": fastmc.diagnostics.RHAT_METHODS,
           "mcse": fastmc.diagnostics.MCSE_METHODS}
PROBS = [0.3, (0.1, 0.9), [0.2, 0.8], np.array(0.5), "a", [1, 2], 10**400, 1j, None, np.nan, (0.1, "b"), (0.1,),
         (0.1, 0.2, 0.3), 1.0, 0.0, 5e-324, [[0.1], [0.2, 0.3]], np.array([0.1, 0.9])]


@st.composite
def diag_case(draw, name):
    """One or two arguments of DIAG[name] replaced."""
    keys = [k for k in DIAG[name][1]] + ["x"]
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=2, unique=True))
    case = {}
    for k in chosen:
        if k == "x":
            case[k] = draw(diag_x)
        elif k == "method":
            case[k] = draw(st.one_of(st.sampled_from(METHODS[name]), scalar_hostile))
        elif k in ("prob", "hdi_prob"):
            case[k] = draw(st.one_of(st.sampled_from(PROBS), scalar_hostile))
        else:
            case[k] = draw(hostile(DIAG[name][1][k]))
    return case


def check_diagnostic(name, backend, case):
    f, base = DIAG[name]
    base = dict(base, x=DRAWS)
    if name in ("ess", "rhat", "mcse", "summary"):
        base["backend"] = backend
    fuzz_call(f, base, case, compare=lambda a, b: np.testing.assert_array_equal(a, b))


def _diag_reproducers(name):
    """D10 (read-only draws), D15 (NumPy warnings from NaN/inf/huge draws), D16 (raw float()
    errors for prob and hdi_prob) for one diagnostic."""
    cases = [{"x": Layout("readonly", _readonly(DRAWS2))}, {"x": _diag_variants()[1]}, {"x": DRAWS * 1e200}]
    if name in ("ess", "mcse"):
        cases += [{"prob": "a", "method": "quantile"}, {"prob": 10**400, "method": "quantile"},
                  {"prob": 1j, "method": "tail" if name == "ess" else "quantile"}]
    if name == "summary":
        cases += [{"hdi_prob": "a"}, {"hdi_prob": [1, 2]}, {"hdi_prob": None}, {"names": 5}]
    if name == "integrated_time":
        cases += [{"c": 10**400}, {"tol": 1e-320}]
    return cases


@pytest.mark.parametrize("name", sorted(DIAG))
def test_diagnostics_reproducers(backend, name):
    for case in _diag_reproducers(name):
        check_diagnostic(name, backend, case)


@fuzz_settings(60)
@pytest.mark.parametrize("name", sorted(DIAG))
@given(data=st.data())
def test_fuzz_diagnostics(backend, name, data):
    check_diagnostic(name, backend, data.draw(diag_case(name)))


# ---------------------------------------------------------------- the VAE

def _vae():
    from fastmc.vae import VAE

    return VAE(n_visible=6, hidden=(4,), n_latent=2, seed=0)


VAE_X = (np.arange(18).reshape(3, 6) % 2).astype(np.float64)


VAE_ENTRIES = ("elbo", "iwae_bound", "log_likelihood", "paired_se", "log_mean_exp", "VAE", "train", "schedules")


def _vae_entry(entry):
    from fastmc import vae

    if entry == "elbo":
        return (lambda x, k, kl, rng: vae.elbo(_vae(), x, k=k, kl=kl, rng=rng)), dict(x=VAE_X, k=2, kl="mc", rng=0)
    if entry == "iwae_bound":
        return (lambda x, k, rng: vae.iwae_bound(_vae(), x, k, rng=rng)), dict(x=VAE_X, k=3, rng=0)
    if entry == "log_likelihood":
        return ((lambda x, k, max_rows, batch_size: vae.log_likelihood(_vae(), x, k=k, rng=0, max_rows=max_rows,
                                                                       batch_size=batch_size)),
                dict(x=VAE_X, k=4, max_rows=2, batch_size=2))
    if entry == "paired_se":
        return vae.paired_se, dict(a=np.array([1.0, 2.0, 4.0]), b=np.array([0.5, 1.0, 1.0]))
    if entry == "log_mean_exp":
        return vae.log_mean_exp, dict(a=np.array([[1.0, -2.0], [0.5, 3.0]]), axis=0)
    if entry == "VAE":
        return ((lambda **kw: vae.VAE(**kw).elbo(VAE_X, rng=0)),
                dict(n_visible=6, hidden=(4,), n_latent=2, activation="tanh", seed=0))
    if entry == "train":
        return ((lambda **kw: vae.train(_vae(), **kw)[-1].train_objective),
                dict(data=VAE_X, objective="iwae", k=2, epochs=1, batch_size=2, lr=1e-3, seed=0))
    return (lambda n_stages, lr: vae.paper_schedule(n_stages, lr)), dict(n_stages=2, lr=1e-3)


@st.composite
def vae_case(draw):
    entry = draw(st.sampled_from(VAE_ENTRIES))
    return entry, draw(replacements(_vae_entry(entry)[1]))


def check_vae(case):
    entry, replaced = case
    f, base = _vae_entry(entry)
    fuzz_call(f, base, replaced, counts=("k", "epochs", "batch_size", "n_stages", "max_rows", "n_visible",
                                         "n_latent"),
              compare=lambda a, b: np.testing.assert_array_equal(np.asarray(a, dtype=float),
                                                                 np.asarray(b, dtype=float)))


@fuzz_settings(40)
@given(case=vae_case())
def test_fuzz_vae(case):
    check_vae(case)


@fuzz_settings(40)
@given(array=hostile(np.arange(6, dtype=np.uint8).reshape(2, 3)), compress=st.sampled_from([None, True, False]))
@example(array=np.array(5, np.uint8), compress=None)  # D18: a 0-d file read_idx rejects
def test_fuzz_idx_round_trip(tmp_path_factory, array, compress):
    from fastmc.vae import read_idx, write_idx

    path = tmp_path_factory.mktemp("idx") / "a.idx"
    out = judge(lambda array, compress: write_idx(path, array, compress), dict(array=array, compress=compress),
                {"array", "path", "compress"})
    if not isinstance(out, Rejected):  # what was written reads back exactly
        back = read_idx(path)
        a = np.asarray(array.arr if isinstance(array, Layout) else array)
        np.testing.assert_array_equal(back, a)


def test_idx_header_whose_dimensions_overflow_is_corrupt(tmp_path):
    """D18: a header of dimensions whose product wraps in int64 gave NumPy's reshape error."""
    import struct

    from fastmc.vae import read_idx

    p = tmp_path / "wrap.idx"
    p.write_bytes(bytes([0, 0, 8, 4]) + struct.pack(">4I", 65536, 65536, 65536, 65536))
    with pytest.raises(ValueError, match="is truncated: header shape"):
        read_idx(p)
