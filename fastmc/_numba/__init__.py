"""Numba twins of the C++ kernels in csrc/include/fastmc (same names, same argument order)."""
from ._threading import preload_tbb

# before any kernel starts Numba's threads: TBB survives fork, GNU OpenMP does not (see _threading)
preload_tbb()
