"""The one decorator every Numba twin uses: no fastmath, so results match the C++ kernels."""
import numba

njit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
