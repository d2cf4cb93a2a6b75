"""Functions that tests/test_executors.py sends to worker processes: a module of their own with
few imports, which a spawned worker imports quickly (the test module imports Dask and compiles
the helpers' C functions)."""
import os
import signal
import time

import numba
import numpy as np

import fastmc


def fit(task, seed, target):
    """A small NUTS fit; the sleep makes tasks finish out of order."""
    time.sleep(0.02 * ((task * 7) % 5))
    r = fastmc.nuts(target, np.zeros(target.dim), 50, n_warmup=50, chains=1, seed=seed, warn=False)
    return task, seed, float(r.draws[..., 0].mean())


def fit_dies_once(task, seed, marker):
    """Kills its worker process the first time task 3 runs (the marker file says it did)."""
    if task == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return task, seed


@numba.njit
def normal_raising_far_out(x, grad, data):
    if abs(x[0]) > 2.5:
        raise ValueError("too far out")
    grad[0] = -x[0]
    return -0.5 * x[0] * x[0]
