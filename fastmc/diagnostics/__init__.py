"""MCMC diagnostics: effective sample size, R-hat, Monte Carlo standard errors, autocorrelation.

Modules by quantity: :mod:`.ess`, :mod:`.rhat`, :mod:`.mcse`, :mod:`.autocorr` and :mod:`.summary`;
the shared building blocks are private (``_input``: layout, validation, warnings; ``_blocks``:
splitting, rank normalisation, the ESS and R-hat cores over a batch of variables).

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
truncates (O(n K), vectorised), and chains needing more than 600 lags (where the FFT becomes the
cheaper of the two) are finished by one NumPy FFT per variable with the spectra summed over
chains. The kernels are in C++ (``fastmc._core``, the default) and Numba (``fastmc._numba``) and
agree to 1e-12. Variables are
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

from ._input import DiagnosticWarning
from .autocorr import AutocorrError, autocorr, autocov, integrated_time
from .ess import ESS_METHODS, ess
from .mcse import MCSE_METHODS, mcse
from .rhat import RHAT_METHODS, rhat
from .summary import Summary, summary

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
