"""The per-variable summary table of ``arviz.summary``."""
from __future__ import annotations

import math

import numpy as np

from .. import _backends
from .._validation import as_choice
from ._blocks import _median_sorted, _moments, _quantiles_sorted, _rank_normalize, _sorted_full, _split
from ._input import _as_draws, _check_prob, _warn_nan
from .ess import _ess_bulk, _ess_tail
from .mcse import _mcse_mean, _mcse_sd
from .rhat import _rhat_rank


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
    as_choice("kind", kind, ("hdi", "eti"))
    hdi_prob = _check_prob(hdi_prob, "hdi_prob")
    as_choice("sd_variant", sd_variant, ("arviz", "stan"))
    be = _backends.resolve_backend(backend)
    d, m, n = X.shape
    if names is None:
        names = [f"x[{i}]" for i in range(d)]
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise TypeError(f"names must be a sequence of str, got {type(names).__name__}")
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
    # NaN, infinite or huge draws give NaN entries, reported once by _warn_nan below, not by NumPy
    with np.errstate(all="ignore"):
        mu, c2_sum, c4_sum = _moments(flat, be)
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
            # the split chains, sorted draws and scores above are shared with every column
            ess_tail = _ess_tail(X, be, S=S, Ys=Ys)
            ess_bulk = _ess_bulk(X, be, z=z)
            mcse_mean = _mcse_mean(X, be, sd=table[:, 1], Ys=Ys)
            mcse_sd = _mcse_sd(X, sd_variant, be, moments=(mu, c2_sum, c4_sum), Ys=Ys)
            if m >= 2:
                if n % 2:  # ArviZ's summary folds about the median of all draws, not the split ones
                    zf, _ = _rank_normalize(Ys, be, center=_median_sorted(S), want_sorted=False)
                rh = _rhat_rank(z, zf, be)
            else:
                rh = np.full(d, np.nan)
            cols = np.column_stack((mcse_mean, mcse_sd, ess_bulk, ess_tail, rh))
            table[finite, 4:] = cols[finite]
    undefined = np.isnan(table[:, 4:]).any(axis=1)
    _warn_nan(np.where(undefined, np.nan, 0.0), X, "summary: some of mcse/ess/r_hat", min_chains=2)
    return Summary(names, columns, table, be)
