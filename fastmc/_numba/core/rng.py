"""xoshiro256** with a 256-layer ziggurat for normal draws. Twin: csrc/include/fastmc/core/rng.hpp.

The generator state is a ``uint64[4]`` array owned by one chain and seeded from (seed, chain)
only. Every constant is a ``np.uint64`` so Numba never promotes the integer arithmetic to float.
"""
import math

import numpy as np

from .._jit import njit

_U = np.uint64
_GOLDEN = _U(0x9E3779B97F4A7C15)
_M1 = _U(0xBF58476D1CE4E5B9)
_M2 = _U(0x94D049BB133111EB)
_TWO53 = 2.0 ** -53


def _ziggurat_tables():
    """Layer edges x (257,) and exp(-x^2/2) at them, computed exactly as rng.hpp does."""
    R = 3.6541528853610088
    V = 0.00492867323399
    x = np.empty(257)
    x[0] = V / math.exp(-0.5 * R * R)
    x[1] = R
    for i in range(1, 255):
        x[i + 1] = math.sqrt(-2.0 * math.log(V / x[i] + math.exp(-0.5 * x[i] * x[i])))
    x[256] = 0.0
    f = np.array([math.exp(-0.5 * v * v) for v in x])
    return x, f


ZIG_X, ZIG_F = _ziggurat_tables()


@njit
def splitmix64_mix(z):
    z = (z ^ (z >> _U(30))) * _M1
    z = (z ^ (z >> _U(27))) * _M2
    return z ^ (z >> _U(31))


@njit
def rng_seed(seed, chain, s):
    """Fill the state ``s`` (4,) uint64 for chain ``chain`` of a run seeded with ``seed``."""
    z = _U(seed) + splitmix64_mix(_U(chain) + _U(1))
    for i in range(4):
        z = z + _GOLDEN
        s[i] = splitmix64_mix(z)


@njit
def _rotl(x, k):
    return (x << _U(k)) | (x >> _U(64 - k))


@njit
def rng_next(s):
    result = _rotl(s[1] * _U(5), 7) * _U(9)
    t = s[1] << _U(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit
def rng_uniform(s):
    return float(rng_next(s) >> _U(11)) * _TWO53


@njit
def rng_uniform_open(s):
    return (float(rng_next(s) >> _U(11)) + 0.5) * _TWO53


@njit
def rng_normal(s):
    X = ZIG_X
    F = ZIG_F
    while True:
        u = rng_next(s)
        i = int(u & _U(0xFF))
        neg = ((u >> _U(8)) & _U(1)) == _U(1)
        x = float(u >> _U(11)) * _TWO53 * X[i]
        if x < X[i + 1]:
            return -x if neg else x
        if i == 0:
            R = X[1]
            while True:
                a = -math.log(rng_uniform_open(s)) / R
                b = -math.log(rng_uniform_open(s))
                if not (b + b < a * a):
                    break
            return -(R + a) if neg else R + a
        if F[i + 1] + rng_uniform(s) * (F[i] - F[i + 1]) < math.exp(-0.5 * x * x):
            return -x if neg else x


@njit
def rng_stream(seed, chain, n):
    """Raw words and normals of one chain's generator (test hook, as in the C++ binding)."""
    words = np.empty(n, dtype=np.uint64)
    normals = np.empty(n)
    s = np.empty(4, dtype=np.uint64)
    rng_seed(seed, chain, s)
    for i in range(n):
        words[i] = rng_next(s)
    rng_seed(seed, chain, s)
    for i in range(n):
        normals[i] = rng_normal(s)
    return words, normals
