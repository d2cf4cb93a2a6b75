"""Runs stored as they are made (store=), read back (fastmc.load) and continued exactly
(fastmc.resume) after Ctrl-C or SIGKILL at any point."""
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastmc
from fastmc.workloads import workload

from helpers import ctrl_c_after

zarr = pytest.importorskip("zarr")


def _same_run(a, b):
    """Every output of two runs equal, bit for bit (NaN equal to NaN)."""
    eq = np.testing.assert_array_equal
    eq(a.draws, b.draws)
    eq(a.log_density, b.log_density)
    eq(a.accept_prob, b.accept_prob)
    eq(a.energy, b.energy)
    eq(a.divergent, b.divergent)
    for k in b.sample_stats:
        eq(a.sample_stats[k], b.sample_stats[k])
    eq(a.n_grad_evals, b.n_grad_evals)
    if b.warmup is not None:
        eq(a.warmup.draws, b.warmup.draws)
        eq(a.warmup.accept_prob, b.warmup.accept_prob)
    eq(a.state.step_size, b.state.step_size)
    eq(a.state.inv_metric, b.state.inv_metric)
    eq(a.state.rng_state, b.state.rng_state)
    eq(a.state.position, b.state.position)


@pytest.mark.parametrize("sampler", ["nuts", "hmc"])
def test_a_stored_run_equals_the_run_and_loads_back(backend, sampler, tmp_path):
    mix, _ = workload("T2")
    x0 = np.zeros(mix.dim)
    if sampler == "nuts":
        def call(**kw):
            return fastmc.nuts(mix, x0, 300, n_warmup=200, chains=2, seed=3, backend=backend, warn=False, **kw)
    else:
        def call(**kw):
            return fastmc.hmc(mix, x0, 300, step_size=0.3, n_leapfrog=7, n_warmup=200, chains=2, seed=3,
                              backend=backend, warn=False, **kw)
    ref = call()
    stored = call(store=tmp_path / "run.zarr", store_every=64)
    _same_run(stored, ref)
    loaded = fastmc.load(tmp_path / "run.zarr")
    _same_run(loaded, ref)
    assert not loaded.interrupted and np.all(loaded.n_done == 300)


_KILLED_CHILD = textwrap.dedent(r'''
    import sys
    import numpy as np
    import fastmc
    from fastmc.workloads import workload
    mix, _ = workload("T3")
    fastmc.nuts(mix, np.zeros(mix.dim), 6000, n_warmup=600, chains=2, seed=5, backend=sys.argv[1], metric="dense",
                warn=False, progress=False, store=sys.argv[2], store_every=25)
''')


def _stored_iterations(path):
    """The iterations the store holds for its furthest chain (chains run at their own pace: with
    the slowest one, the other may finish before the kill)."""
    try:
        m = zarr.open_group(str(path), mode="r")["marker"][:]
    except Exception:
        return 0
    return int(m[:, 0].max())


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [30, 400, 1500])  # early warm-up, late warm-up, sampling
def test_a_killed_run_resumes_to_the_same_draws(backend, kill_at, tmp_path):
    if backend == "numba" and kill_at != 400:
        pytest.skip("one kill point on Numba: each subprocess compiles the sampler")
    path = tmp_path / "run.zarr"
    script = tmp_path / "child.py"
    script.write_text(_KILLED_CHILD)
    p = subprocess.Popen([sys.executable, str(script), backend, str(path)], cwd=tmp_path)
    try:
        deadline = time.time() + 600
        while _stored_iterations(path) < kill_at and p.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    finally:
        p.kill()
    assert p.returncode == -signal.SIGKILL, "the run ended before it was killed"
    part = fastmc.load(path)
    # killed before the end: a chain may have finished (one can run all its draws between two
    # of the store's writes while the other is still early), the others resume
    assert np.any(part.n_done < 6000)
    mix, _ = workload("T3")
    ref = fastmc.nuts(mix, np.zeros(mix.dim), 6000, n_warmup=600, chains=2, seed=5, backend=backend, metric="dense",
                      warn=False, progress=False)
    resumed = fastmc.resume(path, backend=backend, progress=False, warn=False)
    _same_run(resumed, ref)
    _same_run(fastmc.load(path), ref)  # the store now holds the whole run


def test_an_interrupted_run_resumes_to_the_same_draws(backend, tmp_path):
    """Ctrl-C saves every chain's state where it stopped (KeyboardInterrupt is raised in the
    waiting thread here, as SIGINT would; tests/test_long_runs.py sends a real one)."""
    mix, _ = workload("T3")
    x0 = np.zeros(mix.dim)
    kw = dict(n_warmup=300, chains=2, seed=8, backend=backend, metric="dense", warn=False, progress=False)
    ref = fastmc.nuts(mix, x0, 3000, **kw)
    with ctrl_c_after(0.2), pytest.warns(RuntimeWarning, match="interrupted"):
        big = fastmc.nuts(mix, x0, 3000, store=tmp_path / "run.zarr", store_every=10_000, **kw)
    assert big.interrupted and np.all(big.n_done < 3000)
    _same_run(fastmc.resume(tmp_path / "run.zarr", backend=backend, progress=False, warn=False), ref)


def test_store_bad_input(tmp_path):
    mix = fastmc.default_mixture()
    fastmc.nuts(mix, np.zeros(2), 20, n_warmup=20, chains=1, seed=1, warn=False, store=tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="store .* exists"):
        fastmc.nuts(mix, np.zeros(2), 20, n_warmup=20, chains=1, seed=1, warn=False, store=tmp_path / "a.zarr")
    with pytest.raises(TypeError, match="store must be a path"):
        fastmc.nuts(mix, np.zeros(2), 20, store=3)
    with pytest.raises(ValueError, match="store_every"):
        fastmc.nuts(mix, np.zeros(2), 20, store=tmp_path / "b.zarr", store_every=0)
    with pytest.raises(ValueError, match="does not exist"):
        fastmc.resume(tmp_path / "missing.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="not a fastmc store"):
        fastmc.load(tmp_path / "plain")


def test_resume_needs_the_user_target_again(tmp_path, cpp_only):
    t = fastmc.Target.from_python(lambda x: (-0.5 * float(x @ x), -x), 2, check_gradient=False)
    fastmc.nuts(t, np.zeros(2), 20, n_warmup=20, chains=1, seed=1, warn=False, store=tmp_path / "u.zarr")
    with pytest.raises(TypeError, match="target is required"):
        fastmc.resume(tmp_path / "u.zarr")
    r = fastmc.resume(tmp_path / "u.zarr", t, warn=False)  # already complete: nothing left to run
    assert np.all(r.n_done == 20)
    assert fastmc.load(tmp_path / "u.zarr").draws.shape == (1, 20, 2)
