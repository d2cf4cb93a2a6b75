"""Standard normal quantile by Wichura's AS241 (PPND16): Numba twin of
``csrc/include/fastmc/diagnostics/normal_quantile.hpp`` (same names, same order of operations).

A rational approximation in three regions, relative error about 1e-16 (at most 1.3e-15 against
``scipy.special.ndtri`` on every Blom probability of 4e6 draws). :func:`normal_scores` fills the
table of scores of the integer ranks: the central region in a branch-free loop that LLVM
vectorises, the tails through :func:`normal_quantile`.
"""
import math

import numpy as np
from numba import prange

from .._jit import njit, njit_parallel


@njit
def as241_central(q):
    """Central region, ``|q| <= 0.425`` with ``q = p - 0.5``."""
    r = 0.180625 - q * q
    num = (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r
                + 6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r
              + 1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r
            + 1.3314166789178437745e+2) * r + 3.3871328727963666080e+0)
    den = (((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r
                + 3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r
              + 5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r
            + 4.2313330701600911252e+1) * r + 1.0)
    return q * num / den


@njit
def normal_quantile(p):
    """Phi^-1(p); -inf at 0, inf at 1, NaN outside [0, 1]."""
    if not (p > 0.0 and p < 1.0):
        if p == 0.0:
            return -np.inf
        if p == 1.0:
            return np.inf
        return np.nan
    q = p - 0.5
    if abs(q) <= 0.425:
        return as241_central(q)
    r = math.sqrt(-math.log(p if q < 0.0 else 1.0 - p))  # 1 - p is exact for p > 0.5
    if r <= 5.0:
        r -= 1.6
        v = ((((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r
                   + 2.41780725177450611770e-1) * r + 1.27045825245236838258e+0) * r
                 + 3.64784832476320460504e+0) * r + 5.76949722146069140550e+0) * r
               + 4.63033784615654529590e+0) * r + 1.42343711074968357734e+0)
             / (((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r
                     + 1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r
                   + 6.89767334985100004550e-1) * r + 1.67638483018380384940e+0) * r
                 + 2.05319162663775882187e+0) * r + 1.0))
    else:
        r -= 5.0
        v = ((((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                   + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
                 + 2.96560571828504891230e-1) * r + 1.78482653991729133580e+0) * r
               + 5.46378491116411436990e+0) * r + 6.65790464350110377720e+0)
             / (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r
                     + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                   + 1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r
                 + 5.99832206555887937690e-1) * r + 1.0))
    return -v if q < 0.0 else v


@njit
def blom_p(r, n):
    """Blom probability of rank r (1-based) among n: (r - 3/8) / (n + 1/4), as ArviZ."""
    return (float(r) - 0.375) / (float(n) + 0.25)


@njit
def first_beyond(n, lo, hi, t, strict):
    """First i in [lo, hi) whose q = blom_p(i + 1, n) - 0.5 exceeds t (> if strict, else >=)."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        q = blom_p(mid + 1, n) - 0.5
        if (q > t) if strict else (q >= t):
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit
def normal_scores(n, lo, hi, z):
    """z[i - lo] = normal_quantile(blom_p(i + 1, n)) for i in [lo, hi)."""
    c0 = first_beyond(n, lo, hi, -0.425, False)
    c1 = first_beyond(n, c0, hi, 0.425, True)
    for i in range(lo, c0):
        z[i - lo] = normal_quantile(blom_p(i + 1, n))
    denom = float(n) + 0.25
    for i in range(c0, c1):  # vectorised
        z[i - lo] = as241_central((float(i + 1) - 0.375) / denom - 0.5)
    for i in range(c1, hi):
        z[i - lo] = normal_quantile(blom_p(i + 1, n))


SCORES_PART_MIN = 1 << 16


@njit_parallel
def normal_score_table(n, z, n_threads):
    """The whole table z (n,) on up to n_threads threads, in contiguous parts (up to 8 per
    thread: the costly tails are at both ends)."""
    parts = max(1, min(n // SCORES_PART_MIN, 8 * n_threads))
    for c in prange(parts):
        lo = n * c // parts
        hi = n * (c + 1) // parts
        normal_scores(n, lo, hi, z[lo:hi])
