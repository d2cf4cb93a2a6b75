"""Shared fixtures: every backend-dependent test runs on each available backend."""
from pathlib import Path

import numpy as np
import pytest

import fastmc

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


@pytest.fixture(params=["cpp", "numba"])
def backend(request):
    if request.param not in fastmc.available_backends():
        pytest.skip(f"backend {request.param!r} is not available in this environment")
    return request.param


def pytest_report_header(config):
    return f"fastmc backends: {fastmc.available_backends()}"


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)
