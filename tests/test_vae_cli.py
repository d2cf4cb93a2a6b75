"""End-to-end command line on a small IDX data set the test writes itself."""
import os

# Before NumPy loads its BLAS: these matrices are small, and BLAS threads only add synchronisation
# (on a shared 2-core machine they made the suite ~30x slower). An explicit setting is respected.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import importlib.util
import os

import numpy as np
import pytest

from fastmc.vae import VAE
from fastmc.vae.cli import main
from fastmc.vae.data import write_idx


def _fake_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 30)):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 6, 6), dtype=np.uint8))
    return str(tmp_path)


def test_cli_trains_and_prints_table(tmp_path, capsys):
    d = _fake_dir(tmp_path)
    out_model = tmp_path / "m.npz"
    png = tmp_path / "fig.png"
    rc = main(["--objective", "iwae", "--k", "5", "--epochs", "2", "--data", d, "--hidden", "12", "--latent", "3",
               "--eval-k", "1", "5", "50", "--save", str(out_model), "--png", str(png)])
    assert rc == 0
    out, err = capsys.readouterr()
    for k in (1, 5, 50):
        assert f"L_{k}" in out
    assert "epoch    2/2" in err  # the progress bar
    m = VAE.load(out_model)
    assert m.n_visible == 36 and m.hidden == (12,) and m.n_latent == 3
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.exists() and png.stat().st_size > 0
    else:
        assert "matplotlib is not installed" in err


@pytest.mark.parametrize("objective", ["elbo", "wake-sleep"])
def test_cli_objectives(tmp_path, capsys, objective):
    d = _fake_dir(tmp_path)
    assert main(["--objective", objective, "--k", "1", "--epochs", "1", "--data", d, "--hidden", "8",
                 "--latent", "2", "--eval-k", "1", "5", "--quiet", "--schedule", "constant"]) == 0
    out = capsys.readouterr().out
    assert f"test bounds ({objective}" in out and "L_5" in out
