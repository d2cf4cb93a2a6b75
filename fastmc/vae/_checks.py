"""Argument checks shared by the VAE modules."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_count"]


def check_count(value, name):
    """Return ``value`` as an int after checking that it is an integer >= 1.

    Parameters
    ----------
    value : object
    name : str
        Argument name for the error message.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``value`` is not an integer (``bool`` is rejected).
    ValueError
        If ``value < 1``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 1, got {value!r} of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    if value > MAX_COUNT:
        raise ValueError(f"{name} must be at most {MAX_COUNT}, got {value}")
    return int(value)


def check_seed(value, name):
    """``value`` if it can seed ``np.random.default_rng``: None, a non-negative integer or a
    Generator; else a TypeError naming ``name``."""
    ok = value is None or isinstance(value, np.random.Generator) or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0)
    if not ok:
        raise TypeError(f"{name} must be None, a non-negative integer or a numpy Generator, got {value!r}")
    return value


#: The largest size or count the VAE accepts: beyond it every array it implies exceeds any memory.
MAX_COUNT = 2**31 - 1


def check_fits(n_values, name, itemsize=8):
    """A ValueError naming ``name`` when ``n_values`` values cannot fit in this machine's memory."""
    import os

    try:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return
    if n_values * itemsize > avail:
        raise ValueError(f"{name} is too large: the arrays it implies need {n_values * itemsize / 2**30:.3g} GiB, "
                         f"the machine has {avail / 2**30:.3g} GiB")
