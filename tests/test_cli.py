"""The main job: `fastmc` / `python -m fastmc` samples T1 and prints diagnostics."""
import io
import subprocess
import sys


from fastmc.cli import demo


def test_demo_prints_every_diagnostic():
    out = io.StringIO()
    assert demo(["--rwmh-samples", "20000", "--hmc-samples", "2000", "--seed", "3"], out=out) == 0
    text = out.getvalue()
    for needle in ("RWMH", "HMC", "acceptance rate", "exact", "ESS bulk", "ESS tail", "R-hat", "draws / s",
                   "wall time", "min bulk ESS / s"):
        assert needle in text, needle
    # the printed exact mean is the mixture's
    assert "0.2000" in text and "0.9000" in text


def test_module_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "fastmc", "--rwmh-samples", "2000", "--hmc-samples", "200"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "HMC" in res.stdout and "ESS bulk" in res.stdout


def test_bad_cli_argument_is_reported():
    res = subprocess.run([sys.executable, "-m", "fastmc", "--backend", "gpu"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "--backend" in res.stderr


def test_vae_subcommand_reports_a_missing_data_directory(tmp_path, capsys):
    from fastmc.cli import main

    assert main(["vae", "--data", str(tmp_path / "missing"), "--epochs", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
