"""Speed of fastmc.vae against PyTorch (same model, same thread count, batch 100, Adam), measured in the same run.

What is timed (then scaled linearly, as stated in the table):

* training: ``train()`` for one pass over a slice of MNIST (6000 images for k=1, 3000 for k=5,
  500 for k=50), including shuffling, dynamic binarisation, noise and the Adam step; scaled to
  60,000 images. PyTorch does the same work with autograd and ``torch.optim.Adam``.
* ``L_5000``: on 20 test images, scaled to 1000.

Each figure is the minimum over ``ROUNDS`` repetitions (the machine is shared). The arithmetic floor
is the matrix-multiply FLOP count divided by this machine's SGEMM rate measured here at the same
thread count.

Thread count: ``OPENBLAS_NUM_THREADS`` (with OMP/MKL) for fastmc's BLAS and ``torch.set_num_threads``
for PyTorch; 1 unless set. BLAS fixes its thread count when NumPy is imported, so the 2-thread table
is measured in a child process started with the variables set to 2.
PyTorch is measured only when ``import torch`` works (CPU build: ``pip install torch==2.13.0``); the
comparison is skipped otherwise, with the reason printed.

Run either as a benchmark suite (1 thread; ``test_summary_table_2_threads`` adds the 2-thread table)
or as a script that prints the tables for 1 and 2 threads (``--threads 1`` for one of them)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m pytest bench/bench_vae.py -s
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 python bench/bench_vae.py [--threads 1,2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # before NumPy/BLAS start their thread pools

THREADS = int(os.environ["OPENBLAS_NUM_THREADS"])

import numpy as np  # noqa: E402
import pytest  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from fastmc.vae import VAE  # noqa: E402
from fastmc.vae.data import binarize, load_mnist  # noqa: E402
from fastmc.vae.train import train  # noqa: E402

MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "mnist")
ROUNDS = 3
N_TRAIN = {1: 6000, 5: 3000, 50: 500}
N_LL, K_LL = 20, 5000
EPOCH, LL_IMAGES = 60000, 1000
# PyTorch figures quoted in issue 4 (1 thread), used only for context when torch is unavailable
ISSUE_TORCH = {"k=1": 3.4, "k=5": 8.0, "k=50": 70.0, "L_5000": 75.0}
GOALS = {"k=1": 0.8, "k=5": 0.8, "k=50": 1.1, "L_5000": 0.5}

try:
    import torch

    TORCH_ERROR = None
except Exception as exc:  # ImportError, or a broken install
    torch = None
    TORCH_ERROR = f"{type(exc).__name__}: {exc}"


def _data():
    if os.path.isdir(MNIST_DIR):
        tr, te = load_mnist(MNIST_DIR)
        src = "MNIST"
    else:  # timings depend on shapes, not pixel values
        rng = np.random.default_rng(0)
        tr, te = rng.random((10000, 784), dtype=np.float32), rng.random((1000, 784), dtype=np.float32)
        src = f"random images (no MNIST at {MNIST_DIR})"
    return tr, binarize(te[:N_LL], np.random.default_rng(0)), src


TRAIN, TEST, DATA_SOURCE = _data()


# -- fastmc -------------------------------------------------------------------


def fastmc_epoch(k):
    """Seconds for one training pass over N_TRAIN[k] images."""
    m = VAE(seed=0)
    x = TRAIN[: N_TRAIN[k]]
    t0 = time.perf_counter()
    train(m, x, objective="elbo" if k == 1 else "iwae", k=k, epochs=1, batch_size=100, seed=0)
    return time.perf_counter() - t0


def fastmc_ll():
    m = VAE(seed=0)
    t0 = time.perf_counter()
    m.log_likelihood(TEST, K_LL, rng=0)
    return time.perf_counter() - t0


# -- PyTorch (the same model and training loop) ------------------------------------


def _torch_model():
    nn = torch.nn
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh())
    heads = nn.Linear(200, 100)  # mean and log-variance
    dec = nn.Sequential(nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784))
    return enc, heads, dec


def _torch_bound(enc, heads, dec, x, k, objective):
    F = torch.nn.functional
    mu, lv = heads(enc(x)).chunk(2, dim=-1)
    std = torch.exp(0.5 * lv)
    eps = torch.randn(k, x.shape[0], 50)
    z = mu + std * eps
    logits = dec(z)
    logpx = -F.binary_cross_entropy_with_logits(logits, x.expand(k, -1, -1), reduction="none").sum(-1)
    if objective == "elbo":
        kl = 0.5 * (mu * mu + std * std - 1 - lv).sum(-1)
        return logpx.mean(0) - kl
    logw = logpx + 0.5 * (eps * eps).sum(-1) - 0.5 * (z * z).sum(-1) + 0.5 * lv.sum(-1)
    return torch.logsumexp(logw, 0) - np.log(k)


def torch_epoch(k):
    torch.set_num_threads(THREADS)
    enc, heads, dec = _torch_model()
    params = list(enc.parameters()) + list(heads.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-4)
    x_all = torch.from_numpy(TRAIN[: N_TRAIN[k]])
    objective = "elbo" if k == 1 else "iwae"
    t0 = time.perf_counter()
    perm = torch.randperm(x_all.shape[0])
    for s in range(0, x_all.shape[0], 100):
        xb = torch.bernoulli(x_all[perm[s : s + 100]])
        loss = -_torch_bound(enc, heads, dec, xb, k, objective).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def torch_ll():
    torch.set_num_threads(THREADS)
    enc, heads, dec = _torch_model()
    x = torch.from_numpy(TEST)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(x.shape[0]):
            _torch_bound(enc, heads, dec, x[i : i + 1], K_LL, "iwae")
    return time.perf_counter() - t0


# -- arithmetic floor -------------------------------------------------------------------


def sgemm_rate():
    """Float32 GEMM rate (FLOP/s) on the decoder's output-layer shape, at this process's BLAS thread count."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 200), dtype=np.float32)
    b = rng.standard_normal((200, 784), dtype=np.float32)
    c = np.empty((500, 784), np.float32)
    np.dot(a, b, out=c)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            np.dot(a, b, out=c)
        best = min(best, (time.perf_counter() - t0) / 20)
    return 2 * 500 * 200 * 784 / best


F_ENC = 2 * (784 * 200 + 200 * 200 + 200 * 100)  # encoder forward FLOPs per image
F_DEC = 2 * (50 * 200 + 200 * 200 + 200 * 784)  # decoder forward FLOPs per sample


def floor_flops(key):
    """Matrix-multiply FLOPs: forward + backward (2x forward, no gradient w.r.t. the input image)."""
    if key == "L_5000":
        return LL_IMAGES * (F_ENC + K_LL * F_DEC)
    k = int(key[2:])
    return EPOCH * (3 * F_ENC - 2 * 784 * 200 + 3 * k * F_DEC)


# -- measurement and table ----------------------------------------------------------------

RESULTS: dict = {}


def _scale(key):
    if key == "L_5000":
        return LL_IMAGES / N_LL
    return EPOCH / N_TRAIN[int(key[2:])]


def measure(key, impl, rounds=ROUNDS):
    """Best-of-``rounds`` seconds, scaled to a full epoch / 1000 images."""
    if key == "L_5000":
        f = fastmc_ll if impl == "fastmc" else torch_ll
        best = min(f() for _ in range(rounds))
    else:
        k = int(key[2:])
        f = fastmc_epoch if impl == "fastmc" else torch_epoch
        best = min(f(k) for _ in range(rounds))
    scaled = best * _scale(key)
    RESULTS[(key, impl)] = min(scaled, RESULTS.get((key, impl), np.inf))  # best over all calls
    return scaled


def table(rate=None, results=None, threads=THREADS, load=None):
    """The comparison table for ``results`` (default: this process's) measured with ``threads`` threads."""
    rate = sgemm_rate() if rate is None else rate
    results = RESULTS if results is None else results
    load = os.getloadavg() if load is None else load
    torch_threads = f", torch threads={threads}" if torch is not None else ""
    lines = [
        f"fastmc.vae vs PyTorch, {threads} thread{'s' if threads > 1 else ''} "
        f"(OMP/OPENBLAS/MKL_NUM_THREADS={threads}{torch_threads}), batch 100, "
        f"data: {DATA_SOURCE}; best of {ROUNDS}, scaled from "
        f"{N_TRAIN[1]}/{N_TRAIN[5]}/{N_TRAIN[50]} images (k=1/5/50) to 60,000 and from {N_LL} to 1000 images",
        f"SGEMM rate measured now: {rate / 1e9:.1f} GFLOP/s; load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"
        f" on {os.cpu_count()} CPUs",
        "| task | fastmc (s) | PyTorch same run (s) | ratio | goal | floor (s) | PyTorch in issue (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in (("k=1", "epoch, ELBO k=1"), ("k=5", "epoch, IWAE k=5"), ("k=50", "epoch, IWAE k=50"),
                       ("L_5000", "L_5000, 1000 images")):
        f = results.get((key, "fastmc"))
        t = results.get((key, "torch"))
        fs = f"{f:.2f}" if f is not None else "n/a"
        ts = f"{t:.2f}" if t is not None else "skipped"
        ratio = f"{f / t:.2f}" if f is not None and t is not None else "n/a"
        issue = ISSUE_TORCH[key] if threads == 1 else "(1 thread only)"
        lines.append(f"| {label} | {fs} | {ts} | {ratio} | <= {GOALS[key]} | {floor_flops(key) / rate:.2f} | "
                     f"{issue} |")
    if torch is None:
        lines.append(f"PyTorch comparison skipped: import torch failed ({TORCH_ERROR}); "
                     "install the CPU build with `pip install torch==2.13.0` to measure it.")
    return "\n".join(lines)


KEYS = ["k=1", "k=5", "k=50", "L_5000"]


def measure_all():
    for key in KEYS:
        measure(key, "fastmc")
        if torch is not None:
            measure(key, "torch")


def table_in_subprocess(threads):
    """Measure everything in a child process whose BLAS and PyTorch use ``threads`` threads; its table."""
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(threads)
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--json"], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the {threads}-thread benchmark process failed:\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    results = {tuple(k.split("|")): v for k, v in r["results"].items()}
    return table(rate=r["rate"], results=results, threads=r["threads"], load=r["load"])


# -- pytest-benchmark entry points -------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_fastmc(benchmark, key):
    benchmark.pedantic(measure, args=(key, "fastmc", 1), rounds=ROUNDS, iterations=1)
    benchmark.extra_info["scaled_seconds"] = RESULTS[(key, "fastmc")]
    benchmark.extra_info["scale_factor"] = _scale(key)


@pytest.mark.parametrize("key", KEYS)
def test_torch(benchmark, key):
    if torch is None:
        pytest.skip(f"PyTorch comparison skipped: import torch failed ({TORCH_ERROR})")
    benchmark.pedantic(measure, args=(key, "torch", 1), rounds=ROUNDS, iterations=1)
    benchmark.extra_info["scaled_seconds"] = RESULTS[(key, "torch")]
    benchmark.extra_info["scale_factor"] = _scale(key)


def test_summary_table():
    """Print the comparison (run with -s to see it)."""
    print("\n" + table())


def test_summary_table_2_threads():
    """Measure and print the comparison with 2 threads each, in a child process (run with -s to see it)."""
    print("\n" + table_in_subprocess(2))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: 1,2)")
    ap.add_argument("--json", action="store_true", help="measure at this process's thread count, print JSON")
    args = ap.parse_args()
    if args.json:  # child mode of table_in_subprocess
        measure_all()
        print(json.dumps({"threads": THREADS, "rate": sgemm_rate(), "load": os.getloadavg(),
                          "results": {f"{k}|{impl}": v for (k, impl), v in RESULTS.items()}}))
    else:
        for i, threads in enumerate(int(t) for t in args.threads.split(",")):
            if threads == THREADS:
                measure_all()
                text = table()
            else:
                text = table_in_subprocess(threads)
            print(("\n" if i else "") + text, flush=True)
