"""Bad input raises a clear error naming the argument, before any work is done."""
import os
import warnings

# Before NumPy loads its BLAS: these matrices are small, and BLAS threads only add synchronisation
# (on a shared 2-core machine they made the suite ~30x slower). An explicit setting is respected.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import pytest

from fastmc.vae import VAE
from fastmc.vae.cli import main as cli_main
from fastmc.vae.train import train


@pytest.fixture
def model():
    return VAE(n_visible=16, hidden=(8,), n_latent=3, seed=0)


def _x(n=10, d=16):
    return np.random.default_rng(0).random((n, d))


BOUNDS = [
    lambda m, x: m.elbo(x),
    lambda m, x: m.iwae_bound(x, 3),
    lambda m, x: m.log_likelihood(x, 10),
    lambda m, x: m.encode(x),
]


@pytest.mark.parametrize("f", BOUNDS)
def test_images_outside_unit_interval(model, f):
    for bad in (1.5, -0.1):
        x = _x()
        x[3, 4] = bad
        with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
            f(model, x)


@pytest.mark.parametrize("f", BOUNDS)
def test_wrong_feature_size(model, f):
    with pytest.raises(ValueError, match=r"x must have shape \(n, 16\)"):
        f(model, _x(d=15))
    with pytest.raises(ValueError, match="x must have shape"):
        f(model, _x()[0])  # 1-D


@pytest.mark.parametrize("f", BOUNDS)
def test_non_finite_and_non_numeric(model, f):
    x = _x()
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        f(model, x)
    with pytest.raises(TypeError, match="x must be a numeric array"):
        f(model, np.array([["a"] * 16]))


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one(model, k):
    for f in (lambda: model.iwae_bound(_x(), k), lambda: model.log_likelihood(_x(), k),
              lambda: model.elbo(_x(), k), lambda: train(model, _x(), k=k)):
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            f()


def test_k_not_integer(model):
    for k in (2.5, "5", True):
        with pytest.raises(TypeError, match="k must be an integer"):
            model.iwae_bound(_x(), k)


def _unchanged(model, before):
    return all(np.array_equal(before[n], model.params[n]) for n in before)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
        (dict(batch_size=-5), ValueError, "batch_size"),
        (dict(batch_size=2.0), TypeError, "batch_size"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(objective="vae"), ValueError, "objective must be one of"),
        (dict(lr=-1.0), ValueError, "lr must be positive"),
        (dict(lr=[1e-3]), ValueError, "lr: a per-epoch schedule"),
        (dict(eval_k=0), ValueError, "eval_k"),
        (dict(callback=3), TypeError, "callback must be callable"),
    ],
)
def test_bad_training_arguments_fail_before_work(model, kwargs, exc, match):
    before = {n: v.copy() for n, v in model.params.items()}
    args = dict(epochs=2)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        train(model, _x(), **args)
    assert _unchanged(model, before)


def test_bad_training_data_fails_before_work(model):
    before = {n: v.copy() for n, v in model.params.items()}
    bad = _x()
    bad[-1, -1] = 2.0  # last row: a check done lazily per batch would already have trained
    with pytest.raises(ValueError, match=r"data must have values in \[0, 1\]"):
        train(model, bad, epochs=1, batch_size=1)
    with pytest.raises(ValueError, match="test_data must have shape"):
        train(model, _x(), epochs=1, test_data=_x(d=4))
    with pytest.raises(TypeError, match="model must be a fastmc.vae.VAE"):
        train("model", _x())
    assert _unchanged(model, before)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="n_latent"):
        VAE(n_latent=0)
    with pytest.raises(ValueError, match="hidden"):
        VAE(hidden=(10, 0))
    with pytest.raises(ValueError, match="activation"):
        VAE(activation="sigmoid")
    with pytest.raises(ValueError, match="likelihood"):
        VAE(likelihood="poisson")
    with pytest.raises(TypeError, match="dtype"):
        VAE(dtype=np.int32)


def test_bad_eps_and_z_shapes(model):
    with pytest.raises(ValueError, match="eps must have shape"):
        model.iwae_bound(_x(), 2, eps=np.zeros((3, 10, 3)))
    with pytest.raises(ValueError, match="z must have shape"):
        model.sleep_objective_and_grad(_x(), np.zeros((10, 2)))


def test_gaussian_model_accepts_any_real_x():
    m = VAE(n_visible=4, hidden=(), n_latent=2, likelihood="gaussian", seed=0)
    assert np.isfinite(m.iwae_bound(np.array([[-3.0, 5.0, 0.5, 10.0]]), 2, rng=0)).all()


def test_cli_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory"):
        cli_main(["--data", str(tmp_path / "nothing"), "--epochs", "1"])
    with pytest.raises(SystemExit, match="--k must be >= 1"):
        cli_main(["--data", str(tmp_path), "--k", "0"])
    with pytest.raises(SystemExit, match="--batch-size must be >= 1"):
        cli_main(["--data", str(tmp_path), "--batch-size", "0"])


# -- fuzzing findings: the command line checks its arguments and output paths before any work ------


def _fake_mnist(directory):
    from fastmc.vae.data import write_idx

    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 10)):
        write_idx(directory / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 4, 4), dtype=np.uint8))
    return str(directory)


@pytest.mark.parametrize("option", ["--save", "--png"])
def test_cli_output_path_checked_before_work(tmp_path, option):
    """D8: an output into a missing directory failed only after training, losing the model."""
    missing = tmp_path / "no_such_dir" / "out.npz"
    # a missing data directory too: the output path must be refused before the data are even read
    with pytest.raises(SystemExit, match=f"{option}: directory .*no_such_dir.* does not exist"):
        cli_main(["--data", str(tmp_path / "no_data"), option, str(missing)])
    with pytest.raises(SystemExit, match=f"{option}: .* is a directory"):
        cli_main(["--data", str(tmp_path / "no_data"), option, str(tmp_path)])


@pytest.mark.parametrize(
    "args,match",
    [
        (["--lr", "inf"], "--lr must be a positive finite number"),
        (["--lr", "nan"], "--lr must be a positive finite number"),
        (["--lr", "0"], "--lr must be a positive finite number"),
        (["--n-test", "-9990"], "--n-test must be >= 1"),
        (["--n-test", "0"], "--n-test must be >= 1"),
        (["--seed", "-1"], "--seed must be >= 0"),
        (["--hidden", "8", "0"], "--hidden sizes must be >= 1"),
    ],
)
def test_cli_bad_numbers_fail_before_work(tmp_path, args, match):
    """D19: --lr inf printed NaN bounds and exited 0; --n-test -9990 quietly evaluated 10 images."""
    with pytest.raises(SystemExit, match=match):
        cli_main(["--data", str(tmp_path / "no_data")] + args)


def test_cli_diverged_training_exits_with_error(tmp_path, capsys):
    """D19: a run whose objective becomes NaN stops with a clear error (non-zero exit), saving nothing."""
    d = _fake_mnist(tmp_path)
    out = tmp_path / "m.npz"
    with warnings.catch_warnings(), pytest.raises(SystemExit, match="training diverged") as exc:
        warnings.simplefilter("error")
        cli_main(["--data", d, "--hidden", "8", "--latent", "2", "--epochs", "2", "--batch-size", "10",
                  "--lr", "1e30", "--schedule", "constant", "--eval-k", "1", "--save", str(out)])
    assert exc.value.code not in (0, None)
    assert not out.exists()
    assert "test bounds" not in capsys.readouterr().out


@pytest.mark.parametrize("objective", ["elbo", "iwae", "wake-sleep"])
def test_train_stops_when_objective_diverges(model, objective):
    """One FloatingPointError, and none of the overflow warnings NumPy raises on the way there."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match=f"the {objective} objective is"):
            train(model, _x(40), objective=objective, k=2, epochs=3, batch_size=10, lr=1e30)


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), [1e-3, float("inf")]])
def test_train_rejects_non_finite_lr(model, lr):
    with pytest.raises(ValueError, match="lr"):
        train(model, _x(), epochs=2, lr=lr)


# -- fuzzing finding D18: loading a damaged model file gives a ValueError naming the file ---------


def _damaged_files(tmp_path):
    import json
    import re

    good = tmp_path / "good.npz"
    VAE(n_visible=6, hidden=(4,), n_latent=2, seed=0).save(good)
    raw = good.read_bytes()
    files = {}

    def put(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        files[name] = p

    put("truncated.npz", raw[: len(raw) // 2])
    put("empty.npz", b"")
    put("text.npz", b"not a model")
    flipped = bytearray(raw)
    flipped[len(flipped) // 2] ^= 0xFF
    put("flipped.npz", bytes(flipped))
    np.save(tmp_path / "array.npy", np.zeros(3))
    files["array.npy"] = tmp_path / "array.npy"
    np.savez(tmp_path / "badcfg.npz", __config__=np.array(json.dumps({"no_such_argument": 1})))
    files["badcfg.npz"] = tmp_path / "badcfg.npz"
    m = VAE(n_visible=6, hidden=(4,), n_latent=2, seed=0)
    m.params["enc_0_W"][0, 0] = np.nan
    m.save(tmp_path / "nan.npz")
    files["nan.npz"] = tmp_path / "nan.npz"
    sub = tmp_path / "a_directory"
    sub.mkdir()
    files["directory"] = sub
    return files, re.escape


def test_load_damaged_files_raise_value_error_naming_the_file(tmp_path):
    files, escape = _damaged_files(tmp_path)
    for name, path in files.items():
        with pytest.raises(ValueError, match=escape(str(path))):
            VAE.load(path)
    with pytest.raises(ValueError, match="non-finite"):
        VAE.load(files["nan.npz"])
    with pytest.raises(FileNotFoundError):
        VAE.load(tmp_path / "missing.npz")
