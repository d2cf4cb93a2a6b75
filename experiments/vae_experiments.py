"""Issue 4 experiments: AEVB vs wake-sleep, ELBO vs IWAE(k=5), ordering of L_k.

Every model is trained on dynamically binarised MNIST and evaluated on ONE
fixed binarisation of the first ``--n-test`` test images, so that all bounds
of all models are paired by image: differences are reported with paired
standard errors (SE of the per-image differences).

Default (short, fits the time budget): 30 epochs, batch 100, Adam lr 1e-3
with the last 6 epochs at 1e-4, two seeds, bounds on 2000 test images.
The paper's schedule: ``--schedule paper --stages 8`` (3280 epochs).

Run (one BLAS thread)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python experiments/vae_experiments.py \\
        --data ../shared/data/mnist --out experiments/vae_results.json

Results are appended to the JSON file as runs finish; rerunning with the same
``--out`` skips the runs already there (so an interrupted job can resume), and
``--report-only`` prints the tables from the file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fastmc.vae import VAE, paired_se  # noqa: E402
from fastmc.vae.data import binarize, load_mnist  # noqa: E402
from fastmc.vae.train import evaluate_bound, paper_schedule, short_schedule, train  # noqa: E402

TEST_BINARIZATION_SEED = 20160101


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist"))
    p.add_argument("--out", default="experiments/vae_results.json")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--ws-seeds", type=int, nargs="*", default=None, help="wake-sleep seeds (default: --seeds)")
    p.add_argument("--schedule", choices=("short", "paper", "constant"), default="short")
    p.add_argument("--epochs", type=int, default=30, help="epochs (short/constant)")
    p.add_argument("--final-epochs", type=int, default=6, help="epochs at --lr-final at the end (short)")
    p.add_argument("--stages", type=int, default=8, help="stages of the paper schedule (3^i epochs each)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-final", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--iwae-k", type=int, default=5)
    p.add_argument("--n-test", type=int, default=2000, help="test images for all bounds (<= 10000)")
    p.add_argument("--eval-k", type=int, nargs="+", default=[1, 5, 50, 5000])
    p.add_argument("--models-dir", default=None, help="save trained models (.npz) here")
    p.add_argument("--reuse-models", action="store_true",
                   help="load models already saved in --models-dir instead of training (re-evaluate, e.g. "
                        "on more test images)")
    p.add_argument("--report-only", action="store_true")
    return p.parse_args(argv)


def schedule(args):
    if args.schedule == "paper":
        return paper_schedule(args.stages, args.lr)
    if args.schedule == "short":
        return short_schedule(args.epochs, args.final_epochs, args.lr, args.lr_final)
    return [args.lr] * args.epochs


def run_one(args, name, objective, k, seed, train_x, test_bin, lrs):
    path = os.path.join(args.models_dir, f"{name}_seed{seed}.npz") if args.models_dir else None
    if args.reuse_models and path and os.path.exists(path):
        model = VAE.load(path)
        print(f"  reusing the trained model {path}", flush=True)
        return dict(name=name, objective=objective, k=k, seed=seed, epochs=len(lrs), schedule=args.schedule,
                    lrs=lrs, n_test=int(test_bin.shape[0]), train_seconds=None, reused=path,
                    **evaluate(args, model, seed, test_bin))
    model = VAE(seed=seed)
    model.set_output_bias(train_x.mean(axis=0))
    monitor = []

    def cb(info):
        monitor.append((info.epoch, info.test_bound, info.seconds))
        print(
            f"  {name} seed {seed} epoch {info.epoch}/{info.epochs} lr {info.lr:.1e} "
            f"train {info.train_objective:.2f} test L_1 {info.test_bound:.2f} ({info.seconds:.1f} s)",
            flush=True,
        )

    t0 = time.perf_counter()
    train(model, train_x, objective=objective, k=k, epochs=len(lrs), batch_size=args.batch_size, lr=lrs,
          seed=seed, test_data=test_bin[:1000], eval_k=1, callback=cb)
    train_s = time.perf_counter() - t0
    if path:
        os.makedirs(args.models_dir, exist_ok=True)
        model.save(path)
    return dict(name=name, objective=objective, k=k, seed=seed, epochs=len(lrs), schedule=args.schedule,
                lrs=lrs, n_test=int(test_bin.shape[0]), train_seconds=train_s, monitor=monitor,
                **evaluate(args, model, seed, test_bin))


def evaluate(args, model, seed, test_bin):
    bounds, eval_s = {}, {}
    for ke in args.eval_k:
        t1 = time.perf_counter()
        bounds[str(ke)] = evaluate_bound(model, test_bin, ke, seed=1000 * seed + ke).tolist()
        eval_s[str(ke)] = time.perf_counter() - t1
    return dict(bounds=bounds, eval_seconds=eval_s)


def fmt(m, se):
    return f"{m:9.2f} ± {se:.2f}"


def report(runs, eval_k):
    ks = [str(k) for k in eval_k]
    out = []
    out.append("Table A: test bounds, mean over images ± SE; then consecutive paired differences "
               "L_k' - L_k ± paired SE (all must be >= 0 up to noise)")
    head = "| model | seed | epochs | train s | " + " | ".join(f"L_{k}" for k in ks) + " | " + " | ".join(
        f"L_{b}-L_{a}" for a, b in zip(ks, ks[1:])) + " | ordered |"
    out.append(head)
    out.append("|" + "---|" * (head.count("|") - 1))
    for r in runs:
        b = {k: np.asarray(r["bounds"][k]) for k in ks if k in r["bounds"]}
        cells = [fmt(*paired_se(b[k])) for k in ks]
        diffs, ok = [], True
        for a, c in zip(ks, ks[1:]):
            d, se = paired_se(b[c], b[a])
            diffs.append(fmt(d, se))
            ok &= d > -2 * se
        ts = "reused" if r["train_seconds"] is None else f"{r['train_seconds']:.0f}"
        out.append(f"| {r['name']} | {r['seed']} | {r['epochs']} | {ts} | " + " | ".join(cells)
                   + " | " + " | ".join(diffs) + f" | {'yes' if ok else 'NO'} |")
    out.append("")
    out.append("Table B: paired differences between models on the same seed and test images (nats, ± paired SE)")
    out.append("| comparison | seed | " + " | ".join(f"Δ L_{k}" for k in ks) + " |")
    out.append("|---|---|" + "---|" * len(ks))
    by = {(r["name"], r["seed"]): r for r in runs}
    pairs = [("iwae_k5", "elbo_k1"), ("elbo_k1", "wake_sleep")]
    for a, c in pairs:
        seeds = sorted({s for (n, s) in by if n == a} & {s for (n, s) in by if n == c})
        for s in seeds:
            cells = []
            for k in ks:
                cells.append(fmt(*paired_se(by[(a, s)]["bounds"][k], by[(c, s)]["bounds"][k])))
            out.append(f"| {a} − {c} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None):
    args = parse_args(argv)
    runs = []
    if os.path.exists(args.out):
        with open(args.out) as f:
            runs = json.load(f)
    if not args.report_only:
        train_x, test_x = load_mnist(args.data)
        test_bin = binarize(test_x[: args.n_test], np.random.default_rng(TEST_BINARIZATION_SEED))
        lrs = schedule(args)
        ws_seeds = args.seeds if args.ws_seeds is None else args.ws_seeds
        plan = []
        for seed in args.seeds:
            plan.append(("elbo_k1", "elbo", 1, seed))
            plan.append((f"iwae_k{args.iwae_k}", "iwae", args.iwae_k, seed))
        for seed in ws_seeds:
            plan.append(("wake_sleep", "wake-sleep", 1, seed))
        done = {(r["name"], r["seed"], r["epochs"], r["n_test"]) for r in runs}
        for name, objective, k, seed in plan:
            if (name, seed, len(lrs), args.n_test) in done:
                print(f"skip {name} seed {seed}: already in {args.out}")
                continue
            print(f"run {name} (k={k}) seed {seed}: {len(lrs)} epochs ({args.schedule})", flush=True)
            runs.append(run_one(args, name, objective, k, seed, train_x, test_bin, lrs))
            r = runs[-1]
            print(f"  trained {r['train_seconds'] or 0:.0f} s, eval " +
                  ", ".join(f"L_{k} {v:.0f} s" for k, v in r["eval_seconds"].items()), flush=True)
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                json.dump(runs, f)
    print(report(runs, args.eval_k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
