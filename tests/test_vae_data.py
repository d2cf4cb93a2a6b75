"""IDX/MNIST loader: round trips, gzip detection, clear errors for missing or malformed files."""
import os

# Before NumPy loads its BLAS: these matrices are small, and BLAS threads only add synchronisation
# (on a shared 2-core machine they made the suite ~30x slower). An explicit setting is respected.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import gzip
import os

import numpy as np
import pytest

from fastmc.vae.data import load_mnist, read_idx, write_idx

# FASTMC_MNIST_DIR overrides the location (point it at a missing folder to test the fallback)
MNIST_DIR = os.environ.get(
    "FASTMC_MNIST_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
)
HAVE_MNIST = os.path.isdir(MNIST_DIR)


def write_fake_mnist(directory, n_train=60, n_test=20, side=8, seed=0, compress=True):
    """A tiny MNIST-shaped data set in IDX files (gzip or not)."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    ext = ".gz" if compress else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte{ext}"), imgs)
        write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte{ext}"), labels)
    return directory


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, compress, dtype):
    a = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    p = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(p, a)
    with open(p, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == compress
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_load_fake_mnist(tmp_path):
    for compress in (True, False):
        d = write_fake_mnist(str(tmp_path / f"m{compress}"), compress=compress)
        tr, te, ltr, lte = load_mnist(d, labels=True)
        assert tr.shape == (60, 64) and te.shape == (20, 64) and tr.dtype == np.float32
        assert 0 <= tr.min() and tr.max() <= 1 and ltr.shape == (60,) and lte.shape == (20,)
        raw = read_idx(os.path.join(d, "train-images-idx3-ubyte" + (".gz" if compress else "")))
        np.testing.assert_array_equal(tr * 255, raw.reshape(60, -1).astype(np.float32))


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory"):
        load_mnist(str(tmp_path / "nope"))


def test_missing_file(tmp_path):
    d = write_fake_mnist(str(tmp_path / "m"))
    os.remove(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(d)


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_idx(tmp_path, compress):
    d = write_fake_mnist(str(tmp_path / "m"), compress=False)
    p = os.path.join(d, "train-images-idx3-ubyte")
    with open(p, "rb") as f:
        raw = f.read()
    raw = raw[:-10]
    if compress:
        os.remove(p)
        p += ".gz"
        raw = gzip.compress(raw)
    with open(p, "wb") as f:
        f.write(raw)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(p)
    with pytest.raises(ValueError, match="path"):
        load_mnist(d)


def test_truncated_gzip_stream(tmp_path):
    p = tmp_path / "a.gz"
    write_idx(p, np.zeros((5, 4, 4), np.uint8))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(p)


def test_bad_magic_and_extra_bytes(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(p)
    q = tmp_path / "long"
    write_idx(q, np.zeros((2, 2), np.uint8))
    q.write_bytes(q.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="longer"):
        read_idx(q)


def test_wrong_kind_of_array(tmp_path):
    d = write_fake_mnist(str(tmp_path / "m"))
    write_idx(os.path.join(d, "train-images-idx3-ubyte.gz"), np.zeros((4, 64), np.uint8))  # 2-D
    with pytest.raises(ValueError, match="3-D uint8"):
        load_mnist(d)


@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST not found at {MNIST_DIR} (only the synthetic IDX tests run)")
def test_real_mnist():
    tr, te, ltr, lte = load_mnist(MNIST_DIR, labels=True)
    assert tr.shape == (60000, 784) and te.shape == (10000, 784)
    assert tr.min() == 0 and tr.max() == 1
    # label counts documented in shared/data/README.md
    np.testing.assert_array_equal(np.bincount(ltr), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    np.testing.assert_array_equal(np.bincount(lte), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
