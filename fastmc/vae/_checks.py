"""Argument checks shared by the VAE modules."""
from __future__ import annotations

import numbers

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
    return int(value)
