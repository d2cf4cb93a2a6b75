"""The command line: `fastmc sample MODEL.py`, `summary`, `resume`, `--version`, `--help`, the demo.

End-to-end runs go through a subprocess (`python -m fastmc ...`) on tiny model files written to
tmp_path; the many bad-input cases call `fastmc.cli.main` in-process, which takes the same path
without paying an interpreter start each.
"""
import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import fastmc
from fastmc.cli import demo, load_npz, main, save_npz

SUBCOMMANDS = ("sample", "summary", "resume", "vae", "demo")
COLUMNS = ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat")

# Models the tests sample. A standard normal: nothing for the checks to report.
NORMAL = """
    import numpy as np
    import fastmc
    target = fastmc.GaussianMixture(weights=[1.0], means=[np.zeros(3)], covs=[np.eye(3)])
"""
# Two modes 16 sd apart, one chain started in each: the chains cannot mix, so R-hat must flag it.
SPLIT = """
    import fastmc
    target = fastmc.GaussianMixture(weights=[0.5, 0.5], means=[[-8.0], [8.0]], covs=[[[1.0]], [[1.0]]])
    x0 = [[-8.0], [8.0]]
"""
NUMBA = """
    import numba
    import numpy as np
    import fastmc

    @numba.njit
    def logp(x, grad, data):
        s = 0.0
        for i in range(x.shape[0]):
            grad[i] = -x[i] / data[0]
            s += x[i] * x[i]
        return -0.5 * s / data[0]

    target = fastmc.Target.from_numba(logp, dim=2, data=np.array([2.0]))
"""


def _model(tmp_path, text, name="model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _env():
    # the subprocess imports the fastmc this test imported, whatever the working directory
    env = dict(os.environ)
    root = str(Path(fastmc.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _cli(*args, cwd, timeout=240):
    return subprocess.run([sys.executable, "-m", "fastmc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=_env())


def _table_rows(text):
    """Row label -> cells of the diagnostics table printed in ``text``."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["mean", "sd"])
    assert all(c in lines[head].split() for c in COLUMNS), lines[head]
    rows = {}
    for line in lines[head + 1:]:
        parts = line.split()
        if not parts or not parts[0].startswith("x["):
            break
        rows[parts[0]] = parts[1:]
    return rows


# --------------------------------------------------------------------------- sample
def test_sample_prints_the_table_and_exits_0(tmp_path):
    model = _model(tmp_path, NORMAL)
    out = tmp_path / "draws.npz"
    res = _cli("sample", model, "--chains", 2, "--draws", 400, "--warmup", 300, "--seed", 5, "--output", out,
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr
    assert "nuts: 2 chains x 400 draws after 300 warm-up" in res.stdout and "seed 5" in res.stdout
    rows = _table_rows(res.stdout)
    assert list(rows) == ["x[0]", "x[1]", "x[2]"]
    means = np.array([float(r[0]) for r in rows.values()])
    assert np.all(np.abs(means) < 0.3)  # a standard normal; 800 draws give an MCSE near 0.035

    # the --output file holds the run, and `summary` prints the same table from it
    r = load_npz(out)
    assert r.draws.shape == (2, 400, 3) and r.sampler == "nuts" and r.seed == 5 and r.divergent.shape == (2, 400)
    again = _cli("summary", out, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _table_rows(again.stdout) == rows


@pytest.mark.skipif("cpp" not in fastmc.available_backends(),
                    reason="the Numba backend compiles the whole sampler for a user target (minutes)")
def test_sample_a_numba_target(tmp_path):
    model = _model(tmp_path, NUMBA)
    res = _cli("sample", model, "--chains", 2, "--draws", 500, "--warmup", 300, "--seed", 3, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = _table_rows(res.stdout)
    assert list(rows) == ["x[0]", "x[1]"]
    sd = np.array([float(r[1]) for r in rows.values()])
    assert np.all(np.abs(sd - np.sqrt(2.0)) < 0.25)  # variance 2


def test_sampling_problems_exit_1(tmp_path):
    model = _model(tmp_path, SPLIT)
    res = _cli("sample", model, "--chains", 2, "--draws", 200, "--warmup", 200, "--seed", 1, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "warning: R-hat above 1.01" in res.stderr
    assert "x[0]" in res.stdout  # the table is still printed


def test_rwmh_is_judged_like_the_others(tmp_path, capsys):
    # rwmh emits no warnings itself: the command line runs the same checks after it
    model = _model(tmp_path, SPLIT)
    assert main(["sample", str(model), "--sampler", "rwmh", "--chains", "2", "--draws", "300", "--warmup", "100",
                 "--seed", "1"]) == 1
    assert "R-hat above 1.01" in capsys.readouterr().err


def test_a_wrong_gradient_is_a_problem(tmp_path, capsys):
    model = _model(tmp_path, """
        import fastmc
        target = fastmc.Target.from_python(lambda x: (-0.5 * float(x @ x), -3.0 * x), dim=2)
    """)
    assert main(["sample", str(model), "--chains", "2", "--draws", "100", "--warmup", "100", "--seed", "1"]) == 1
    out, err = capsys.readouterr()
    assert "warning: the gradient of Target" in err and "x[1]" in out


def test_a_failing_target_keeps_its_draws_and_exits_1(tmp_path, capsys):
    model = _model(tmp_path, """
        import fastmc
        calls = [0]

        def logp_grad(x):
            calls[0] += 1
            if calls[0] > 3000:
                raise ZeroDivisionError("boom in the model")
            return -0.5 * float(x @ x), -x

        target = fastmc.Target.from_python(logp_grad, dim=2)
    """)
    assert main(["sample", str(model), "--chains", "1", "--draws", "2000", "--warmup", "50", "--seed", "1"]) == 1
    out, err = capsys.readouterr()
    assert "ZeroDivisionError: boom in the model" in err and "the target failed during sampling" in err
    assert "stopped early" in out and "x[1]" in out  # the draws made before the error
    assert len(err) < 2000  # one report, not one per call


@pytest.mark.skipif("interrupted" not in {f.name for f in dataclasses.fields(fastmc.SamplingResult)},
                    reason="the engine does not return interrupted runs yet")
def test_sigint_exits_130_with_a_partial_summary(tmp_path):
    # a Python target slow enough that the run would take minutes; it says when it starts
    model = _model(tmp_path, """
        import sys
        import numpy as np
        import fastmc

        def logp_grad(x):
            s = 0.0
            for _ in range(300):
                s += 1.0
            return -0.5 * float(x @ x), -x

        target = fastmc.Target.from_python(logp_grad, dim=2)
        print("model loaded", file=sys.stderr, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-m", "fastmc", "sample", str(model), "--chains", "2", "--draws",
                             "200000", "--warmup", "100", "--seed", "1", "--no-progress"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().strip() == "model loaded"
        time.sleep(2.0)  # well into sampling
        assert proc.poll() is None, "the run ended before the interrupt"
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        elapsed = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert elapsed < 10
    assert "interrupted" in err
    assert "stopped early" in out and "x[0]" in out  # the partial summary


def _stopped_run(monkeypatch, how):
    """Make fastmc.nuts behave as an interrupted run: the first 50 of 300 draws, then Ctrl-C."""
    import warnings

    real = fastmc.nuts

    def fake(target, x0, n, **kw):
        r = real(target, x0, n, **{**kw, "warn": False})  # a stopped engine run makes no verdict
        r.n_done = np.full(r.n_chains, 50)
        r.draws[:, 50:] = np.nan
        if how == "raise":
            exc = KeyboardInterrupt()
            exc.partial_result = r
            raise exc
        r.interrupted = True
        warnings.warn("interrupted: iterations done per chain [50, 50]", RuntimeWarning)
        return r

    monkeypatch.setattr(fastmc, "nuts", fake)


@pytest.mark.parametrize("how", ["return", "raise"])
def test_an_interrupted_run_exits_130_with_its_draws(tmp_path, monkeypatch, capsys, how):
    # the command line's side of Ctrl-C, whichever way the engine reports it
    _stopped_run(monkeypatch, how)
    model = _model(tmp_path, NORMAL)
    out_file = tmp_path / "part.npz"
    assert main(["sample", str(model), "--chains", "2", "--draws", "300", "--warmup", "100", "--seed", "4",
                 "--output", str(out_file)]) == 130
    out, err = capsys.readouterr()
    assert "the table uses the first 50 draws" in out and list(_table_rows(out)) == ["x[0]", "x[1]", "x[2]"]
    assert "interrupted" in err and "R-hat" not in err  # no verdict on a run cut short
    back = load_npz(out_file)
    assert back.interrupted and back.n_done.tolist() == [50, 50]
    assert main(["summary", str(out_file)]) == 1  # a stored interrupted run is not a clean one
    assert "was interrupted" in capsys.readouterr().err


def test_default_start_points_follow_stan(tmp_path):
    from fastmc.cli import _default_start

    # uniform in (-2, 2), redrawn where the density vanishes (here: the half-space x[0] > 1.5)
    mix = fastmc.GaussianMixture(weights=[1.0], means=[np.zeros(2)], covs=[np.eye(2)])

    class Half:
        dim = 2

        def logpdf(self, x):
            return np.where(x[:, 0] > 1.5, mix.logpdf(x), -np.inf)

    x = _default_start(Half(), 50, seed=3)
    assert x.shape == (50, 2) and np.all(np.abs(x) < 2) and np.all(x[:, 0] > 1.5)
    assert np.array_equal(x, _default_start(Half(), 50, seed=3))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("model_text, args, needle", [
    (None, ["missing.py"], "no such file 'missing.py'"),
    ("x = 1\n", ["model.py"], "does not define `target`"),
    ("target = 3\n", ["model.py"], "must be a fastmc.Target or fastmc.GaussianMixture, got int"),
    ("raise RuntimeError('broken model')\n", ["model.py"], "RuntimeError: broken model"),
    (NORMAL + "    x0 = [1.0, 2.0]\n", ["model.py"], "x0 must have shape"),
    (NORMAL, ["model.py", "--max-treedepth", "5", "--sampler", "hmc"], "--max-treedepth applies to --sampler nuts"),
    (NORMAL, ["model.py", "--scale", "0.5"], "--scale applies to --sampler rwmh"),
    (NORMAL, ["model.py", "--sampler", "hmc", "--warmup", "0"], "--step-size is required"),
    (NORMAL, ["model.py", "--sampler", "hmc", "--n-leapfrog", "3", "--integration-time", "2"],
     "at most one of --n-leapfrog and --integration-time"),
    (NORMAL, ["model.py", "--sampler", "rwmh", "--metric", "diag"], "--metric diag does not apply"),
    (NORMAL, ["model.py", "--output", "draws.txt"], "--output: 'draws.txt' must end in .npz"),
    (NORMAL, ["model.py", "--output", "no/such/dir/draws.npz"], "--output: directory"),
])
def test_bad_sample_input_exits_2(tmp_path, monkeypatch, capsys, model_text, args, needle):
    monkeypatch.chdir(tmp_path)
    if model_text is not None:
        _model(tmp_path, model_text)
    assert main(["sample", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "fastmc sample: error:" in err


@pytest.mark.parametrize("args, needle", [
    (["--chains", "0"], "argument --chains: must be >= 1, got 0"),
    (["--draws", "many"], "argument --draws: expected an integer"),
    (["--target-accept", "1.5"], "argument --target-accept: must be in (0, 1)"),
    (["--step-size", "-1"], "argument --step-size: must be a finite number > 0"),
    (["--seed", "-3"], "argument --seed: must be >= 0"),
    (["--sampler", "gibbs"], "argument --sampler: invalid choice"),
])
def test_bad_options_exit_2_naming_the_option(tmp_path, capsys, args, needle):
    model = _model(tmp_path, NORMAL)
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(model), *args])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


def test_bad_input_through_the_module_entry_point(tmp_path):
    res = _cli("sample", "nowhere.py", cwd=tmp_path)
    assert res.returncode == 2 and "MODEL: no such file 'nowhere.py'" in res.stderr


def test_missing_model_argument_is_named(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sample"])
    assert exc.value.code == 2 and "MODEL.py" in capsys.readouterr().err


# --------------------------------------------------------------------------- summary, resume
def test_summary_of_a_bad_path_exits_2(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "none.npz")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "not.npz").write_text("hello")
    assert main(["summary", str(tmp_path / "not.npz")]) == 2
    assert "is not an .npz file" in capsys.readouterr().err
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    assert main(["summary", str(tmp_path / "other.npz")]) == 2
    assert "no 'draws' array" in capsys.readouterr().err


def test_summary_reports_problems_of_a_stored_run(tmp_path, capsys):
    # 2 chains far apart: the stored run's R-hat is reported again by summary
    draws = np.concatenate([np.zeros((1, 100, 1)), np.ones((1, 100, 1))]) + np.random.default_rng(0).normal(
        0, 0.1, (2, 100, 1))
    r = fastmc.SamplingResult("rwmh", draws, np.zeros((2, 100)), np.ones((2, 100), bool), np.zeros(2, np.int64),
                              0.1, 7, "cpp", {"n_warmup": 0})
    save_npz(r, tmp_path / "r.npz")
    back = load_npz(tmp_path / "r.npz")
    assert np.array_equal(back.draws, draws) and back.seed == 7 and back.settings == {"n_warmup": 0}
    assert main(["summary", str(tmp_path / "r.npz")]) == 1
    out, err = capsys.readouterr()
    assert "x[0]" in out and "R-hat above 1.01" in err


@pytest.mark.skipif(not hasattr(fastmc, "load"), reason="fastmc.load (zarr storage) is not there yet")
def test_summary_of_a_zarr_store(tmp_path):
    pytest.importorskip("zarr")
    model = _model(tmp_path, NORMAL)
    res = _cli("sample", model, "--chains", 2, "--draws", 300, "--warmup", 200, "--seed", 2, "--store", "run.zarr",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    again = _cli("summary", "run.zarr", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _table_rows(again.stdout) == _table_rows(res.stdout)


@pytest.mark.skipif(not hasattr(fastmc, "resume"), reason="fastmc.resume (zarr storage) is not there yet")
def test_resume_a_zarr_store(tmp_path):
    pytest.importorskip("zarr")
    model = _model(tmp_path, NORMAL)
    res = _cli("sample", model, "--chains", 2, "--draws", 300, "--warmup", 200, "--seed", 2, "--store", "run.zarr",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    again = _cli("resume", "run.zarr", cwd=tmp_path)
    assert again.returncode in (0, 1), again.stderr
    assert list(_table_rows(again.stdout)) == ["x[0]", "x[1]", "x[2]"]


def test_missing_store_features_are_reported(tmp_path, capsys):
    model = _model(tmp_path, NORMAL)
    if not hasattr(fastmc, "resume"):
        assert main(["resume", str(tmp_path / "run.zarr")]) == 2
        assert "no fastmc.resume" in capsys.readouterr().err
    if "store" not in __import__("inspect").signature(fastmc.nuts).parameters:
        assert main(["sample", str(model), "--store", str(tmp_path / "run.zarr")]) == 2
        assert "--store" in capsys.readouterr().err


# --------------------------------------------------------------------------- --version, --help
def test_version(tmp_path):
    res = _cli("--version", cwd=tmp_path)
    assert res.returncode == 0
    assert res.stdout.strip() == f"fastmc {metadata.version('fastmc')}"


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^    (\w+) ", out, flags=re.MULTILINE)  # continuation lines are indented further
    assert listed == list(SUBCOMMANDS), out
    assert "Exit codes" in out


def test_unknown_subcommand_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["smaple", "model.py"])
    assert exc.value.code == 2
    assert "invalid choice: 'smaple'" in capsys.readouterr().err


# --------------------------------------------------------------------------- the demo
def test_demo_prints_every_diagnostic():
    out = io.StringIO()
    assert demo(["--rwmh-samples", "20000", "--hmc-samples", "2000", "--seed", "3"], out=out) == 0
    text = out.getvalue()
    for needle in ("RWMH", "HMC", "acceptance rate", "exact", "ESS bulk", "ESS tail", "R-hat", "draws / s",
                   "wall time", "min bulk ESS / s"):
        assert needle in text, needle
    # the printed exact mean is the mixture's
    assert "0.2000" in text and "0.9000" in text


def test_module_entry_point_runs_the_demo(tmp_path):
    res = _cli("--rwmh-samples", "2000", "--hmc-samples", "200", cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "HMC" in res.stdout and "ESS bulk" in res.stdout


def test_bad_demo_argument_is_reported(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--backend", "gpu"])
    assert exc.value.code == 2 and "--backend" in capsys.readouterr().err


def test_vae_subcommand_reports_a_missing_data_directory(tmp_path, capsys):
    assert main(["vae", "--data", str(tmp_path / "missing"), "--epochs", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
