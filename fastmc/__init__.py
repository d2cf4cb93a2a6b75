"""fastmc: fast Markov chain Monte Carlo from Python.

Samplers (:func:`rwmh`, :func:`hmc`) run many chains in parallel threads in C++ kernels
(``fastmc._core``) or their Numba twins; :class:`GaussianMixture` is the built-in target,
:class:`Target` wraps a log density you write (C function pointer, Numba or Python), and
:mod:`fastmc.models` holds examples written that way.
"""
from ._backends import available_backends
from .results import SamplingResult
from .layout import Layout, Param
from .adaptation import AdaptedState, SamplingWarning
from .diagnostics import (AutocorrError, DiagnosticWarning, Summary, autocorr, autocov, ess, integrated_time, mcse,
                          rhat, summary)
from .nuts import nuts
from .samplers import hmc, rwmh
from .store import load, resume
from .executors import map_fits
from .sbc import SBCResult, sbc
from .targets import GaussianMixture, GradientCheckWarning, Target, default_mixture, stack_array
from . import models, workloads

__all__ = [
    "available_backends",
    "GaussianMixture",
    "default_mixture",
    "rwmh",
    "hmc",
    "nuts",
    "resume",
    "load",
    "map_fits",
    "sbc",
    "SBCResult",
    "AdaptedState",
    "SamplingWarning",
    "SamplingResult",
    "Target",
    "Param",
    "Layout",
    "stack_array",
    "ess",
    "rhat",
    "mcse",
    "autocorr",
    "autocov",
    "integrated_time",
    "summary",
    "Summary",
    "AutocorrError",
    "DiagnosticWarning",
    "GradientCheckWarning",
    "models",
    "workloads",
]
__version__ = "0.1.0"
