"""Numba twins of the C++ kernels in csrc/include/fastmc (same names, same argument order)."""
