"""Targets by kind, each ending as the same kernel-facing interface (``_cpp_spec`` for the C++
kernels, ``_numba_target`` -> :class:`~fastmc.targets._base.NumbaTarget` for the Numba twins).

- :mod:`.mixture`: :class:`GaussianMixture`, the built-in target evaluated by the kernels.
- :mod:`.user`: :class:`Target`, a log density the user writes (C function pointer, Numba, Python).
- :mod:`.stan`: Stan programs compiled by stanc and the system C++ compiler (``Target.from_stan``).
- :mod:`.numba_glue`: Numba wrappers generated per user function, and :func:`stack_array`.
- :mod:`.models`: example targets written as a user would write them (also :mod:`fastmc.models`).
"""
from .mixture import GaussianMixture, default_mixture
from .numba_glue import stack_array
from .user import GradientCheckWarning, Target

__all__ = ["GaussianMixture", "default_mixture", "Target", "GradientCheckWarning", "stack_array"]
