"""Diagnostics: ArviZ/Stan/posteriordb/emcee reference values, C++/Numba parity, degenerate data."""
import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtri

from fastmc import diagnostics as D
from fastmc.diagnostics import _blocks
from fastmc._backends import available_backends

REF = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
needs_ref = pytest.mark.skipif(not REF.is_dir(), reason=f"reference data not found at {REF}")
BACKENDS = [b for b in ("cpp", "numba") if b in available_backends()]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def ar1(phi, shape, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(shape)
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi ** 2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


# ---------------------------------------------------------------- ArviZ 0.23.4 on AR(1) chains

def _ar1_cases():
    if not REF.is_dir():
        return []
    ref = json.loads((REF / "ar1_expected.json").read_text())
    return [(ref["data_spec"], case) for case in ref["cases"].values()]


def _call(x, key, backend):
    kind, _, m = key.partition("_")
    if kind == "ess":
        if m == "bulk_relative":
            return D.ess(x, "bulk", relative=True, backend=backend)
        if m.startswith("quantile_"):
            return D.ess(x, "quantile", prob=float(m.split("_")[1]), backend=backend)
        if m.startswith("local_"):
            _, lo, hi = m.split("_")
            return D.ess(x, "local", prob=(float(lo), float(hi)), backend=backend)
        return D.ess(x, m, backend=backend)
    if kind == "rhat":
        return D.rhat(x, m, backend=backend)
    if m.startswith("quantile_"):
        return D.mcse(x, "quantile", prob=float(m.split("_")[1]), backend=backend)
    return D.mcse(x, m, backend=backend)


@needs_ref
@pytest.mark.parametrize("spec_case", _ar1_cases(), ids=lambda c: f"phi={c[1]['phi']}")
def test_arviz_ar1_reference(spec_case, backend):
    spec, case = spec_case
    x = ar1(case["phi"], (spec["n_chains"], spec["n_draws"]), spec["seed"])
    assert hashlib.sha256(x.astype("<f8").tobytes()).hexdigest() == case["sha256"]
    for key, expected in case["arviz"].items():
        got = _call(x, key, backend)
        # ESS and MCSE 1e-9 relative, R-hat 1e-12 (the brief's tolerances)
        tol = 1e-12 if key.startswith("rhat") else 1e-9
        assert got == pytest.approx(expected, rel=tol), key


@needs_ref
@pytest.mark.parametrize("spec_case", _ar1_cases(), ids=lambda c: f"phi={c[1]['phi']}")
def test_emcee_integrated_time(spec_case):
    spec, case = spec_case
    x = ar1(case["phi"], (spec["n_chains"], spec["n_draws"]), spec["seed"])
    em = case["emcee"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", D.DiagnosticWarning)  # asserted below for the short chain
        tau = D.integrated_time(x, c=em["c"], tol=em["tol"], quiet=True)
    assert tau == pytest.approx(em["tau"], rel=1e-9)
    if em["strict_call_raises_AutocorrError"]:
        with pytest.raises(D.AutocorrError) as info:
            D.integrated_time(x, c=em["c"], tol=em["tol"])
        assert info.value.tau == pytest.approx(em["tau"], rel=1e-9)
        with pytest.warns(D.DiagnosticWarning):
            D.integrated_time(x, c=em["c"], tol=em["tol"], quiet=True)
    else:
        D.integrated_time(x, c=em["c"], tol=em["tol"])


# ---------------------------------------------------------------- Stan's unit-test expectations

def _stan_csv(path):
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    return np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])


@needs_ref
def test_stan_blocker():
    exp = json.loads((REF / "stan_expected.json").read_text())["blocker"]
    b = np.stack([_stan_csv(REF / "stan" / f"blocker.{i}.csv")[:, 4:52] for i in (1, 2)])
    # tolerances of Stan's tests: 1.0 (ESS), 1e-4 (R-hat), absolute
    np.testing.assert_allclose(D.ess(b[:1], "identity"), exp["ess_one_chain_blocker1_nonsplit"], atol=1.0, rtol=0)
    np.testing.assert_allclose(D.ess(b, "identity"), exp["ess_two_chains_nonsplit"], atol=1.0, rtol=0)
    np.testing.assert_allclose(D.ess(b, "mean"), exp["ess_two_chains_split"], atol=1.0, rtol=0)
    np.testing.assert_allclose(D.rhat(b, "identity"), exp["rhat_two_chains_nonsplit_classic"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(D.rhat(b, "split"), exp["rhat_two_chains_split_classic"], atol=1e-4, rtol=0)


@pytest.fixture
def bern():
    if not REF.is_dir():
        pytest.skip(f"reference data not found at {REF}")
    data = [_stan_csv(REF / "stan" / f"bern{i}.csv") for i in range(1, 5)]
    exp = json.loads((REF / "stan_expected.json").read_text())["bern"]
    return np.stack([d[:, [0, 5, 7]] for d in data]), exp


def test_stan_bern(bern, backend):
    X, exp = bern
    tol = exp["expected"]["tolerances_in_stan_tests"]
    for j, name in ((0, "lp__"), (2, "theta")):
        x, e = X[:, :, j], exp["expected"][name]
        assert D.ess(x, backend=backend) == pytest.approx(e["ess_bulk"], abs=tol["ess_bulk_tail"])
        assert D.ess(x, "tail", backend=backend) == pytest.approx(e["ess_tail"], abs=tol["ess_bulk_tail"])
        assert D.ess(x, "identity", backend=backend) == pytest.approx(e["ess_basic_nonsplit"], abs=tol["ess_basic"])
        assert D.rhat(x, "split", backend=backend) == pytest.approx(e["rhat_basic_split"], abs=tol["rhat_basic"])
        assert D.rhat(x, backend=backend) == pytest.approx(e["rhat_rank_max_bulk_folded"], abs=tol["rhat_rank"])
        assert D.mcse(x, backend=backend) == pytest.approx(e["mcse_mean"], abs=tol["mcse"])
    # MCSE of the sd: Stan's variant (ESS of |x - mean|) is what Stan's test asserts for lp__;
    # for theta both variants are within Stan's tolerance of its stated value.
    assert D.mcse(X[:, :, 0], "sd", sd_variant="stan") == pytest.approx(
        exp["expected"]["lp__"]["mcse_sd_stan_abs_variant"], abs=tol["mcse"])
    for variant in ("stan", "arviz"):
        assert D.mcse(X[:, :, 2], "sd", sd_variant=variant) == pytest.approx(
            exp["expected"]["theta"]["mcse_sd"], abs=tol["mcse"])
    ac = D.autocorr(X[:, :, 2])[0, :10]
    np.testing.assert_allclose(ac, exp["expected"]["theta"]["autocorrelation_chain1_lags0_9"],
                               atol=tol["autocorrelation"], rtol=0)


def test_stan_bern_constant_column(bern):
    """divergent__ is all zero: ESS = number of draws (ArviZ; Stan says NaN), R-hat NaN + warning."""
    X, _ = bern
    x = X[:, :, 1]
    assert D.ess(x) == x.size
    with pytest.warns(D.DiagnosticWarning, match="constant"):
        assert np.isnan(D.rhat(x))


@needs_ref
def test_stan_ar1_autocovariance():
    exp = json.loads((REF / "stan_expected.json").read_text())["ar1_csv"]
    a = np.array([float(v) for v in (REF / "stan" / "ar1.csv").read_text().split() if v])
    np.testing.assert_allclose(D.autocov(a[None, :])[0, :6], exp["expected_autocovariance_lags0_5"],
                               atol=exp["tolerance"], rtol=0)


# ---------------------------------------------------------------- posteriordb

@needs_ref
@pytest.mark.parametrize("name", ["arK-arK", "eight_schools-eight_schools_noncentered"])
def test_posteriordb(name, backend):
    exp = json.loads((REF / "posteriordb_expected.json").read_text())[name]
    with zipfile.ZipFile(REF / "posteriordb" / f"{name}.json.zip") as z:
        chains = json.loads(z.read(z.namelist()[0]))
    X = np.stack([np.column_stack([c[n] for n in exp["names"]]) for c in chains])
    np.testing.assert_allclose(D.ess(X, backend=backend), exp["effective_sample_size_bulk"], rtol=1e-9)
    np.testing.assert_allclose(D.ess(X, "tail", backend=backend), exp["effective_sample_size_tail"], rtol=1e-9)
    # The stored R-hat equals ours (and ArviZ's) to 1e-15 wherever the bulk part is the maximum;
    # where the folded part wins it differs by up to 1.3e-6 relative (an older posterior version's
    # folded R-hat, we believe), hence 2e-6 here.
    np.testing.assert_allclose(D.rhat(X, backend=backend), exp["r_hat"], rtol=2e-6)


# ---------------------------------------------------------------- twins and paths

def _parity_inputs():
    rng = np.random.default_rng(7)
    return {
        "iid": rng.standard_normal((4, 1000, 3)),
        "ar09_odd": ar1(0.9, (3, 777), 1),
        "ar0999": ar1(0.999, (4, 3000), 2),  # long truncation: FFT fallback
        "ties": rng.integers(0, 5, (4, 400, 2)).astype(float),
        "neg_zero": np.where(rng.random((2, 50)) < 0.5, -0.0, 0.0) + (rng.random((2, 50)) < 0.3),
    }


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both the C++ extension and numba")
@pytest.mark.parametrize("name", list(_parity_inputs()))
def test_cpp_numba_parity(name):
    x = _parity_inputs()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", D.DiagnosticWarning)
        for m in D.ESS_METHODS:
            prob = 0.3 if m == "quantile" else (0.2, 0.7) if m == "local" else None
            a, b = (D.ess(x, m, prob=prob, backend=be) for be in ("cpp", "numba"))
            np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=m)
        for m in D.RHAT_METHODS:
            np.testing.assert_allclose(D.rhat(x, m, backend="cpp"), D.rhat(x, m, backend="numba"), rtol=1e-12)
        for m in D.MCSE_METHODS:
            prob = 0.2 if m == "quantile" else None
            np.testing.assert_allclose(D.mcse(x, m, prob=prob, backend="cpp"),
                                       D.mcse(x, m, prob=prob, backend="numba"), rtol=1e-12)
        np.testing.assert_allclose(D.summary(x, backend="cpp").values, D.summary(x, backend="numba").values,
                                   rtol=1e-12)


def test_fft_fallback_equals_direct(backend, monkeypatch):
    x = ar1(0.95, (4, 2000), 3)
    direct = [D.ess(x, m, backend=backend) for m in ("bulk", "mean", "sd", "tail")]
    monkeypatch.setattr(_blocks, "_MAX_DIRECT_LAGS", 16)  # forces the FFT path
    fft = [D.ess(x, m, backend=backend) for m in ("bulk", "mean", "sd", "tail")]
    np.testing.assert_allclose(fft, direct, rtol=1e-11)


def test_normal_score_table_matches_ndtri(backend):
    """The table of integer-rank scores (AS241, vectorised central region, threaded) agrees with
    scipy's ndtri, which ArviZ calls, and with the scalar quantile bit for bit."""
    from fastmc._numba.diagnostics.normal_quantile import normal_quantile

    _blocks._ztable.cache_clear()
    for N in (1, 2, 7, 1000, 70_001, 300_001):
        z = _blocks._ztable(N, backend)
        p = (np.arange(1, N + 1) - 0.375) / (N + 0.25)
        np.testing.assert_allclose(z, ndtri(p), rtol=1e-14, atol=1e-15)
        if N <= 1000:
            np.testing.assert_array_equal(z, [normal_quantile(v) for v in p])
    _blocks._ztable.cache_clear()


def test_rank_normal_scores_match_ndtri(backend):
    """Integer ranks read the score table; tie (half-integer) ranks call the quantile directly."""
    from fastmc._numba.diagnostics.rank import normal_quantile

    p = np.concatenate(([1e-12, 1e-8, 0.001, 0.3, 0.5, 0.7, 0.999], np.linspace(0.01, 0.99, 97)))
    ours = np.array([normal_quantile(v) for v in p])
    np.testing.assert_allclose(ours, ndtri(p), rtol=1e-14, atol=1e-15)
    x = np.array([[3.0, 1.0, 1.0, -0.0, 0.0, 2.0, np.inf, -np.inf]])
    z, srt = _blocks._rank_normalize(x[:, None, :], backend)
    r = np.array([7, 4.5, 4.5, 2.5, 2.5, 6, 8, 1])  # average ranks; -0.0 ties with 0.0
    np.testing.assert_allclose(z.ravel(), ndtri((r - 0.375) / 8.25), rtol=1e-14)
    np.testing.assert_array_equal(srt.ravel(), np.sort(x.ravel()))


# ---------------------------------------------------------------- degenerate data

def test_constant(backend):
    x = np.full((4, 100), 2.5)
    assert D.ess(x, backend=backend) == 400
    assert D.ess(x, relative=True, backend=backend) == 1.0  # ArviZ returns 400 here
    assert D.mcse(x, backend=backend) == 0.0
    with pytest.warns(D.DiagnosticWarning, match="constant"):
        assert np.isnan(D.rhat(x, backend=backend))


def test_nan_and_inf(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 100, 2))
    x[1, 5, 0] = np.nan
    with pytest.warns(D.DiagnosticWarning, match=r"\[0\].*NaN"):
        e = D.ess(x, backend=backend)
    assert np.isnan(e[0]) and np.isfinite(e[1])
    y = rng.standard_normal((4, 100))
    y[2, 7] = np.inf
    assert np.isfinite(D.ess(y, backend=backend))  # rank based: inf is just the largest draw
    assert np.isfinite(D.rhat(y, backend=backend))
    with pytest.warns(D.DiagnosticWarning, match="inf"):
        assert np.isnan(D.ess(y, "mean", backend=backend))


@pytest.mark.parametrize("draws", [1, 2, 3])
def test_too_few_draws(draws, backend):
    x = np.random.default_rng(1).standard_normal((4, draws))
    with pytest.warns(D.DiagnosticWarning, match="fewer than 4 draws"):
        assert np.isnan(D.ess(x, backend=backend))
    with pytest.warns(D.DiagnosticWarning):
        assert np.isnan(D.rhat(x, backend=backend))
    with pytest.warns(D.DiagnosticWarning):
        s = D.summary(x, backend=backend)
    assert np.isfinite(s["mean"][0]) and np.isnan(s["ess_bulk"][0])


def test_four_draws_and_single_chain(backend):
    x = np.random.default_rng(2).standard_normal((4, 4))
    assert np.isfinite(D.ess(x, backend=backend)) and np.isfinite(D.rhat(x, backend=backend))
    one = np.random.default_rng(3).standard_normal((1, 500))
    assert np.isfinite(D.ess(one, backend=backend))
    with pytest.warns(D.DiagnosticWarning, match="2 chains"):
        assert np.isnan(D.rhat(one, backend=backend))


def test_degenerate_cases_match_arviz():
    az = pytest.importorskip("arviz")
    import logging

    rng = np.random.default_rng(3)
    cases = {
        "const": np.ones((4, 100)),
        "inf": np.where(np.arange(400).reshape(4, 100) == 105, np.inf, rng.standard_normal((4, 100))),
        "3draws": rng.standard_normal((4, 3)),
        "4draws": rng.standard_normal((4, 4)),
        "5draws": rng.standard_normal((4, 5)),
        "1chain": rng.standard_normal((1, 100)),
        "ties_odd": rng.integers(0, 3, (4, 101)).astype(float),
        "const_chain": np.vstack([np.ones(50), rng.standard_normal((3, 50))]),
        "allinf": np.full((4, 20), np.inf),
        "mostly_inf": np.where(np.arange(80).reshape(4, 20) % 3 == 0, 1.0, np.inf),  # inf median
    }
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, x in cases.items():
                for m in ("bulk", "tail", "mean", "sd", "median", "mad", "identity", "z_scale", "folded"):
                    a = float(np.asarray(az.ess(x, method=m)).ravel()[0])
                    np.testing.assert_allclose(D.ess(x, m), a, rtol=1e-9, err_msg=f"{name} ess {m}")
                for m in D.RHAT_METHODS:
                    a = float(np.asarray(az.rhat(x, method=m)).ravel()[0])
                    np.testing.assert_allclose(D.rhat(x, m), a, rtol=1e-12, err_msg=f"{name} rhat {m}")
                s = az.summary(x, round_to="none").iloc[0].to_numpy(dtype=float)
                np.testing.assert_allclose(D.summary(x).values[0], s, rtol=1e-9, err_msg=name)
    finally:
        logging.disable(logging.NOTSET)


# ---------------------------------------------------------------- summary and API

class _Result:
    def __init__(self, draws):
        self.draws = draws
        self.names = [f"theta[{i}]" for i in range(draws.shape[2])]


def test_summary_matches_arviz_and_prints():
    az = pytest.importorskip("arviz")
    x = ar1(0.7, (4, 1000), 5)[:, :, None] * np.array([1.0, 3.0, -2.0]) + np.array([0.0, 1.0, 5.0])
    x[:, :, 1] += np.random.default_rng(0).standard_normal((4, 1000))
    s = D.summary(_Result(x))
    ref = az.summary({"v": x}, round_to="none")
    np.testing.assert_allclose(s.values, ref.to_numpy(dtype=float), rtol=1e-9)
    assert list(ref.columns) == s.columns
    text = repr(s)
    assert "ess_bulk" in text and "theta[2]" in text
    assert s.to_pandas().shape == (3, 9)
    assert D.summary(x, kind="eti").columns[2] == "eti_3%"


def test_result_duck_typing_and_shapes(backend):
    x = np.random.default_rng(4).standard_normal((2, 200, 3))
    r = _Result(x)
    np.testing.assert_array_equal(D.ess(r, backend=backend), D.ess(x, backend=backend))
    assert D.ess(x, backend=backend).shape == (3,)
    assert isinstance(D.ess(x[:, :, 0], backend=backend), float)
    assert D.autocorr(x).shape == x.shape and D.autocov(x[:, :, 0]).shape == (2, 200)
    assert D.integrated_time(x, quiet=True).shape == (3,)


@pytest.mark.parametrize("bad, exc, match", [
    (np.zeros(10), ValueError, r"x must have shape \(chains, draws\)"),
    (np.zeros((2, 3, 4, 5)), ValueError, "x must have shape"),
    (np.zeros((2, 10), dtype=complex), TypeError, "x must be a real numeric array"),
    (np.array([["a", "b"]]), TypeError, "x must be a real numeric array"),
    (np.zeros((0, 10)), ValueError, "at least one chain"),
])
def test_bad_input(bad, exc, match):
    with pytest.raises(exc, match=match):
        D.ess(bad)


def test_bad_arguments():
    x = np.zeros((2, 10))
    with pytest.raises(ValueError, match="method"):
        D.ess(x, "nope")
    with pytest.raises(ValueError, match="method"):
        D.rhat(x, "nope")
    with pytest.raises(ValueError, match="prob"):
        D.ess(x, "quantile")
    with pytest.raises(ValueError, match="prob"):
        D.ess(x, "local", prob=0.3)
    with pytest.raises(ValueError, match="prob"):
        D.mcse(x, "quantile", prob=1.5)
    with pytest.raises(ValueError, match="sd_variant"):
        D.mcse(x, "sd", sd_variant="r")
    with pytest.raises(ValueError, match="backend"):
        D.ess(x, backend="fortran")
    with pytest.raises(ValueError, match="c must be finite and > 0"):
        D.integrated_time(x, c=-1)
    with pytest.raises(TypeError, match="tol must be a real number"):
        D.integrated_time(x, tol="50")


@pytest.mark.parametrize("threads, draws", [(1, 4_001), (2, 4_001), (3, 4_001), (2, 100_001)])
def test_rank_normalize_threads(backend, threads, draws, monkeypatch):
    """Any number of worker threads, and the MSD sort for large N, give scipy's average ranks."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(11)
    x = np.round(rng.standard_normal((3 if draws > 10_000 else 5, 3, draws)), 3)  # ties, odd N
    x[-1, 0, :50] = np.linspace(1e3, 1e3 + 1e-9, 50)  # keys equal above their low 16 bits
    if threads == 2:  # a variable crowded within 2^16 ulps: the low-bit fix-up gives up, full sort
        x[0] = (1.0 + rng.integers(0, 1 << 15, x[0].shape) * 2.0 ** -52).reshape(x[0].shape)
    x[0, 1, 7] = -0.0
    monkeypatch.setattr(_blocks, "_n_threads", lambda be: threads)
    for want_sorted in (True, False):
        z, srt = _blocks._rank_normalize(x, backend, want_sorted=want_sorted)
        for v in range(x.shape[0]):
            r = rankdata(x[v].ravel())
            np.testing.assert_allclose(z[v].ravel(), ndtri((r - 0.375) / (x[v].size + 0.25)),
                                       rtol=1e-14, atol=1e-15)
            if want_sorted:
                np.testing.assert_array_equal(srt[v], np.sort(x[v].ravel()))


@pytest.mark.parametrize("draws", [1_000, 40_000, 100_000])
def test_rank_normalize_narrow_data(backend, draws):
    """Draws crowded into a narrow range far from zero (1000 + 0.001 N(0, 1), as a location
    parameter's posterior) sort on lower key bytes than spread-out ones; ranks stay exact."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(12)
    x = 1000.0 + 1e-3 * rng.standard_normal((2, 3, draws))
    x[1, :, 1::2] = x[1, :, ::2][:, : draws // 2]  # ties
    z, srt, zf = _blocks._rank_normalize(x, backend, want_folded=True)
    for v in range(2):
        N = x[v].size
        r = rankdata(x[v].ravel())
        np.testing.assert_allclose(z[v].ravel(), ndtri((r - 0.375) / (N + 0.25)), rtol=1e-14, atol=1e-15)
        np.testing.assert_array_equal(srt[v], np.sort(x[v].ravel()))
        rf = rankdata(np.abs(x[v] - np.median(x[v])).ravel())
        np.testing.assert_allclose(zf[v].ravel(), ndtri((rf - 0.375) / (N + 0.25)), rtol=1e-14, atol=1e-15)


def test_ess_threads_one_large_variable(backend, monkeypatch):
    """A single variable with many draws spreads its chains over the threads: same ESS, bit for
    bit, for any number of threads."""
    x = ar1(0.9, (4, 40_000), 5)
    res = {}
    for threads in (1, 2, 3):
        monkeypatch.setattr(_blocks, "_n_threads", lambda be, t=threads: t)
        res[threads] = [D.ess(x, m, backend=backend) for m in ("bulk", "tail", "mean", "sd", "folded")]
    assert res[1] == res[2] == res[3]


# ---------------------------------------------------------------- bad input that must not break

def test_read_only_draws(backend):
    """A read-only (chains, draws) array gives the result of a writeable copy (the Numba kernels
    are not compiled for read-only arrays they may write into)."""
    x = ar1(0.5, (4, 300), 21)
    ro = x.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(D.summary(ro, backend=backend).values, D.summary(x, backend=backend).values)
    for m in D.ESS_METHODS:
        prob = {"quantile": 0.3, "local": (0.2, 0.6)}.get(m)
        assert D.ess(ro, m, prob=prob, backend=backend) == D.ess(x, m, prob=prob, backend=backend), m
    for m in D.MCSE_METHODS:
        prob = 0.3 if m == "quantile" else None
        assert D.mcse(ro, m, prob=prob, backend=backend) == D.mcse(x, m, prob=prob, backend=backend), m
    for m in D.RHAT_METHODS:
        assert D.rhat(ro, m, backend=backend) == D.rhat(x, m, backend=backend), m
    ro3 = np.broadcast_to(x[:, :, None], (4, 300, 2))  # read-only and not contiguous
    np.testing.assert_array_equal(D.ess(ro3, "tail", backend=backend), D.ess(x, "tail", backend=backend))


_NUMPY_WARNING_CASES = {
    "constant": np.ones((2, 50)),
    "all_nan": np.full((2, 50), np.nan),
    "one_nan": np.where(np.arange(100).reshape(2, 50) == 3, np.nan, np.arange(100.0).reshape(2, 50)),
    "all_inf": np.full((2, 10), np.inf),
    "one_inf": np.where(np.arange(20).reshape(2, 10) == 0, np.inf, 0.5 * np.arange(20.0).reshape(2, 10)),
    "inf_both_signs": np.array([[np.inf, -np.inf, 1.0, 2.0, 3.0, 4.0, 5.0],
                                [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]),
    "huge": np.array([[1e308, -1e308, 1e308, 2.0, 1.0], [3.0, 1e308, -2.0, 1.0, 0.0]]),
    "one_draw": np.ones((2, 1)),
    "two_draws": np.arange(4.0).reshape(2, 2),
    "three_draws": np.array([[0.1, -0.3, 2.0], [1.0, 0.2, -0.5]]),
}


@pytest.mark.parametrize("case", list(_NUMPY_WARNING_CASES))
def test_no_numpy_warnings(backend, case):
    """Constant, NaN, infinite, huge or too-short draws: at most a DiagnosticWarning, never one of
    NumPy's RuntimeWarnings (a DiagnosticWarning is a RuntimeWarning, so it is let through first)."""
    x = _NUMPY_WARNING_CASES[case]
    calls = [lambda: D.autocov(x), lambda: D.autocorr(x), lambda: D.integrated_time(x, quiet=True),
             lambda: D.summary(x, backend=backend)]
    calls += [lambda m=m: D.mcse(x, m, prob=0.3 if m == "quantile" else None, backend=backend)
              for m in D.MCSE_METHODS]
    calls += [lambda: D.mcse(x, "sd", sd_variant="stan", backend=backend)]
    calls += [lambda m=m: D.ess(x, m, prob={"quantile": 0.3, "local": (0.2, 0.6)}.get(m), backend=backend)
              for m in D.ESS_METHODS]
    calls += [lambda m=m: D.rhat(x, m, backend=backend) for m in D.RHAT_METHODS]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            warnings.simplefilter("ignore", D.DiagnosticWarning)
            call()


def test_autocov_warns_for_non_finite_draws():
    x = _NUMPY_WARNING_CASES["one_inf"]
    with pytest.warns(D.DiagnosticWarning,
                      match=r"autocov is not finite for dimension\(s\) \[0\]: draws contain inf"):
        assert not np.isfinite(D.autocov(x)).all()
    with pytest.warns(D.DiagnosticWarning, match="too large"):
        D.autocorr(_NUMPY_WARNING_CASES["huge"])
    with pytest.warns(D.DiagnosticWarning, match="integrated_time.*NaN"):
        assert np.isnan(D.integrated_time(_NUMPY_WARNING_CASES["one_nan"], quiet=True))


def test_score_table_cache_is_bounded_by_bytes(backend, monkeypatch):
    """D9: one table per data size, up to 8, kept 785 MB after nine large ess calls. The cache
    holds at most its budget, or only the newest table when that alone is larger, and still
    reuses a table for repeated calls on draws of one size."""
    monkeypatch.setattr(_blocks._ztable, "_budget", 3 * 8 * 50_000)
    _blocks._ztable.cache_clear()
    try:
        for N in range(100_000, 109_000, 1_000):  # nine sizes of 800 kB each
            z = _blocks._ztable(N, backend)
            assert _blocks._ztable(N, backend) is z
            assert _blocks._ztable.nbytes() == z.nbytes  # alone over the budget: only the newest
        small = [_blocks._ztable(N, backend) for N in (10_000, 20_000, 30_000)]  # 480 kB together
        assert all(_blocks._ztable(N, backend) is z for N, z in zip((10_000, 20_000, 30_000), small))
        assert _blocks._ztable.nbytes() <= 3 * 8 * 50_000
    finally:
        _blocks._ztable.cache_clear()


def test_integrated_time_memory_is_bounded():
    """D9: integrated_time peaked at 10x its input (every chain's autocorrelation at once); it
    now sums the chain average block by block."""
    import tracemalloc

    x = np.random.default_rng(3).standard_normal((4, 400_000))
    tau_ref = D.integrated_time(x[:, :4000], quiet=True)
    tracemalloc.start()
    try:
        D.integrated_time(x, quiet=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * x.nbytes, peak / x.nbytes
    # same estimate as one FFT over all chains (emcee's function on the chain-averaged autocorrelation)
    rho = np.fft.irfft(np.abs(np.fft.rfft(x[:, :4000] - x[:, :4000].mean(axis=1, keepdims=True), n=8192)) ** 2)
    rho = (rho[:, :4000] / rho[:, :1]).mean(axis=0)
    taus = 2.0 * np.cumsum(rho) - 1.0
    w = int(np.argmin(np.arange(4000) < 5 * taus))
    assert tau_ref == pytest.approx(taus[w], rel=1e-10)
