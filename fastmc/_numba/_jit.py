"""The decorators every Numba twin uses: no fastmath, so results match the C++ kernels."""
import numba

_opts = dict(nogil=True, fastmath=False, error_model="numpy")

njit = numba.njit(cache=True, **_opts)
# Small helpers called in the innermost loops: inlined at Numba-IR level, which also removes the
# reference counting of array arguments that LLVM cannot see through.
njit_inline = numba.njit(cache=True, inline="always", **_opts)

# Kernels that take the target's jitted functions as arguments do not use Numba's own disk cache:
# it keys such an entry by the identity of the function objects, so a new process never hits it,
# every process appends another entry, and reading an index holding entries of functions that no
# longer exist fails with ReferenceError. The entry points among them (hmc_run, rwmh_run,
# batch_logp_grad) get fastmc/_numba/_cache.py's cache instead, keyed by what defines the code.
njit_fn = numba.njit(cache=False, **_opts)
njit_fn_inline = numba.njit(cache=False, inline="always", **_opts)
njit_fn_parallel = numba.njit(cache=False, parallel=True, **_opts)
# Diagnostics kernels that share their loop over variables or chains with prange: cached, because
# they take only arrays and scalars.
njit_parallel = numba.njit(cache=True, parallel=True, **_opts)
