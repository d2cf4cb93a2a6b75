"""Command line for ``fastmc vae``: train on MNIST, print test bounds, draw PNGs.

Example::

    python -m fastmc.vae.cli --objective iwae --k 5 --epochs 10 --data ../shared/data/mnist
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

from .bounds import paired_se
from .data import binarize, load_mnist
from .model import VAE
from .train import OBJECTIVES, evaluate_bound, paper_schedule, short_schedule, train

__all__ = ["main", "build_parser", "TrainingProgress", "progress_bar", "bounds_table"]


class UsageExit(SystemExit):
    """Exit status 2 (bad input, as argparse) whose text is the message, printed when raised."""

    def __init__(self, message):
        super().__init__(2)
        self.message = message
        print(f"fastmc vae: {message}", file=sys.stderr)

    def __str__(self):
        return self.message


def build_parser(prog="fastmc vae"):
    """The argument parser of the ``vae`` subcommand.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = argparse.ArgumentParser(prog=prog, description="Train a VAE / IWAE / wake-sleep model on MNIST (NumPy).")
    p.add_argument("--data", required=True, help="directory with the MNIST IDX files (gzip or not)")
    p.add_argument("--objective", choices=OBJECTIVES, default="iwae")
    p.add_argument("--k", type=int, default=5, help="samples per image in training (default 5)")
    p.add_argument("--epochs", type=int, default=10, help="passes through the training set")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3, help="initial Adam step size")
    p.add_argument(
        "--schedule",
        choices=("constant", "short", "paper"),
        default="short",
        help="learning rates: constant; short = last 20%% of epochs at lr/10 (30 epochs -> last 6); "
        "paper = Burda et al., stages of 3^i epochs at lr*10^(-i/7) (--epochs is then the number of stages)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, nargs="*", default=[200, 200], help="encoder hidden sizes")
    p.add_argument("--latent", type=int, default=50)
    p.add_argument("--activation", choices=("tanh", "relu", "linear"), default="tanh")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--n-test", type=int, default=None, help="evaluate on the first N test images (default all)")
    p.add_argument("--eval-k", type=int, nargs="+", default=[1, 5, 50, 5000], help="k of the reported bounds")
    p.add_argument("--monitor-k", type=int, default=1, help="k of the per-epoch held-out bound")
    p.add_argument("--monitor-n", type=int, default=1000, help="held-out images for the per-epoch bound")
    p.add_argument("--save", default=None, help="write the trained model to this .npz file")
    p.add_argument("--png", default=None, help="write reconstructions and prior samples to this PNG")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar advancing per minibatch (default: on when stderr is a terminal)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (as --no-progress)")
    return p


class TrainingProgress:
    """The training display of ``fastmc vae``: one bar per epoch that advances every minibatch
    and shows the epoch's running training objective, then the held-out bound at its end.

    Pass :meth:`batch` as ``batch_callback`` and :meth:`epoch` as ``callback`` to
    :func:`fastmc.vae.train`; call :meth:`close` if training stops early.

    Parameters
    ----------
    epochs : int
        Number of epochs (for the bar's label).
    objective : {"elbo", "iwae", "wake-sleep"}
    k : int
        Samples per image in training (names the IWAE bound).
    monitor_k : int
        ``k`` of the per-epoch held-out bound.
    stream : file-like, optional
        Default ``sys.stderr`` (looked up when the object is made).

    Notes
    -----
    tqdm redraws at most every 0.1 s, so a bar costs nothing next to a minibatch step.
    """

    def __init__(self, epochs, objective, k, monitor_k=1, stream=None):
        self.epochs = epochs
        self.label = {"elbo": "ELBO", "iwae": f"L_{k}", "wake-sleep": "wake log p(x,z)"}[objective]
        self.monitor_k = monitor_k
        self.stream = sys.stderr if stream is None else stream
        self._bar = None

    def batch(self, epoch, done, n_batches, objective):
        """``batch_callback`` of :func:`fastmc.vae.train`."""
        from tqdm.auto import tqdm

        if self._bar is None:
            self._bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{self.epochs}", unit="batch", file=self.stream,
                             leave=True, mininterval=0.1)
        self._bar.set_postfix_str(f"{self.label} {objective:.3f}", refresh=False)
        self._bar.update(done - self._bar.n)

    def epoch(self, info):
        """``callback`` of :func:`fastmc.vae.train`: the epoch's line keeps its final figures."""
        text = f"lr {info.lr:.2e}, {self.label} {info.train_objective:.3f}"
        if info.test_bound is not None:
            text += f", test L_{self.monitor_k} {info.test_bound:.3f} +- {info.test_se:.3f}"
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.close()
            self._bar = None

    def close(self):
        """End the current bar (training stopped within an epoch)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_bar(info, width=30, stream=None):
    """Print one line of training progress (a bar over epochs); ``fastmc vae`` now draws
    :class:`TrainingProgress`, which also advances within an epoch.

    Parameters
    ----------
    info : fastmc.vae.train.EpochInfo
    width : int, optional
    stream : file-like, optional
        Default ``sys.stderr``.
    """
    stream = sys.stderr if stream is None else stream
    done = int(round(width * info.epoch / info.epochs))
    bar = "#" * done + "." * (width - done)
    test = "" if info.test_bound is None else f"  test L {info.test_bound:9.3f} +- {info.test_se:.3f}"
    stream.write(
        f"\r[{bar}] epoch {info.epoch:>4}/{info.epochs}  lr {info.lr:.2e}  train {info.train_objective:9.3f}"
        f"{test}  {info.seconds:6.1f} s"
    )
    if info.epoch == info.epochs:
        stream.write("\n")
    stream.flush()


def bounds_table(results, ks):
    """Format bound means with standard errors and paired differences.

    Parameters
    ----------
    results : dict of int -> ndarray, shape (n,)
        Per-image ``L_k`` for each ``k`` (same images).
    ks : sequence of int

    Returns
    -------
    str
    """
    lines = [f"{'bound':>8} {'mean':>10} {'SE':>7}   {'diff to previous':>18} {'paired SE':>9}"]
    prev = None
    for k in ks:
        m, se = paired_se(results[k])
        if prev is None:
            diff = ""
        else:
            d, dse = paired_se(results[k], results[prev])
            diff = f"{d:18.3f} {dse:9.3f}"
        lines.append(f"{'L_' + str(k):>8} {m:10.3f} {se:7.3f}   {diff}")
        prev = k
    return "\n".join(lines)


def _save_png(path, model, test, rng):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "cannot write --png: matplotlib is not installed (pip install 'fastmc[plot]' or pip install matplotlib)",
            file=sys.stderr,
        )
        return False
    side = int(round(np.sqrt(model.n_visible)))
    if side * side != model.n_visible:
        print(f"cannot write --png: n_visible={model.n_visible} is not a square image", file=sys.stderr)
        return False
    n = 10
    x = test[:n]
    mu, _ = model.encode(x)
    recon = model.mean_image(mu)
    samples = model.mean_image(rng.standard_normal((2 * n, model.n_latent)))
    rows = [x, recon, samples[:n], samples[n:]]
    titles = ["test images", "reconstructions (z = mean of q)", "samples from the prior", ""]
    fig, axes = plt.subplots(len(rows), n, figsize=(n, len(rows) + 0.6))
    for r, (imgs, title) in enumerate(zip(rows, titles)):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(np.asarray(imgs[c]).reshape(side, side), cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
        if title:
            axes[r, 0].set_title(title, loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _check_output_path(path, option):
    """Exit with an error naming ``option`` unless a file can be created at ``path``."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise UsageExit(f"error: {option}: {path!r} is a directory; give a file name")
    if not os.path.isdir(parent):
        raise UsageExit(f"error: {option}: directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageExit(f"error: {option}: directory {parent!r} is not writable")


def _check_args(args):
    """Validate the parsed arguments; exits with an error naming the option."""
    for name in ("k", "epochs", "batch_size", "latent", "monitor_k", "monitor_n"):
        if getattr(args, name) < 1:
            raise UsageExit(f"error: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if any(k < 1 for k in args.eval_k):
        raise UsageExit(f"error: --eval-k values must be >= 1, got {args.eval_k}")
    if args.n_test is not None and args.n_test < 1:
        raise UsageExit(f"error: --n-test must be >= 1, got {args.n_test}")
    if any(h < 1 for h in args.hidden):
        raise UsageExit(f"error: --hidden sizes must be >= 1, got {args.hidden}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UsageExit(f"error: --lr must be a positive finite number, got {args.lr}")
    if args.seed < 0:
        raise UsageExit(f"error: --seed must be >= 0, got {args.seed}")
    if args.save:
        _check_output_path(args.save, "--save")
    if args.png:
        _check_output_path(args.png, "--png")


def main(argv=None):
    """Run the ``vae`` subcommand.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after ``vae``; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status.
    """
    args = build_parser().parse_args(argv)
    _check_args(args)  # every argument and output path before any work: a late error loses the training
    if args.schedule == "paper":
        lrs = paper_schedule(args.epochs, args.lr)
    elif args.schedule == "short":
        lrs = short_schedule(args.epochs, args.epochs // 5, args.lr, args.lr / 10)
    else:
        lrs = [args.lr] * args.epochs
    train_x, test_x = load_mnist(args.data)
    if args.n_test is not None:
        test_x = test_x[: args.n_test]
    # a fixed binarisation of the test set (as in the IWAE paper's dynamically binarised MNIST)
    test_bin = binarize(test_x, np.random.default_rng(args.seed + 1_000_003))
    model = VAE(
        n_visible=train_x.shape[1],
        hidden=args.hidden,
        n_latent=args.latent,
        activation=args.activation,
        dtype=np.dtype(args.dtype),
        seed=args.seed,
    )
    model.set_output_bias(train_x.mean(axis=0))
    print(
        f"training {args.objective} (k={args.k}) for {len(lrs)} epochs, batch {args.batch_size}, "
        f"schedule {args.schedule}, seed {args.seed}",
        file=sys.stderr,
    )
    show = (sys.stderr.isatty() if args.progress is None else args.progress) and not args.quiet
    bar = TrainingProgress(len(lrs), args.objective, args.k, args.monitor_k) if show else None
    t0 = time.perf_counter()
    try:
        train(
            model,
            train_x,
            objective=args.objective,
            k=args.k,
            epochs=len(lrs),
            batch_size=args.batch_size,
            lr=lrs,
            seed=args.seed,
            test_data=test_bin[: args.monitor_n],
            eval_k=args.monitor_k,
            callback=None if bar is None else bar.epoch,
            batch_callback=None if bar is None else bar.batch,
        )
    except FloatingPointError as exc:  # diverged: report it instead of printing NaN bounds
        raise SystemExit(f"error: {exc}") from None
    except KeyboardInterrupt:
        print("fastmc vae: interrupted; nothing saved", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()  # end the bar's line before any message
    print(f"trained in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results = {}
    for k in args.eval_k:
        t1 = time.perf_counter()
        results[k] = evaluate_bound(model, test_bin, k, seed=args.seed + 7 * k)
        print(f"L_{k} on {test_bin.shape[0]} test images: {time.perf_counter() - t1:.1f} s", file=sys.stderr)
    print(f"test bounds ({args.objective}, k={args.k}, {len(lrs)} epochs, {test_bin.shape[0]} test images, nats)")
    print(bounds_table(results, args.eval_k))
    if args.save:
        model.save(args.save)
        print(f"model saved to {args.save}")
    if args.png:
        if _save_png(args.png, model, test_x, np.random.default_rng(args.seed)):
            print(f"figure written to {args.png}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
