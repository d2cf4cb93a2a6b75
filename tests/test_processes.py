"""Process pools after fastmc has run: fork, spawn and forkserver ProcessPoolExecutors whose
workers sample and compute diagnostics, started after the parent used each backend.

Each case runs in a fresh interpreter, so that the parent's state at fork (Numba's threads started
or not, the extension's threads) is exactly the one under test. With Numba on GNU OpenMP (no TBB
installed) a forked worker cannot run Numba's parallel kernels; fastmc then raises a RuntimeError
saying what to do instead of letting the worker die (BrokenProcessPool).
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fastmc

# the subprocesses import the fastmc this test imported (an install, or the source tree built in place)
ROOT = Path(fastmc.__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import concurrent.futures as cf
    import multiprocessing as mp
    import sys

    import numba
    import numpy as np

    import fastmc

    def job(seed, backend):
        r = fastmc.rwmh(fastmc.default_mixture(), [0.0, 0.0], 300, scale=1.0, chains=2, seed=seed,
                        backend=backend)
        return r.draws.sum(), float(fastmc.ess(r.draws, backend=backend).sum())

    if __name__ == "__main__":
        backend, method = sys.argv[1], sys.argv[2]
        want = [job(s, backend) for s in range(3)]  # the parent uses the backend first
        with cf.ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as ex:
            try:
                got = list(ex.map(job, range(3), [backend] * 3))
            except RuntimeError as exc:
                print("RuntimeError:", exc)
                sys.exit(3)
        assert got == want, (got, want)
        try:
            layer = numba.threading_layer()
        except ValueError:  # the C++ backend ran no Numba parallel kernel
            layer = "none"
        print("OK", layer)
""")


def _run(tmp_path, backend, method, env=None):
    import os

    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    environ = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    environ.update(env or {})
    return subprocess.run([sys.executable, str(script), backend, method], capture_output=True, text=True,
                          timeout=600, env=environ, cwd=tmp_path)


def _gnu_openmp_layer():
    """Whether this process's Numba runs its parallel kernels on GNU OpenMP."""
    import numba
    import numpy as np

    fastmc.ess(np.random.default_rng(0).standard_normal((2, 50)), backend="numba")  # starts the layer
    from numba.np.ufunc import omppool

    return numba.threading_layer() == "omp" and getattr(omppool, "openmp_vendor", "GNU") == "GNU"


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_process_pool_after_using_a_backend(backend, method, tmp_path):
    """D6: after a Numba-backend call, a fork pool's workers aborted ('fork() called from a process
    already using GNU OpenMP') and the pool raised BrokenProcessPool."""
    p = _run(tmp_path, backend, method)
    if backend == "numba" and method == "fork" and _gnu_openmp_layer():
        assert p.returncode == 3, p.stdout + p.stderr
        assert "forked" in p.stdout and "pip install tbb" in p.stdout, p.stdout
    else:
        assert p.returncode == 0, p.stdout + p.stderr
        assert p.stdout.startswith("OK"), p.stdout


def test_fork_on_gnu_openmp_gives_a_clear_error(tmp_path):
    """Where Numba runs on GNU OpenMP (forced here), a forked worker gets fastmc's RuntimeError,
    not a SIGTERM from Numba that breaks the pool."""
    if "numba" not in fastmc.available_backends():
        pytest.skip("needs the Numba backend")
    p = _run(tmp_path, "numba", "fork", env={"NUMBA_THREADING_LAYER": "omp"})
    if "No threading layer could be loaded" in p.stderr:
        pytest.skip("Numba's OpenMP layer is not available here")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "GNU OpenMP" in p.stdout and "spawn" in p.stdout
