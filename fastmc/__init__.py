"""fastmc: fast Markov chain Monte Carlo from Python."""
from ._backend import available_backends

__all__ = ["available_backends"]
__version__ = "0.1.0"
