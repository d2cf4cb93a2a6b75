"""The one Numba decorator of :mod:`fastmc.vae`.

The VAE is the documented exception to the project's no-``fastmath`` rule. The rest of fastmc
compiles with :mod:`fastmc._numba._jit` (no ``fastmath``) so that each Numba kernel and its C++
twin agree bit for bit; the VAE has no C++ twin, so nothing is compared across backends, and its
kernels are reductions over pixels (row sums, column sums, the Adam update) that vectorise only
when the compiler may reorder the additions. Results are still deterministic: the same inputs on
the same machine give the same bits, which is what the seeding promise of ``train`` needs.

``error_model="numpy"`` drops the zero-division checks (a division by zero gives inf/nan as in
NumPy) so that the loops vectorise; ``nogil`` lets callers run models on several threads (one
model per thread, see :class:`fastmc.vae.VAE`); ``cache`` keeps the compiled kernels on disk.
"""
from __future__ import annotations

import numba

#: Decorator for every jitted kernel of :mod:`fastmc.vae`.
njit = numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
