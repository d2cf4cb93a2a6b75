"""Building blocks shared by the diagnostics, over a batch of variables ``(d, chains, draws)``:
splitting, rank normalisation, the Geyer ESS core, moments, the R-hat core, FFT autocovariances and
order statistics of the sorted draws. They call the kernels through the backend object only."""
from __future__ import annotations

import collections
import math

import numpy as np

from .. import _backends

# Direct lag sums cost n * K multiply-adds (vectorised); one NumPy FFT costs about as much as a few
# hundred lags for typical chain lengths (bench/bench_diagnostics.py), so chains whose Geyer
# truncation lies beyond this many lags are finished by the FFT. Either path gives the same ESS.
_MAX_DIRECT_LAGS = 600


def _n_threads(backend):
    return _backends.get(backend).default_threads()


def _split(X):
    """(d, m, n) -> (d, 2m, n // 2): first and second halves as separate chains (middle draw of an
    odd n dropped, as ArviZ and Stan do). A view when n is even."""
    d, m, n = X.shape
    h = n // 2
    if n % 2 == 0:
        return X.reshape(d, 2 * m, h)
    return np.ascontiguousarray(np.concatenate((X[:, :, :h], X[:, :, n - h:]), axis=1))


class _TableCache:
    """The normal-score tables by (N, backend), least recently used first out, holding at most
    ``budget`` bytes, or only the table last asked for when that alone is larger: repeated
    diagnostics of one run reuse their table, while a series of large inputs of different sizes
    keeps one large table, not eight."""

    def __init__(self, make, budget: int):
        self._make = make
        self._budget = budget
        self._tables: collections.OrderedDict = collections.OrderedDict()

    def __call__(self, N, backend="cpp"):
        key = (int(N), backend)
        z = self._tables.pop(key, None)
        if z is None:
            z = self._make(*key)
        self._tables[key] = z  # most recent last
        total = sum(t.nbytes for t in self._tables.values())
        while total > self._budget and len(self._tables) > 1:
            total -= self._tables.popitem(last=False)[1].nbytes
        return z

    def cache_clear(self):
        self._tables.clear()

    def nbytes(self) -> int:
        """Bytes held now."""
        return sum(t.nbytes for t in self._tables.values())


def _make_ztable(N, backend):
    """Normal scores of the integer ranks 1..N, Phi^-1((r - 3/8) / (N + 1/4)) (Blom), as ArviZ
    computes them; by AS241 in the kernels, on all threads, within 1.3e-15 of scipy's ndtri."""
    z = _backends.get(backend).normal_score_table(N, _n_threads(backend))
    z.setflags(write=False)
    return z


#: 64 MiB: the tables of 8 million draws (a summary of 4 x 2M draws recomputes nothing)
_ztable = _TableCache(_make_ztable, budget=64 * 2**20)


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
    z, srt, zf = _backends.get(backend).rank_normalize(flat, fold, cen, ztab, bool(want_sorted),
                                                       bool(want_folded), _n_threads(backend))
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
