"""MCMC diagnostics: effective sample size, R-hat, Monte Carlo standard errors, autocorrelation.

Every public function takes draws as an array of shape ``(chains, draws)`` (one variable; scalar
results) or ``(chains, draws, d)`` (results of shape ``(d,)``), or a fastmc sampling result (any
object with a ``.draws`` attribute of shape ``(chains, draws, d)``).

The definitions follow Vehtari, Gelman, Simpson, Carpenter and Buerkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat", and agree with ArviZ 0.23 (``arviz.ess``,
``arviz.rhat``, ``arviz.mcse``, ``arviz.summary``) to about 1e-12; ``integrated_time`` follows
emcee. Where Stan and ArviZ differ (the MCSE of the standard deviation) both are offered and the
ArviZ definition is the default.

Implementation (choices measured in ``bench/bench_diagnostics.py``): one radix sort per variable
gives the average ranks, the sorted draws (medians, quantiles, intervals) and, by merging the two
halves about the median, the folded ranks. Normal scores come from Wichura's AS241 quantile (within
1.3e-15 of the ``scipy.special.ndtri`` ArviZ calls), for the integer ranks as a table cached per
number of draws. Autocovariances are summed lag by lag only until Geyer's initial sequence
truncates (O(n K), vectorised), and chains needing more than 600 lags (the measured crossover) are
finished by one NumPy FFT per variable with the spectra summed over chains. The kernels are in C++
(``fastmc._core``, the default) and Numba (``fastmc._numba``) and agree to 1e-12. Variables are
spread over the cores; a variable of many draws (from 2^18 for the sort, 2^16 for the lag sums)
uses all cores by itself.

Degenerate data never raises; the result is documented per case and a
:class:`DiagnosticWarning` names the reason whenever a NaN is returned:

* a NaN draw: NaN for that variable (ESS, R-hat, MCSE), as ArviZ.
* an infinite draw: rank-based quantities (bulk/tail/quantile/median/mad/folded ESS, rank R-hat)
  are finite, as ArviZ; moment-based ones (mean/sd/identity ESS, split/identity R-hat, MCSE of the
  mean/sd) are NaN.
* fewer than 4 draws per chain: NaN, as ArviZ.
* a single chain: ESS is computed (split chains); R-hat is NaN (needs 2 chains), as ArviZ.
* a constant variable: ESS = number of draws (ArviZ; Stan returns NaN), ``relative=True`` gives 1.0
  (ArviZ returns the number of draws there); R-hat is NaN (0/0); MCSE is 0.
* all draws infinite: every quantity NaN (folding about an infinite median is undefined).
* :func:`summary`: mean and sd always (NaN if a draw is NaN); the interval whenever no draw is NaN
  (also with fewer than 4 draws, as ArviZ; with a NaN draw ArviZ returns a half-NaN interval, we
  return NaN for both ends); the other columns follow the rules above.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy import stats

from . import _backends
from ._validation import as_positive_float

__all__ = [
    "AutocorrError",
    "DiagnosticWarning",
    "Summary",
    "autocorr",
    "autocov",
    "ess",
    "integrated_time",
    "mcse",
    "rhat",
    "summary",
]

ESS_METHODS = ("bulk", "tail", "mean", "sd", "median", "mad", "quantile", "local", "identity",
               "basic", "z_scale", "folded")
RHAT_METHODS = ("rank", "split", "folded", "z_scale", "identity")
MCSE_METHODS = ("mean", "sd", "median", "quantile")

# Direct lag sums cost n * K multiply-adds (vectorised), the NumPy FFT fallback about as much as
# 600-850 lags for 8 chains of 5e3..5e5 draws (measured on the 2-core dev machine): chains whose
# Geyer truncation lies beyond this many lags are finished by the FFT.
_MAX_DIRECT_LAGS = 600


class DiagnosticWarning(RuntimeWarning):
    """A diagnostic is undefined (NaN) for some variable; the message says why."""


class AutocorrError(Exception):
    """The chain is too short to trust the integrated autocorrelation time.

    Attributes
    ----------
    tau : ndarray or float
        The estimate that was refused, shape ``(d,)`` or scalar.
    """

    def __init__(self, tau, msg):
        self.tau = tau
        super().__init__(msg)


# ----------------------------------------------------------------------------------------------
# input handling


def _as_draws(x, name="x"):
    """Return (X (d, chains, draws) float64 C-contiguous, scalar_output)."""
    if hasattr(x, "draws") and not isinstance(x, np.ndarray):
        x = x.draws
        name = f"{name}.draws"
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer)
                                   or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a real numeric array of shape (chains, draws) or "
                        f"(chains, draws, d), got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (chains, draws) or (chains, draws, d), got shape "
                         f"{arr.shape}" + ("; for one chain pass x[None, :]" if arr.ndim == 1 else ""))
    if arr.shape[0] < 1 or arr.shape[1] < 1 or (arr.ndim == 3 and arr.shape[2] < 1):
        raise ValueError(f"{name} must have at least one chain, one draw and one dimension, got "
                         f"shape {arr.shape}")
    scalar = arr.ndim == 2
    if scalar:
        arr = arr[:, :, None]
    return _variable_major(arr), scalar


def _variable_major(arr):
    """(chains, draws, d) -> C-contiguous float64 (d, chains, draws), a view when possible. Many
    dimensions: the transposing copy is done a block of draws at a time, which keeps the writes in
    cache (1.5x faster than one copy for 4 x 10 000 x 100)."""
    m, n, d = arr.shape
    if d < 8:
        return np.ascontiguousarray(np.moveaxis(arr, 2, 0), dtype=np.float64)
    X = np.empty((d, m, n))
    block = max(512, n // 32)
    for c in range(m):
        for i in range(0, n, block):
            X[:, c, i:i + block] = arr[c, i:i + block, :].T
    return X


def _out(values, scalar):
    values = np.asarray(values, dtype=np.float64)
    return float(values[0]) if scalar else values


def _n_threads(backend):
    return _backends.get(backend).default_threads()


def _warn_nan(result, X, what, min_chains=1):
    """Warn once, naming the reason, for every variable whose result is NaN."""
    result = np.atleast_1d(result)
    bad = np.flatnonzero(np.isnan(result))
    if bad.size == 0:
        return
    d, m, n = X.shape
    reasons = []
    if n < 4:
        reasons.append(f"fewer than 4 draws per chain (got {n})")
    if m < min_chains:
        reasons.append(f"at least {min_chains} chains are needed (got {m})")
    sub = X[bad]
    if np.isnan(sub).any():
        reasons.append("draws contain NaN")
    if np.isinf(sub).any():
        reasons.append("draws contain inf")
    if not reasons:
        flat = sub.reshape(bad.size, -1)
        if (flat.max(axis=1) == flat.min(axis=1)).any():
            reasons.append("the draws are constant")
        else:
            reasons.append("the statistic is undefined for these draws")
    warnings.warn(f"{what} is NaN for dimension(s) {bad.tolist()}: {'; '.join(reasons)}",
                  DiagnosticWarning, stacklevel=3)


def _valid_mask(X, min_draws=4, min_chains=1):
    """Variables ArviZ accepts: no NaN, enough draws and chains."""
    d, m, n = X.shape
    if n < min_draws or m < min_chains:
        return np.zeros(d, dtype=bool)
    return ~np.isnan(X).reshape(d, -1).any(axis=1)


# ----------------------------------------------------------------------------------------------
# building blocks over a batch of variables


def _split(X):
    """(d, m, n) -> (d, 2m, n // 2): first and second halves as separate chains (middle draw of an
    odd n dropped, as ArviZ and Stan do). A view when n is even."""
    d, m, n = X.shape
    h = n // 2
    if n % 2 == 0:
        return X.reshape(d, 2 * m, h)
    return np.ascontiguousarray(np.concatenate((X[:, :, :h], X[:, :, n - h:]), axis=1))


@functools.lru_cache(maxsize=8)
def _ztable(N, backend="cpp"):
    """Normal scores of the integer ranks 1..N, Phi^-1((r - 3/8) / (N + 1/4)) (Blom), as ArviZ
    computes them; by AS241 in the kernels, on all threads, within 1.3e-15 of scipy's ndtri."""
    z = _backends.get(backend).normal_score_table(N, _n_threads(backend))
    z.setflags(write=False)
    return z


def _rank_normalize(Y, backend, center=None, want_sorted=True, want_folded=False, nan_free=False):
    """Y (d, m, n) -> (z (d, m, n) normal scores of the pooled average ranks, sorted (d, m*n)
    or None without ``want_sorted``), and with ``want_folded`` a third item: the scores of
    ``|Y - median(Y)|`` (d, m, n) derived from the same sort.

    With ``center`` (d,), the values ranked are ``|Y - center|`` (folding, done inside the kernel).
    Rows holding a NaN get NaN scores (as ArviZ); NaNs sort last in ``sorted``. ``nan_free``: the
    caller has checked that Y holds no NaN and no center is infinite (skips a pass over Y).
    """
    d, m, n = Y.shape
    N = m * n
    flat = np.ascontiguousarray(Y.reshape(d, N), dtype=np.float64)
    fold = center is not None
    cen = np.ascontiguousarray(center, dtype=np.float64) if fold else np.zeros(d)
    ztab = _ztable(N, backend)
    z, srt, zf = _backends.get(backend).rank_normalize(flat, fold, cen, ztab, bool(want_sorted), bool(want_folded),
                                                       _n_threads(backend))
    # NaN keys sort last (their rows get NaN scores, as ArviZ)
    if want_sorted:
        nan_rows = np.isnan(srt[:, -1])
    elif nan_free:
        nan_rows = np.zeros(d, dtype=bool)
    else:  # |x - center| is NaN for a NaN draw, or an infinite draw about an infinite center
        nan_rows = np.isnan(flat).any(axis=1)
        if fold:
            nan_rows |= np.isinf(cen) & np.isinf(flat).any(axis=1)
    if nan_rows.any():
        z[nan_rows] = np.nan
    if not want_folded:
        return z.reshape(d, m, n), (srt if want_sorted else None)
    # the merge needs finite draws (an infinite median folds to NaN): redo those rows by sorting
    bad = ~(np.isfinite(srt[:, 0]) & np.isfinite(srt[:, -1]))
    zf = zf.reshape(d, m, n)
    if bad.any():
        zf[bad] = _rank_normalize(Y[bad], backend, center=_median_sorted(srt[bad]),
                                  want_sorted=False)[0]
    return z.reshape(d, m, n), srt, zf


def _max_lag(n):
    return int(min(n - 1, _MAX_DIRECT_LAGS))


# what an ESS is of (see ess.hpp): g(x) = x, x <= a, (x - a)^2, |x - a|, a <= x <= b
_IDENTITY, _BELOW, _SQUARE_DEV, _ABS_DEV, _INSIDE = 0, 1, 2, 3, 4


def _transform(Y, kind, a, b):
    """NumPy version of the kernels' transform (used only on the FFT fallback path)."""
    if kind == _BELOW:
        return (Y <= a).astype(np.float64)
    if kind == _SQUARE_DEV:
        return (Y - a) ** 2
    if kind == _ABS_DEV:
        return np.abs(Y - a)
    if kind == _INSIDE:
        return ((a <= Y) & (Y <= b)).astype(np.float64)
    return Y


def _ess_core(Y, backend, relative=False, kind=_IDENTITY, a=None, b=None, overwrite=False):
    """Geyer ESS of g(each (m, n) block of Y (d, m, n)) (no splitting here); a, b: (d,).
    ``overwrite``: Y is a temporary the kernels may centre in place (saves a copy of the draws)."""
    overwrite = bool(overwrite and Y.flags.c_contiguous and Y.flags.writeable
                     and Y.dtype == np.float64)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    d, m, n = Y.shape
    a = np.zeros(d) if a is None else np.ascontiguousarray(a, dtype=np.float64)
    b = np.zeros(d) if b is None else np.ascontiguousarray(b, dtype=np.float64)
    max_lag = max(2, _max_lag(n))
    be = _backends.get(backend)
    out = be.ess_direct(Y, max_lag, bool(relative), kind, a, b, _n_threads(backend), overwrite)
    for v in np.flatnonzero(out == -1.0):  # slowly mixing: finish with one FFT per variable
        G = _transform(Y[v], kind, a[v], b[v])
        mean = G.mean(axis=1)
        acm = _mean_autocov_fft(G - mean[:, None])
        out[v] = be.ess_from_autocov(np.ascontiguousarray(acm), np.ascontiguousarray(mean), bool(relative))
    return out


def _moments(flat, backend):
    """flat (d, N) -> (mean, sum of squared deviations, sum of fourth powers), each (d,)."""
    flat = np.ascontiguousarray(flat, dtype=np.float64)
    out = _backends.get(backend).moments(flat, _n_threads(backend))
    return out[:, 0], out[:, 1], out[:, 2]


def _rhat_core(Y, backend):
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    return _backends.get(backend).rhat(Y, _n_threads(backend))


def _autocov_fft(C):
    """Biased autocovariances (divisor n) of centred rows C (k, n), all lags, via one real FFT."""
    n = C.shape[-1]
    nfft = _next_fast_len(2 * n)
    f = np.fft.rfft(C, n=nfft, axis=-1)
    acov = np.fft.irfft(f.real ** 2 + f.imag ** 2, n=nfft, axis=-1)[..., :n]
    return acov / n


def _mean_autocov_fft(C):
    """Chain-averaged biased autocovariances of centred rows C (m, n): the power spectra are summed
    over chains before one inverse FFT."""
    m, n = C.shape
    nfft = _next_fast_len(2 * n)
    f = np.fft.rfft(C, n=nfft, axis=-1)
    power = (f.real ** 2 + f.imag ** 2).sum(axis=0)
    return np.fft.irfft(power, n=nfft)[:n] / (n * m)


def _next_fast_len(n):
    from scipy.fft import next_fast_len

    return next_fast_len(int(n), real=True)


def _quantiles_sorted(S, probs):
    """Type-7 quantiles (R's default, ``scipy.stats.mstats.mquantiles(alphap=1, betap=1)`` as ArviZ
    uses) of each row of the sorted draws S (d, N). Returns (d, len(probs))."""
    d, N = S.shape
    out = np.empty((d, len(probs)))
    for j, p in enumerate(probs):
        aleph = N * p + (1.0 - p)
        k = int(math.floor(min(max(aleph, 1.0), N - 1.0))) if N > 1 else 1
        g = min(max(aleph - k, 0.0), 1.0)
        lo = S[:, max(k - 1, 0)]
        hi = S[:, min(k, N - 1)]
        out[:, j] = (1.0 - g) * lo + g * hi
    return out


def _sorted_full(X, backend):
    """Sorted pooled draws (d, N) of X (d, m, n)."""
    d = X.shape[0]
    return np.sort(X.reshape(d, -1), axis=1)


def _median_sorted(S):
    N = S.shape[1]
    if N % 2:
        return S[:, N // 2].copy()
    return (S[:, N // 2 - 1] + S[:, N // 2]) / 2.0


def _fold(Y, S):
    """|Y - median| per variable, with the median read from the sorted draws S."""
    med = _median_sorted(S)
    return np.abs(Y - med[:, None, None])


# ----------------------------------------------------------------------------------------------
# ESS


def _check_prob(prob, name="prob"):
    p = float(prob)
    if not (0.0 < p < 1.0):
        raise ValueError(f"{name} must lie in (0, 1), got {prob!r}")
    return p


def _ess_batch(X, method, prob, relative, backend):
    d, m, n = X.shape
    out = np.full(d, np.nan)
    ok = _valid_mask(X)
    if not ok.any():
        return out
    Xv = X[ok] if not ok.all() else X
    dv = Xv.shape[0]
    if method in ("bulk", "z_scale"):
        z, _ = _rank_normalize(_split(Xv), backend, want_sorted=False, nan_free=True)
        res = _ess_core(z, backend, relative, overwrite=True)
    elif method == "folded":
        _, _, z = _rank_normalize(_split(Xv), backend, want_folded=True)
        res = _ess_core(z, backend, relative, overwrite=True)
    elif method in ("tail", "quantile", "median", "local"):
        S = _sorted_full(Xv, backend)
        Ys = _split(Xv)
        if method == "tail":
            lo, hi = (0.05, 0.95) if prob is None else _tail_probs(prob)
            q = _quantiles_sorted(S, (lo, hi))
            e_lo = _ess_core(Ys, backend, relative, _BELOW, q[:, 0])
            e_hi = _ess_core(Ys, backend, relative, _BELOW, q[:, 1])
            res = np.where(np.isnan(e_lo) | np.isnan(e_hi), np.nan, np.minimum(e_lo, e_hi))
        elif method == "local":
            q = _quantiles_sorted(S, prob)
            res = _ess_core(Ys, backend, relative, _INSIDE, q[:, 0], q[:, 1])
        else:
            q = _quantiles_sorted(S, (0.5 if method == "median" else prob,))
            res = _ess_core(Ys, backend, relative, _BELOW, q[:, 0])
    elif method == "mean":
        res = _ess_core(_split(Xv), backend, relative)
    elif method == "sd":
        mu = Xv.reshape(dv, -1).mean(axis=1)
        res = _ess_core(_split(Xv), backend, relative, _SQUARE_DEV, mu)
    elif method == "mad":
        S = _sorted_full(Xv, backend)
        A = _fold(Xv, S)
        SA = np.sort(A.reshape(dv, -1), axis=1)
        ind = (A <= _median_sorted(SA)[:, None, None]).astype(np.float64)
        z, _ = _rank_normalize(_split(ind), backend, want_sorted=False, nan_free=True)
        res = _ess_core(z, backend, relative, overwrite=True)
    elif method in ("identity", "basic"):
        res = _ess_core(Xv, backend, relative)
    else:  # pragma: no cover - validated by the caller
        raise AssertionError(method)
    out[ok] = res
    return out


def _tail_probs(prob):
    if np.ndim(prob) == 0:
        p = _check_prob(prob)
        return (p, 1.0 - p)
    lo, hi = prob
    return (_check_prob(lo, "prob[0]"), _check_prob(hi, "prob[1]"))


def ess(x, method="bulk", *, prob=None, relative=False, backend="auto"):
    """Effective sample size.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
        MCMC draws.
    method : str
        ``"bulk"`` (default: split chains, rank normalisation), ``"tail"`` (minimum of the
        quantile ESS at ``prob``, default 5% and 95%), ``"mean"``, ``"sd"``, ``"median"``,
        ``"mad"``, ``"quantile"`` (needs ``prob``), ``"local"`` (needs ``prob=(lo, hi)``),
        ``"identity"``/``"basic"`` (no splitting), ``"z_scale"`` (same as bulk), ``"folded"``.
        All use Geyer's initial monotone sequence with the between-chain variance and cap the
        ESS at ``N log10 N``.
    prob : float or (float, float), optional
        Probability for ``"quantile"``; pair or single value (meaning ``(p, 1 - p)``) for
        ``"tail"``; the pair of bounds for ``"local"``.
    relative : bool
        Return ESS divided by the number of draws used.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    float or ndarray, shape (d,)
        NaN where undefined (see the module docstring), with a :class:`DiagnosticWarning`.
    """
    X, scalar = _as_draws(x)
    if not isinstance(method, str) or method not in ESS_METHODS:
        raise ValueError(f"method must be one of {ESS_METHODS}, got {method!r}")
    if method == "quantile":
        if prob is None or np.ndim(prob) != 0:
            raise ValueError("prob must be a single probability for method='quantile'")
        prob = _check_prob(prob)
    elif method == "local":
        if prob is None or np.ndim(prob) != 1 or len(prob) != 2:
            raise ValueError("prob must be a pair (lower, upper) for method='local'")
        prob = (_check_prob(prob[0], "prob[0]"), _check_prob(prob[1], "prob[1]"))
    elif method == "tail" and prob is not None:
        prob = _tail_probs(prob)
    res = _ess_batch(X, method, prob, relative, _backends.resolve_backend(backend))
    _warn_nan(res, X, f"ess(method={method!r})")
    return _out(res, scalar)


# ----------------------------------------------------------------------------------------------
# R-hat


def _rhat_batch(X, method, backend):
    d, m, n = X.shape
    out = np.full(d, np.nan)
    ok = _valid_mask(X, min_chains=2)
    if not ok.any():
        return out
    Xv = X[ok] if not ok.all() else X
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "identity":
            res = _rhat_core(Xv, backend)
        elif method == "split":
            res = _rhat_core(_split(Xv), backend)
        else:
            Ys = _split(Xv)
            if method == "z_scale":
                z, _ = _rank_normalize(Ys, backend, want_sorted=False, nan_free=True)
                res = _rhat_core(z, backend)
            else:
                z, _, zf = _rank_normalize(Ys, backend, want_folded=True)
                tail = _rhat_core(zf, backend)
                if method == "folded":
                    res = tail
                else:
                    res = _max_like_python(_rhat_core(z, backend), tail)
    out[ok] = res
    return out


def _max_like_python(bulk, tail):
    """ArviZ's ``max(bulk, tail)``: NaN if bulk is NaN, bulk if only tail is NaN."""
    return np.where(tail > bulk, tail, bulk)


def rhat(x, method="rank", *, backend="auto"):
    """Potential scale reduction factor R-hat.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
    method : {"rank", "split", "folded", "z_scale", "identity"}
        ``"rank"`` (default): the maximum of the rank-normalised split R-hat of the draws and of
        the draws folded about their median (Vehtari et al. 2021). ``"split"``: classic R-hat on
        split chains; ``"identity"``: classic R-hat without splitting.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    float or ndarray, shape (d,)
        NaN (with a :class:`DiagnosticWarning`) for fewer than 2 chains, fewer than 4 draws, NaN
        draws or constant draws.
    """
    X, scalar = _as_draws(x)
    if not isinstance(method, str) or method not in RHAT_METHODS:
        raise ValueError(f"method must be one of {RHAT_METHODS}, got {method!r}")
    res = _rhat_batch(X, method, _backends.resolve_backend(backend))
    _warn_nan(res, X, f"rhat(method={method!r})", min_chains=2)
    return _out(res, scalar)


# ----------------------------------------------------------------------------------------------
# MCSE

_BETA_PROBS = (0.1586553, 0.8413447)  # Phi(-1), Phi(1): a +-1 sd interval of the quantile


def _mcse_sd_batch(X, variant, backend):
    d = X.shape[0]
    flat = X.reshape(d, -1)
    N = flat.shape[1]
    mu = flat.mean(axis=1)
    e = _ess_core(_split(X), backend, False, _SQUARE_DEV if variant == "arviz" else _ABS_DEV, mu)
    c2 = (flat - mu[:, None]) ** 2
    evar = c2.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        varvar = ((c2 ** 2).mean(axis=1) - evar ** 2) / e
        return np.sqrt(varvar / evar / 4.0)


def _mcse_quantile_batch(X, p, backend):
    d = X.shape[0]
    e = _ess_batch(X, "quantile", p, False, backend)
    S = np.sort(X.reshape(d, -1), axis=1)
    N = S.shape[1]
    out = np.full(d, np.nan)
    for v in np.flatnonzero(~np.isnan(e)):
        ppf = stats.beta.ppf(_BETA_PROBS, e[v] * p + 1, e[v] * (1 - p) + 1) * N - 1
        lo = int(math.floor(max(ppf[0], 0.0))) if not np.isnan(ppf[0]) else 0
        hi = int(math.ceil(min(ppf[1], N - 1.0))) if not np.isnan(ppf[1]) else N - 1
        out[v] = (S[v, hi] - S[v, lo]) / 2.0
    return out


def mcse(x, method="mean", *, prob=None, sd_variant="arviz", backend="auto"):
    """Monte Carlo standard error.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
    method : {"mean", "sd", "median", "quantile"}
        ``"mean"``: sd / sqrt(ESS_mean). ``"sd"``: delta method on the variance, see
        ``sd_variant``. ``"median"``/``"quantile"`` (needs ``prob``): half the width of the
        central +-1 sd interval of the quantile's order statistic, from the quantile ESS.
    prob : float, optional
        Probability for ``method="quantile"``.
    sd_variant : {"arviz", "stan"}
        For ``method="sd"``: ``"arviz"`` (default, ArviZ 0.23 and ``summary``) takes the ESS of
        the squared deviations; ``"stan"`` (Stan >= 2.35, posterior >= 1.5) the ESS of the
        absolute deviations.
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    float or ndarray, shape (d,)
    """
    X, scalar = _as_draws(x)
    if not isinstance(method, str) or method not in MCSE_METHODS:
        raise ValueError(f"method must be one of {MCSE_METHODS}, got {method!r}")
    if sd_variant not in ("arviz", "stan"):
        raise ValueError(f"sd_variant must be 'arviz' or 'stan', got {sd_variant!r}")
    if method == "quantile":
        if prob is None or np.ndim(prob) != 0:
            raise ValueError("prob must be a single probability for method='quantile'")
        prob = _check_prob(prob)
    be = _backends.resolve_backend(backend)
    d = X.shape[0]
    out = np.full(d, np.nan)
    ok = _valid_mask(X)
    if ok.any():
        Xv = X[ok] if not ok.all() else X
        with np.errstate(invalid="ignore", divide="ignore"):
            if method == "mean":
                e = _ess_core(_split(Xv), be)
                sd = np.std(Xv.reshape(Xv.shape[0], -1), axis=1, ddof=1)
                out[ok] = sd / np.sqrt(e)
            elif method == "sd":
                out[ok] = _mcse_sd_batch(Xv, sd_variant, be)
            else:
                out[ok] = _mcse_quantile_batch(Xv, 0.5 if method == "median" else prob, be)
    _warn_nan(out, X, f"mcse(method={method!r})")
    return _out(out, scalar)


# ----------------------------------------------------------------------------------------------
# autocovariance, autocorrelation, integrated time


def autocov(x):
    """Autocovariance of every chain at every lag, by FFT.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``

    Returns
    -------
    ndarray, shape like ``x``
        ``out[c, t] = sum_i (x[c, i] - mean_c)(x[c, i + t] - mean_c) / draws`` (the biased
        estimator of Stan and ArviZ).
    """
    X, scalar = _as_draws(x)
    C = X - X.mean(axis=2, keepdims=True)
    acov = np.moveaxis(_autocov_fft(C), 0, 2)
    return acov[:, :, 0] if scalar else acov


def autocorr(x):
    """Normalised autocorrelation of every chain at every lag, by FFT.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``

    Returns
    -------
    ndarray, shape like ``x``
        ``autocov(x) / autocov(x)[:, :1]``; NaN for a constant chain.
    """
    a = autocov(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / a[:, :1]


def integrated_time(x, c=5, tol=50, quiet=False):
    """Integrated autocorrelation time with Sokal's automatic window (emcee's estimator).

    The normalised autocorrelation is averaged over chains; ``tau(M) = 1 + 2 sum_{t=1}^{M} rho_t``
    and the window is the smallest ``M`` with ``M >= c tau(M)``.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
        Chains play the role of emcee's walkers.
    c : float
        Window constant.
    tol : float
        The estimate is trusted when ``draws > tol * tau``.
    quiet : bool
        If True, warn instead of raising when the chain is too short.

    Returns
    -------
    float or ndarray, shape (d,)

    Raises
    ------
    AutocorrError
        If ``draws <= tol * tau`` for some dimension and ``quiet`` is False; its ``tau``
        attribute carries the estimate.
    """
    c = as_positive_float("c", c)
    tol = as_positive_float("tol", tol)
    X, scalar = _as_draws(x)
    d, m, n = X.shape
    rho = np.moveaxis(autocorr(np.moveaxis(X, 0, 2)), 2, 0).mean(axis=1)  # (d, n)
    taus = 2.0 * np.cumsum(rho, axis=1) - 1.0
    tau = np.empty(d)
    for v in range(d):
        below = np.arange(n) < c * taus[v]
        w = int(np.argmin(below)) if below.any() else n - 1
        tau[v] = taus[v, w]
    flag = tol * tau > n
    if np.any(flag):
        msg = (f"The chain is shorter than {tol} times the integrated autocorrelation time for "
               f"{int(flag.sum())} dimension(s). Use this estimate with caution and run a longer "
               f"chain!\nN/{tol} = {n / tol:.0f};\ntau: {tau}")
        if not quiet:
            raise AutocorrError(_out(tau, scalar), msg)
        warnings.warn(msg, DiagnosticWarning, stacklevel=2)
    return _out(tau, scalar)


# ----------------------------------------------------------------------------------------------
# summary


class Summary:
    """Table of diagnostics, one row per dimension.

    Attributes
    ----------
    names : list of str
        Row labels, shape (d,).
    columns : list of str
        Column labels.
    values : ndarray, shape (d, len(columns))

    Index with a column name (``s["ess_bulk"]``, shape (d,)), print it, or call
    :meth:`to_pandas` / :meth:`to_dict`.
    """

    def __init__(self, names, columns, values, backend):
        self.names = list(names)
        self.columns = list(columns)
        self.values = np.asarray(values, dtype=np.float64)
        self.backend = backend

    def __getitem__(self, column):
        try:
            j = self.columns.index(column)
        except ValueError:
            raise KeyError(f"no column {column!r}; columns are {self.columns}") from None
        return self.values[:, j]

    def __len__(self):
        return len(self.names)

    def to_dict(self):
        """Mapping column -> ndarray of shape (d,)."""
        return {c: self.values[:, j].copy() for j, c in enumerate(self.columns)}

    def to_pandas(self):
        """The table as a ``pandas.DataFrame`` (requires pandas)."""
        import pandas as pd

        return pd.DataFrame(self.values, index=self.names, columns=self.columns)

    def __repr__(self):
        fmt = {"ess_bulk": "{:.0f}", "ess_tail": "{:.0f}", "r_hat": "{:.3f}"}
        cells = [[fmt.get(c, "{:.3g}").format(v) for c, v in zip(self.columns, row)]
                 for row in self.values]
        w0 = max([len(n) for n in self.names] + [0])
        widths = [max(len(c), *(len(r[j]) for r in cells)) if cells else len(c)
                  for j, c in enumerate(self.columns)]
        lines = [" " * w0 + "  " + "  ".join(c.rjust(w) for c, w in zip(self.columns, widths))]
        for n, r in zip(self.names, cells):
            lines.append(n.ljust(w0) + "  " + "  ".join(s.rjust(w) for s, w in zip(r, widths)))
        return "\n".join(lines)

    __str__ = __repr__


def _hdi_sorted(S, prob):
    """Narrowest interval holding floor(prob * N) + 1 sorted draws (ArviZ's hdi), per row."""
    d, N = S.shape
    k = int(math.floor(prob * N))
    if k >= N:
        return S[:, 0].copy(), S[:, -1].copy()
    width = S[:, k:] - S[:, : N - k]
    i = np.argmin(width, axis=1)
    rows = np.arange(d)
    return S[rows, i], S[rows, i + k]


def _interval(S, kind, prob):
    if kind == "hdi":
        return _hdi_sorted(S, prob)
    q = _quantiles_sorted(S, ((1 - prob) / 2, (1 + prob) / 2))
    return q[:, 0], q[:, 1]


def summary(x, *, names=None, hdi_prob=0.94, kind="hdi", sd_variant="arviz", backend="auto"):
    """Per-dimension summary like ``arviz.summary``.

    Parameters
    ----------
    x : array_like, shape (chains, draws) or (chains, draws, d), or a result with ``.draws``
    names : sequence of str, optional
        Row labels (default ``x[0]``, ``x[1]``, ... or the result's ``names`` attribute).
    hdi_prob : float
        Probability mass of the interval (default 0.94, ArviZ's default).
    kind : {"hdi", "eti"}
        ``"hdi"`` (default, as arviz.summary): narrowest interval, columns ``hdi_3%``/``hdi_97%``;
        ``"eti"``: equal-tailed (type-7 quantiles), columns ``eti_3%``/``eti_97%``.
    sd_variant : {"arviz", "stan"}
        Definition of ``mcse_sd`` (see :func:`mcse`).
    backend : {"auto", "cpp", "numba"}

    Returns
    -------
    Summary
        Columns ``mean, sd, hdi_3%, hdi_97%, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat``;
        ``sd`` uses ddof=1, ``r_hat`` is the rank R-hat. Undefined entries are NaN.
    """
    if names is None and hasattr(x, "draws") and hasattr(x, "names"):
        names = list(x.names)
    X, _ = _as_draws(x)
    if kind not in ("hdi", "eti"):
        raise ValueError(f"kind must be 'hdi' or 'eti', got {kind!r}")
    hdi_prob = _check_prob(hdi_prob, "hdi_prob")
    if sd_variant not in ("arviz", "stan"):
        raise ValueError(f"sd_variant must be 'arviz' or 'stan', got {sd_variant!r}")
    be = _backends.resolve_backend(backend)
    d, m, n = X.shape
    if names is None:
        names = [f"x[{i}]" for i in range(d)]
    names = [str(s) for s in names]
    if len(names) != d:
        raise ValueError(f"names must have length d = {d}, got {len(names)}")
    lo_pct = f"{100 * (1 - hdi_prob) / 2:g}%"
    hi_pct = f"{100 * (1 + hdi_prob) / 2:g}%"
    columns = ["mean", "sd", f"{kind}_{lo_pct}", f"{kind}_{hi_pct}", "mcse_mean", "mcse_sd",
               "ess_bulk", "ess_tail", "r_hat"]
    table = np.full((d, len(columns)), np.nan)
    flat = X.reshape(d, -1)
    N = flat.shape[1]
    mu, c2_sum, c4_sum = _moments(flat, be)
    with np.errstate(invalid="ignore", divide="ignore"):
        table[:, 0] = mu
        table[:, 1] = np.sqrt(c2_sum / (N - 1)) if N > 1 else np.nan
    if n >= 4:
        Ys = _split(X)
        # one sort: bulk and folded scores, medians, quantiles, intervals
        if m >= 2 and n % 2 == 0:
            z, S, zf = _rank_normalize(Ys, be, want_folded=True)
        else:
            z, S = _rank_normalize(Ys, be)
        if n % 2:
            S = _sorted_full(X, be)
    else:
        S = _sorted_full(X, be)
    finite = ~np.isnan(S[:, -1])  # NaNs sort last
    if finite.any():  # intervals need no 4 draws (as ArviZ)
        lo, hi = _interval(S if finite.all() else S[finite], kind, hdi_prob)
        table[finite, 2], table[finite, 3] = lo, hi
    if n >= 4 and finite.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            q = _quantiles_sorted(S, (0.05, 0.95))
            e_lo = _ess_core(Ys, be, False, _BELOW, q[:, 0])
            e_hi = _ess_core(Ys, be, False, _BELOW, q[:, 1])
            ess_tail = np.where(np.isnan(e_lo) | np.isnan(e_hi), np.nan, np.minimum(e_lo, e_hi))
            ess_bulk = _ess_core(z, be)
            ess_mean = _ess_core(Ys, be)
            ess_dev = _ess_core(Ys, be, False, _SQUARE_DEV if sd_variant == "arviz" else _ABS_DEV, mu)
            mcse_mean = np.sqrt(c2_sum / (N - 1) / ess_mean)
            evar = c2_sum / N
            mcse_sd = np.sqrt((c4_sum / N - evar ** 2) / ess_dev / evar / 4.0)
            if m >= 2:
                if n % 2:  # ArviZ's summary folds about the median of all draws, not the split ones
                    zf, _ = _rank_normalize(Ys, be, center=_median_sorted(S), want_sorted=False)
                rb, rt = _rhat_core(z, be), _rhat_core(zf, be)
                rh = _max_like_python(rb, rt)
            else:
                rh = np.full(d, np.nan)
        cols = np.column_stack((mcse_mean, mcse_sd, ess_bulk, ess_tail, rh))
        table[finite, 4:] = cols[finite]
    undefined = np.isnan(table[:, 4:]).any(axis=1)
    _warn_nan(np.where(undefined, np.nan, 0.0), X, "summary: some of mcse/ess/r_hat", min_chains=2)
    return Summary(names, columns, table, be)
