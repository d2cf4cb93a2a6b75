"""fastmc: fast Markov chain Monte Carlo from Python.

Samplers (:func:`rwmh`, :func:`hmc`) run many chains in parallel threads in C++ kernels
(``fastmc._core``) or their Numba twins; :class:`GaussianMixture` is the built-in target.
"""
from ._backend import available_backends
from .results import SamplingResult
from .samplers import hmc, rwmh
from .targets import GaussianMixture, default_mixture
from . import workloads

__all__ = [
    "available_backends",
    "GaussianMixture",
    "default_mixture",
    "rwmh",
    "hmc",
    "SamplingResult",
]
__version__ = "0.1.0"
