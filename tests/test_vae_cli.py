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
               "--eval-k", "1", "5", "50", "--save", str(out_model), "--png", str(png), "--progress"])
    assert rc == 0
    out, err = capsys.readouterr()
    for k in (1, 5, 50):
        assert f"L_{k}" in out
    # the forced bar: each epoch's line ends at its 2 minibatches, with the bound and the held-out one
    last = [line.split("\r")[-1] for line in err.splitlines() if "epoch 2/2" in line]
    assert last and "2/2" in last[-1].split("epoch 2/2", 1)[1] and "L_5 " in last[-1] and "test L_1" in last[-1]
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


def test_progress_is_off_when_not_a_terminal(tmp_path, capsys):
    d = _fake_dir(tmp_path)
    assert main(["--epochs", "1", "--data", d, "--hidden", "4", "--latent", "2", "--eval-k", "1"]) == 0
    assert "epoch 1/1" not in capsys.readouterr().err  # stderr is captured here, not a terminal


def test_the_bar_advances_every_minibatch(tmp_path):
    """What `fastmc vae` draws per minibatch: the running objective, then the epoch's figures."""
    import io

    from fastmc.vae import train
    from fastmc.vae.cli import TrainingProgress

    rng = np.random.default_rng(1)
    x = (rng.random((50, 9)) > 0.5).astype(np.float64)
    calls = []
    stream = io.StringIO()
    bar = TrainingProgress(2, "elbo", 1, stream=stream)

    def on_batch(*a):
        calls.append(a)
        bar.batch(*a)

    hist = train(VAE(n_visible=9, hidden=(4,), n_latent=2, seed=0), x, epochs=2, batch_size=20, seed=0,
                 callback=bar.epoch, batch_callback=on_batch)
    # 50 images in batches of 20: 3 minibatches per epoch; the last running mean is the epoch's
    assert [(e, b, n) for e, b, n, _ in calls] == [(1, 1, 3), (1, 2, 3), (1, 3, 3), (2, 1, 3), (2, 2, 3), (2, 3, 3)]
    assert calls[2][3] == pytest.approx(hist[0].train_objective) and calls[5][3] == pytest.approx(hist[1].train_objective)
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and f"ELBO {hist[1].train_objective:.3f}" in text


def test_bad_vae_input_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(tmp_path), "--k", "0"])
    assert exc.value.code == 2 and "--k must be >= 1" in capsys.readouterr().err
