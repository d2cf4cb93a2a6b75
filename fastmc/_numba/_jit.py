"""The decorators every Numba twin uses: no fastmath, so results match the C++ kernels."""
import numba

njit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
# Small helpers called in the innermost loops: inlined at Numba-IR level, which also removes the
# reference counting of array arguments that LLVM cannot see through.
njit_inline = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy", inline="always")
