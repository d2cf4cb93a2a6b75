"""Training: it improves the held-out bound for every objective, is reproducible from a seed,
and a saved model reloads exactly. Uses ../shared/data/mnist when present, else a small IDX set."""
import os

# Before NumPy loads its BLAS: these matrices are small, and BLAS threads only add synchronisation
# (on a shared 2-core machine they made the suite ~30x slower). An explicit setting is respected.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np
import pytest

from fastmc.vae import VAE, paired_se
from fastmc.vae.data import binarize, load_mnist, write_idx
from fastmc.vae.optim import Adam
from fastmc.vae.train import EpochInfo, evaluate_bound, paper_schedule, short_schedule, train

# FASTMC_MNIST_DIR overrides the location (point it at a missing folder to test the fallback)
MNIST_DIR = os.environ.get(
    "FASTMC_MNIST_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
)
HAVE_MNIST = os.path.isdir(MNIST_DIR)


def _write_structured_idx(directory, seed=0):
    """Blobby 16x16 'digits': 10 prototypes plus pixel noise, written as gzipped IDX files."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16]
    protos = []
    for _ in range(10):
        img = np.zeros((16, 16))
        for _ in range(3):
            cy, cx, r = rng.uniform(3, 13), rng.uniform(3, 13), rng.uniform(1.5, 3.5)
            img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        protos.append(np.clip(img, 0, 1))
    protos = np.array(protos)
    os.makedirs(directory, exist_ok=True)
    for split, n in (("train", 3000), ("t10k", 500)):
        lab = rng.integers(0, 10, n)
        imgs = np.clip(protos[lab] + rng.normal(0, 0.1, (n, 16, 16)), 0, 1)
        write_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz"), (imgs * 255).astype(np.uint8))
        write_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz"), lab.astype(np.uint8))
    return directory


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(train intensities, fixed binarised test images); MNIST subset or the synthetic set."""
    if HAVE_MNIST:
        tr, te = load_mnist(MNIST_DIR)
    else:
        tr, te = load_mnist(_write_structured_idx(str(tmp_path_factory.mktemp("idx"))))
    return tr[:3000], binarize(te[:300], np.random.default_rng(99))


def _model(d, seed=0):
    return VAE(n_visible=d, hidden=(100, 100), n_latent=20, seed=seed)


@pytest.mark.parametrize("objective,k", [("elbo", 1), ("iwae", 5), ("wake-sleep", 1)])
def test_training_improves_test_bound(data, objective, k):
    tr, te = data
    m = _model(tr.shape[1])
    before = m.iwae_bound(te, 5, rng=1)
    seen = []
    hist = train(m, tr, objective=objective, k=k, epochs=3, batch_size=50, seed=0, test_data=te[:100],
                 eval_k=1, callback=seen.append)
    after = m.iwae_bound(te, 5, rng=1)
    d, se = paired_se(after, before)
    assert d > 3 * se and d > 0, (d, se)
    assert len(hist) == 3 and seen == hist and all(isinstance(h, EpochInfo) for h in hist)
    assert all(np.isfinite(h.test_bound) and h.seconds > 0 for h in hist)


def test_trained_model_l5000_exceeds_l1(data):
    tr, te = data
    m = _model(tr.shape[1])
    m.set_output_bias(tr.mean(axis=0))
    train(m, tr, objective="elbo", epochs=3, batch_size=50, seed=0)
    x = te[:40]
    l1 = evaluate_bound(m, x, 1, seed=3)
    l5000 = evaluate_bound(m, x, 5000, seed=4)
    _assert_clearly_larger(l5000, l1)


def _assert_clearly_larger(a, b):
    """Paired test that a > b: the mean difference is positive and a sign test rejects "no
    difference" at 3 sigma. L_1 has a heavy lower tail (one bad z can cost 1000 nats), which can
    inflate the standard error of the mean difference, while the sign test is immune to it."""
    d = np.asarray(a) - np.asarray(b)
    n = d.size
    assert d.mean() > 0, paired_se(a, b)
    assert (d > 0).sum() > n / 2 + 3 * np.sqrt(n / 4), ((d > 0).sum(), n)


@pytest.mark.parametrize("objective", ["elbo", "iwae", "wake-sleep"])
def test_seed_reproduces_training_exactly(data, objective):
    tr, _ = data
    tr = tr[:1000]
    runs = []
    for seed in (5, 5, 6):
        m = _model(tr.shape[1], seed=0)
        train(m, tr, objective=objective, k=2, epochs=2, batch_size=100, seed=seed)
        runs.append(m.params)
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])
    assert any(not np.array_equal(runs[0][n], runs[2][n]) for n in runs[0])  # the seed matters


def test_save_load_exact(data, tmp_path):
    tr, te = data
    m = _model(tr.shape[1])
    train(m, tr[:1000], objective="iwae", k=3, epochs=1, seed=0)
    p = tmp_path / "m.npz"
    m.save(p)
    m2 = VAE.load(p)
    assert m2.config() == m.config()
    for name in m.params:
        assert m2.params[name].dtype == m.params[name].dtype
        np.testing.assert_array_equal(m2.params[name], m.params[name])
    for k in (1, 50):
        np.testing.assert_array_equal(m2.iwae_bound(te, k, rng=8), m.iwae_bound(te, k, rng=8))
    np.testing.assert_array_equal(m2.elbo(te, rng=8), m.elbo(te, rng=8))


def test_save_load_float64_gaussian(tmp_path):
    m = VAE(n_visible=5, hidden=(4,), n_latent=2, likelihood="gaussian", dtype=np.float64, seed=3)
    m.params["dec_log_sigma"][...] = -0.3
    m.save(tmp_path / "g.npz")
    m2 = VAE.load(tmp_path / "g.npz")
    x = np.random.default_rng(0).normal(size=(7, 5))
    np.testing.assert_array_equal(m2.iwae_bound(x, 4, rng=1), m.iwae_bound(x, 4, rng=1))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        VAE.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastmc.vae model"):
        VAE.load(tmp_path / "other.npz")


def test_schedules():
    lrs = paper_schedule(3, 1e-3)
    assert len(lrs) == 1 + 3 + 9
    np.testing.assert_allclose(lrs[0], 1e-3)
    np.testing.assert_allclose(lrs[1:4], 1e-3 * 10 ** (-1 / 7))
    np.testing.assert_allclose(lrs[4:], 1e-3 * 10 ** (-2 / 7))
    assert short_schedule(30, 6) == [1e-3] * 24 + [1e-4] * 6


def test_adam_first_step_and_fused_kernel_match_reference():
    """After one step Adam moves each parameter by lr * g / (|g| + eps) (bias-corrected moments)."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        p = {"w": rng.normal(size=(30, 7)).astype(dtype), "b": rng.normal(size=5).astype(dtype)}
        p0 = {k: v.copy() for k, v in p.items()}
        g = {k: rng.normal(size=v.shape).astype(dtype) for k, v in p.items()}
        opt = Adam(p, lr=1e-2, eps=1e-4)
        opt.step(g)
        for k in p:
            ref = p0[k] + 1e-2 * g[k] / (np.abs(g[k]) + 1e-4)
            np.testing.assert_allclose(p[k], ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
        # later steps: compare with a plain NumPy reference implementation
        m = {k: 0.1 * g[k] for k in p}
        v = {k: 0.001 * g[k] ** 2 for k in p}
        ref = {k: x.copy() for k, x in p.items()}
        g2 = {k: rng.normal(size=x.shape).astype(dtype) for k, x in p.items()}
        opt.step(g2)
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * g2[k]
            v[k] = 0.999 * v[k] + 0.001 * g2[k] ** 2
            mh, vh = m[k] / (1 - 0.9**2), v[k] / (1 - 0.999**2)
            np.testing.assert_allclose(p[k], ref[k] + 1e-2 * mh / (np.sqrt(vh) + 1e-4),
                                       rtol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST not found at {MNIST_DIR}")
def test_default_architecture_one_epoch_mnist():
    """The Burda et al. architecture, one IWAE(k=5) epoch on all of MNIST: bounds ordered and improved."""
    tr, te = load_mnist(MNIST_DIR)
    te = binarize(te[:200], np.random.default_rng(1))
    m = VAE(seed=0)
    before = m.iwae_bound(te, 5, rng=2)
    train(m, tr, objective="iwae", k=5, epochs=1, seed=0)
    ls = {k: evaluate_bound(m, te, k, seed=k) for k in (1, 5, 50, 5000)}
    d, se = paired_se(ls[5], before)
    assert d > 3 * se
    for a, b in ((1, 5), (5, 50), (50, 5000)):
        d, se = paired_se(ls[b], ls[a])
        assert d > -3 * se
    _assert_clearly_larger(ls[5000], ls[1])
