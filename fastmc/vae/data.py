"""MNIST (and any IDX file) loader: the standard IDX format, gzip or not."""
from __future__ import annotations

import gzip
import math
import os

import numpy as np

__all__ = ["read_idx", "write_idx", "load_mnist", "binarize"]

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path):
    """Read an IDX file (LeCun's MNIST format); gzip is detected from the content.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        Array with the file's shape and dtype (native byte order).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a valid IDX file (bad magic, truncated, extra bytes).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: IDX file {path!r} does not exist")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"path: {path!r} is a corrupt or truncated gzip file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"path: {path!r} is not an IDX file (bad magic number {raw[:4]!r})")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"path: {path!r} has a truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: dimensions up to 2^32 - 1 never wrap
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(
            f"path: {path!r} is {what}: header shape {shape} needs {expected} bytes, file has {len(raw)}"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path, array, compress=None):
    """Write an array as an IDX file (used by tests to make small data sets).

    Parameters
    ----------
    path : str or os.PathLike
    array : ndarray
        uint8, int8, int16, int32, float32 or float64 data.
    compress : bool, optional
        gzip the file; default: if ``path`` ends in ``.gz``.

    Raises
    ------
    TypeError
        For a dtype IDX cannot hold.
    ValueError
        For a 0-d array (IDX needs 1 to 255 dimensions, so :func:`read_idx` could not read it
        back) or a dimension beyond 2^32 - 1.
    """
    array = np.asarray(array)
    code = {np.dtype(v).newbyteorder("="): c for c, v in _IDX_DTYPES.items()}.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"array: unsupported dtype {array.dtype} for IDX")
    # the format stores 1 to 255 dimensions of at most 2^32 - 1 each (read_idx rejects the rest)
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array must have 1 to 255 dimensions for IDX, got {array.ndim}")
    if max(array.shape) > 2**32 - 1:
        raise ValueError(f"array: IDX dimensions are at most 2**32 - 1, got shape {array.shape}")
    body = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    body += np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    path = os.fspath(path)
    if compress is None:
        compress = path.endswith(".gz")
    with open(path, "wb") as f:
        f.write(gzip.compress(body) if compress else body)


def _find(directory, stem):
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"directory: {directory!r} has no {stem}[.gz] (the standard MNIST file name)")


def load_mnist(directory, labels=False):
    """Load MNIST from the IDX files in ``directory``.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder with ``train-images-idx3-ubyte[.gz]`` and
        ``t10k-images-idx3-ubyte[.gz]`` (and the label files if ``labels``).
    labels : bool, optional
        Also return the labels.

    Returns
    -------
    train, test : ndarray, float32, shape (N, rows * cols)
        Pixel intensities scaled to [0, 1].
    train_labels, test_labels : ndarray, int64, shape (N,)
        Only if ``labels``.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"directory: data directory {directory!r} does not exist")
    out = []
    for split in ("train", "test"):
        img = read_idx(_find(directory, _MNIST_FILES[split + "_images"]))
        if img.ndim != 3 or img.dtype != np.uint8:
            raise ValueError(
                f"directory: {split} images must be a 3-D uint8 IDX array, got shape {img.shape} {img.dtype}"
            )
        out.append((img.reshape(img.shape[0], -1).astype(np.float32) / np.float32(255)))
    if labels:
        for split, imgs in zip(("train", "test"), list(out)):
            lab = read_idx(_find(directory, _MNIST_FILES[split + "_labels"]))
            if lab.shape != (imgs.shape[0],):
                raise ValueError(f"directory: {split} labels have shape {lab.shape}, expected ({imgs.shape[0]},)")
            out.append(lab.astype(np.int64))
    return tuple(out)


def binarize(x, rng, dtype=None):
    """Dynamic binarisation: each pixel is 1 with probability its intensity.

    Parameters
    ----------
    x : ndarray, shape (n, D)
        Intensities in [0, 1].
    rng : numpy.random.Generator
    dtype : numpy dtype, optional
        Output dtype; default ``x.dtype``.

    Returns
    -------
    ndarray, shape (n, D)
        Values in {0, 1}.
    """
    u = rng.random(x.shape, dtype=np.float32)
    return (u < x).astype(x.dtype if dtype is None else dtype)
