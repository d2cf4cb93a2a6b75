"""The Numba backend compiles a sampler once per target *definition*, not once per process: a
target written in a file loads its compiled sampler from the disk cache in the next process
(fastmc/_numba/_cache.py), with the same draws; editing the file compiles again; a target whose
code has no stable identity (a C function pointer) is never cached."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_MODEL = textwrap.dedent('''
    import numba

    @numba.njit
    def banana(x, grad, data):
        r = x[1] - x[0] ** 2
        grad[0] = 2 * (1 - x[0]) + 4 * data[0] * r * x[0]
        grad[1] = -2 * data[0] * r
        return -(1 - x[0]) ** 2 - data[0] * r * r
''')

_CHILD = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    import fastmc
    from fastmc._numba.adapt.warmup import hmc_run
    from fastmc._numba.rwmh.rwmh import rwmh_run

    sys.path.insert(0, sys.argv[1])
    from model import banana
    t = fastmc.Target.from_numba(banana, dim=2, data=np.array([float(sys.argv[2])]))
    t0 = time.perf_counter()
    r = fastmc.nuts(t, np.ones(2), 100, n_warmup=100, chains=2, seed=3, backend="numba", progress=False)
    q = fastmc.rwmh(t, np.ones(2), 200, scale=0.5, chains=2, seed=3, backend="numba", progress=False)
    np.save(sys.argv[3], np.concatenate([r.draws.ravel(), q.draws.ravel()]))
    print(json.dumps({"seconds": time.perf_counter() - t0,
                      "hits": sum(hmc_run._cache_hits.values()) + sum(rwmh_run._cache_hits.values()),
                      "misses": sum(hmc_run._cache_misses.values()) + sum(rwmh_run._cache_misses.values())}))
''')


def _run(tmp_path, data, out, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    p = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(tmp_path / "src"), str(data), str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_target_in_a_file_compiles_once_across_processes(tmp_path):
    pytest.importorskip("numba")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text(_MODEL)
    (tmp_path / "child.py").write_text(_CHILD)
    cache = tmp_path / "cache"
    first = _run(tmp_path, 5.0, tmp_path / "a.npy", cache)
    assert first["hits"] == 0 and first["misses"] == 2
    # a new process: both samplers come from the cache, with the same draws; new data do not
    # change the compiled code
    second = _run(tmp_path, 5.0, tmp_path / "b.npy", cache)
    assert second["hits"] == 2 and second["misses"] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    other = _run(tmp_path, 3.0, tmp_path / "c.npy", cache)
    assert other["hits"] == 2
    assert not np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "c.npy"))
    # the model's file edited: its code may have changed, so it compiles again
    (tmp_path / "src" / "model.py").write_text(_MODEL.replace("data[0] * r * r", "data[0] * r * r * 1.0"))
    edited = _run(tmp_path, 5.0, tmp_path / "d.npy", cache)
    assert edited["hits"] == 0 and edited["misses"] == 2
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "d.npy"))  # same math
    print(f"first process {first['seconds']:.1f} s, cached {second['seconds']:.2f} s")


def test_code_that_keeps_a_c_pointer_is_never_cached():
    """A C function target's Numba glue calls a ctypes pointer whose address the compiled code
    keeps: no cache key, so it compiles in every process as before (a cached entry would call a
    dead address)."""
    import numba

    import fastmc
    from fastmc._numba._cache import _function_token, _Uncacheable
    from fastmc.targets.numba_glue import make_cfunc

    @numba.njit
    def f(x, grad, data):
        grad[0] = -x[0]
        return -0.5 * x[0] * x[0]

    t = fastmc.Target.from_cfunc(make_cfunc(f, (1,)), 1, data=np.zeros(1))
    with pytest.raises(_Uncacheable):
        _function_token(t._numba_target(False).logp_grad, frozenset())
    # a target written in fastmc (the mixture) has a key
    assert _function_token(fastmc.default_mixture()._numba_target(False).logp_grad, frozenset())[0] == "function"
