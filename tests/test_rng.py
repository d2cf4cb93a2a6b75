"""The per-chain generator: identical bits in both twins, and correct normal draws."""
import numpy as np


def test_streams_are_bit_identical_across_backends(both_backends):
    from fastmc import _core as core
    from fastmc._numba.core import rng as nrng

    for seed, chain in [(0, 0), (12345, 3), (2**64 - 1, 2**40)]:
        w_c, z_c = core.rng_stream(seed, chain, 100_000)
        w_n, z_n = nrng.rng_stream(np.uint64(seed), np.uint64(chain), 100_000)
        np.testing.assert_array_equal(w_c, w_n)
        np.testing.assert_array_equal(z_c, z_n)


def test_ziggurat_tables_are_identical(both_backends):
    from fastmc import _core as core
    from fastmc._numba.core import rng as nrng

    x, f = core.ziggurat_tables()
    np.testing.assert_array_equal(x, nrng.ZIG_X)
    np.testing.assert_array_equal(f, nrng.ZIG_F)
