"""Numba twins of the diagnostics kernels in ``csrc/include/fastmc/diagnostics/`` (same file names,
function names and argument order). The C++ side's ``threads.hpp`` has no twin: Numba's ``prange``
shares the work."""
