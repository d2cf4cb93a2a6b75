"""Shared fixtures: every backend-dependent test runs on each available backend."""
import os

# One BLAS thread before NumPy loads: the VAE's small matrix products thrash with more on a
# shared 2-core machine (30x slower in the suite), and nothing else here uses BLAS in bulk.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastmc  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


@pytest.fixture(params=["cpp", "numba"])
def backend(request):
    if request.param not in fastmc.available_backends():
        pytest.skip(f"backend {request.param!r} is not available in this environment")
    return request.param


@pytest.fixture
def both_backends():
    """For twin-parity tests: skips unless both the C++ and the Numba backend are available;
    returns their names."""
    if not {"cpp", "numba"} <= set(fastmc.available_backends()):
        pytest.skip("needs both backends (cpp and numba)")
    return ("cpp", "numba")


@pytest.fixture
def cpp_only():
    """For Python targets, which run on the C++ backend only: skips without it."""
    if "cpp" not in fastmc.available_backends():
        pytest.skip("Python targets run on the C++ backend")


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run tests/test_fuzz.py with many times more examples (also FASTMC_FUZZ_LONG=1)")


def pytest_configure(config):
    if config.getoption("--fuzz-long"):
        os.environ["FASTMC_FUZZ_LONG"] = "1"


def pytest_report_header(config):
    return f"fastmc backends: {fastmc.available_backends()}"


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)
