"""Long runs a person can watch and stop: Ctrl-C keeps the draws, errors inside a compiled target
stop cleanly and are raised once, a chain's stop is its own (results depend only on the seed),
and the progress display shows where a person is watching and nowhere else.

Interrupts and displays run the sampler in a subprocess (a real SIGINT, a real terminal); each
subprocess runs every case of one backend, so the Numba kernels compile once per backend.
"""
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time

import numpy as np
import pytest
from numba import cfunc, njit

import fastmc
from helpers import CSIG

# ------------------------------------------------------------------------------ Ctrl-C

_INTERRUPTED_CHILD = textwrap.dedent(r'''
    import sys, time, warnings
    import numpy as np
    import fastmc
    from fastmc.workloads import workload

    backend = sys.argv[1]
    mix, _ = workload("T2")
    x0 = np.zeros(mix.dim)
    kw = dict(chains=2, seed=7, backend=backend, progress=False)
    # phase "warmup": interrupted during warm-up (schedules that do not depend on n_warmup, so a
    # shorter warm-up is the reference); "sampling": interrupted while sampling
    cases = {
        ("rwmh", "warmup"): lambda n, w: fastmc.rwmh(mix, x0, n, scale=0.5, n_warmup=w, **kw),
        ("rwmh", "sampling"): lambda n, w: fastmc.rwmh(mix, x0, n, scale=0.5, n_warmup=w, **kw),
        ("hmc", "warmup"): lambda n, w: fastmc.hmc(mix, x0, n, step_size=0.3, n_leapfrog=8, n_warmup=w,
                                                   metric="unit", warn=False, **kw),
        ("hmc", "sampling"): lambda n, w: fastmc.hmc(mix, x0, n, step_size=0.3, n_leapfrog=8, **kw),
        ("nuts", "warmup"): lambda n, w: fastmc.nuts(mix, x0, n, n_warmup=w, metric="unit", warn=False, **kw),
        ("nuts", "sampling"): lambda n, w: fastmc.nuts(mix, x0, n, n_warmup=w, warn=False, **kw),
    }
    for (sampler, phase), run in cases.items():
        run(20, 20)  # compile before the timed call
        long_n, long_w = (10, 10**7) if phase == "warmup" else (10**7, 50 if sampler != "hmc" else 0)
        print("ready", sampler, phase, flush=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = run(long_n, long_w)
        back = time.time()
        done = r.n_done + long_w if phase == "sampling" else np.zeros(2, dtype=int)
        warned = any("interrupted" in str(w.message) for w in caught)
        if phase == "warmup":
            k = int(r.warmup.draws.shape[1]) if r.warmup is not None else 0
            per_chain = [int(np.sum(np.isfinite(r.warmup.draws[c, :, 0]))) for c in range(2)]
            ref = run(10, min(per_chain))
            same = np.array_equal(ref.warmup.draws, r.warmup.draws[:, :min(per_chain)])
        else:
            k = int(r.n_done.min())
            ref = run(k, long_w)
            same = np.array_equal(ref.draws, r.draws[:, :k]) and k > 0
        print("result", sampler, phase, repr(back), int(r.interrupted), int(warned), int(same), flush=True)
    r = fastmc.nuts(mix, x0, 30, n_warmup=30, warn=False, **kw)  # the process stays usable
    print("after", int(r.interrupted), r.n_done.tolist(), flush=True)
''')


@pytest.mark.slow
def test_ctrl_c_stops_every_sampler_and_keeps_its_draws(backend, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_INTERRUPTED_CHILD)
    p = subprocess.Popen([sys.executable, str(script), backend], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=tmp_path)
    results = []
    try:
        for _ in range(6):
            line = p.stdout.readline().split()
            assert line[:1] == ["ready"], (line, p.stderr.read()[-2000:])
            time.sleep(1.0)
            sent = time.time()
            p.send_signal(signal.SIGINT)
            res = p.stdout.readline().split()
            assert res[:1] == ["result"], (res, p.stderr.read()[-2000:])
            _, sampler, phase, back, interrupted, warned, same = res
            results.append((sampler, phase, float(back) - sent, interrupted, warned, same))
        after = p.stdout.readline().split()
        p.wait(timeout=120)
    finally:
        p.kill()
    for sampler, phase, latency, interrupted, warned, same in results:
        assert latency < 0.5, f"{sampler} {phase}: stopped {latency:.2f} s after SIGINT"
        assert (interrupted, warned, same) == ("1", "1", "1"), (sampler, phase)
    assert after == ["after", "0", "[30,", "30]"] and p.returncode == 0


# ------------------------------------------------------------------------------ target errors

@njit
def _raises_beyond_1(x, grad, data):
    if x[0] > 1.0:
        raise ValueError("x[0] above 1 in the user's target")
    for i in range(x.size):
        grad[i] = -x[i]
    return -0.5 * np.sum(x * x)


@pytest.mark.parametrize("sampler", ["rwmh", "hmc", "nuts"])
def test_exception_in_numba_target_is_raised_once_with_partial_draws(backend, sampler):
    t = fastmc.Target.from_numba(_raises_beyond_1, 2, check_gradient=False)
    kw = dict(chains=3, seed=4, backend=backend)
    with pytest.raises(ValueError, match="above 1 in the user's target") as info:
        if sampler == "rwmh":
            fastmc.rwmh(t, np.zeros(2), 5000, scale=0.5, **kw)
        elif sampler == "hmc":
            fastmc.hmc(t, np.zeros(2), 5000, step_size=0.2, n_leapfrog=5, **kw)
        else:
            fastmc.nuts(t, np.zeros(2), 5000, n_warmup=50, **kw)
    exc = info.value
    assert any("raised by the target in chain" in n for n in exc.__notes__)
    part = exc.partial_result
    assert part.draws.shape[0] == 3 and np.all(part.n_done < 5000)
    for c in range(3):  # the draws done are real draws, the rest NaN: never uninitialised memory
        k = int(part.n_done[c])
        assert np.all(np.isfinite(part.draws[c, :k])) and np.all(part.draws[c, :k, 0] <= 1.0)
        assert np.all(np.isnan(part.draws[c, k:]))
    # the traceback reaches the user's function, called again at the point where it failed
    assert "_raises_beyond_1" in "".join(__import__("traceback").format_tb(exc.__traceback__))


_FLOOD_CHILD = textwrap.dedent(r'''
    import sys
    import numpy as np
    from numba import njit
    import fastmc

    @njit
    def bad(x, grad, data):
        if x[0] > 0.5:
            raise ValueError("boom")
        grad[:] = -x
        return -0.5 * np.sum(x * x)

    t = fastmc.Target.from_numba(bad, 2, check_gradient=False)
    try:
        fastmc.nuts(t, np.zeros(2), 1500, n_warmup=1500, chains=2, seed=1, backend=sys.argv[1], progress=False)
    except ValueError as e:
        print("raised", e.partial_result.n_done.tolist())
''')


def test_exception_in_numba_target_prints_nothing_per_call(backend, tmp_path):
    """Seen before: 13.75 M lines of 'Exception ignored' on C++, garbage results on Numba."""
    script = tmp_path / "child.py"
    script.write_text(_FLOOD_CHILD)
    r = subprocess.run([sys.executable, str(script), backend], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path)
    assert r.stdout.startswith("raised"), r.stderr[-3000:]
    assert len(r.stderr) < 2000, r.stderr[-3000:]


def test_gradientless_target_is_refused_by_gradient_samplers(cpp_only):
    t = fastmc.Target.from_python(logp=lambda x: -0.5 * float(x @ x), dim=2)
    for call in (lambda: fastmc.nuts(t, np.zeros(2), 10),
                 lambda: fastmc.hmc(t, np.zeros(2), 10, step_size=0.1, n_leapfrog=3, n_warmup=10)):
        with pytest.raises(TypeError, match="needs a gradient"):
            call()


# ------------------------------------------------------------------------------ a chain's stop is its own

@cfunc(CSIG)
def _stops_beyond_2(dim, x, grad, lp, data):
    if x[0] > 2.0:
        return -3
    lp[0] = -0.5 * x[0] * x[0]
    grad[0] = -x[0]
    return 0


def test_a_chains_stop_is_reproducible_whatever_the_threads(backend):
    """Issue 22 D5: with one seed, n_done used to differ between calls on 2 or 4 threads."""
    t = fastmc.Target.from_cfunc(_stops_beyond_2, 1, check_gradient=False)
    first = None
    for n_threads in (1, 2, 4, 2, 4):
        with pytest.warns(RuntimeWarning, match="it returned -3"):
            r = fastmc.rwmh(t, [0.0], 20_000, scale=2.0, chains=4, seed=9, n_threads=n_threads, backend=backend)
        assert np.all(r.n_done < 20_000)
        if first is None:
            first = r
        np.testing.assert_array_equal(r.n_done, first.n_done)
        np.testing.assert_array_equal(r.draws, first.draws)  # NaN after each chain's stop, equal too


def test_runs_sharing_a_target_do_not_stop_each_other(backend):
    """Issue 22 D4: two threads sampling one target; one run's chains stop, the other's do not."""
    t = fastmc.Target.from_cfunc(_stops_beyond_2, 1, check_gradient=False)
    out = {}

    def stopping():
        with pytest.warns(RuntimeWarning):
            out["a"] = fastmc.rwmh(t, [0.0], 50_000, scale=2.0, chains=2, seed=1, backend=backend)

    def narrow():  # small steps from -5: never reaches x > 2 in this many draws
        out["b"] = fastmc.rwmh(t, [-5.0], 50_000, scale=1e-4, chains=2, seed=2, backend=backend)

    threads = [threading.Thread(target=stopping), threading.Thread(target=narrow)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert np.all(out["a"].n_done < 50_000)
    assert np.all(out["b"].n_done == 50_000) and not out["b"].interrupted


# ------------------------------------------------------------------------------ progress display

_PROGRESS_CHILD = textwrap.dedent(r'''
    import sys
    import numpy as np
    import fastmc
    mix = fastmc.default_mixture()
    r = fastmc.nuts(mix, np.zeros(2), 300, n_warmup=200, chains=2, seed=1, backend=sys.argv[1], warn=False,
                    **({"progress": True} if sys.argv[2] == "on" else {}))
    print("done", int(r.n_done.sum()), flush=True)
''')


def _run_in_pty(args, cwd):
    """Run args with stdout and stderr on a pseudo-terminal; returns what it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal 120 columns wide
    p = subprocess.Popen(args, stdout=slave, stderr=slave, cwd=cwd, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        r, _, _ = select.select([master], [], [], 300)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_progress_shows_in_a_terminal_and_not_in_a_pipe(backend, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_PROGRESS_CHILD)
    shown = _run_in_pty([sys.executable, str(script), backend, "auto"], tmp_path)
    assert "done 600" in shown
    # the bar's final count: the iterations of every chain, warm-up included (2 x (200 + 300))
    assert "100%" in shown and "1.00k/1.00k" in shown and "divergences" in shown, shown[-500:]
    piped = subprocess.run([sys.executable, str(script), backend, "auto"], capture_output=True, text=True,
                           timeout=600, cwd=tmp_path)
    assert piped.stdout.strip() == "done 600" and "divergences" not in piped.stderr and "it/s" not in piped.stderr
    forced = subprocess.run([sys.executable, str(script), backend, "on"], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path)
    assert "divergences" in forced.stderr


def test_progress_argument_is_checked():
    with pytest.raises(TypeError, match="progress"):
        fastmc.rwmh(fastmc.default_mixture(), np.zeros(2), 10, scale=1.0, progress="yes")


# ------------------------------------------------------------------------------ checked mode

@njit
def _writes_past_grad(x, grad, data):
    for i in range(x.size + 1):  # one element past the end: heap corruption without the guard
        grad[i] = -x[i] if i < x.size else 7.0
    return -0.5 * np.sum(x * x)


@njit
def _nan_grad_beyond_1(x, grad, data):
    for i in range(x.size):
        grad[i] = -x[i]
    if x[0] > 1.0:
        grad[1] = np.nan
    return -0.5 * np.sum(x * x)


@njit
def _nan_logp_beyond_1(x, grad, data):
    for i in range(x.size):
        grad[i] = -x[i]
    return np.nan if x[0] > 1.0 else -0.5 * np.sum(x * x)


def test_a_write_past_the_gradient_is_caught_at_the_start_point(backend):
    """Seen before: the run looked fine, then the process aborted at exit (free(): invalid next size)."""
    t = fastmc.Target.from_numba(_writes_past_grad, 3, check_gradient=False)
    with pytest.raises(ValueError, match=r"wrote past the end of its gradient \(grad\[3\]"):
        fastmc.nuts(t, np.zeros(3), 50, n_warmup=50, chains=2, seed=1, backend=backend)


@pytest.mark.parametrize("fn, message", [
    (_nan_grad_beyond_1, r"gradient is nan at coordinate 1 where its log density is finite"),
    (_nan_logp_beyond_1, r"returned a log density of nan as a number"),
])
def test_checked_mode_names_what_went_wrong_identically_on_both_backends(both_backends, fn, message):
    t = fastmc.Target.from_numba(fn, 3, check_gradient=False)
    seen = []
    for backend in both_backends:
        with pytest.raises(ValueError, match=message) as info:
            fastmc.nuts(t, np.zeros(3), 300, n_warmup=100, chains=2, seed=1, backend=backend, check=True)
        part = info.value.partial_result
        seen.append((str(info.value), part.n_done.tolist()))
        for c in range(2):
            k = int(part.n_done[c])
            assert np.all(np.isfinite(part.draws[c, :k]))
    assert seen[0] == seen[1]  # the same chain, iteration and point on both backends
    # without the checked mode the same run goes on: NaN log densities are counted as rejections
    with pytest.warns(Warning):
        r = fastmc.nuts(t, np.zeros(3), 300, n_warmup=100, chains=2, seed=1, backend=both_backends[0])
    assert np.all(r.n_done == 300)
