"""Command line: ``fastmc`` (or ``python -m fastmc``) runs the demo; ``fastmc vae ...`` trains
the variational autoencoder (see ``fastmc vae --help``)."""
from __future__ import annotations

import argparse
import sys

import numpy as np


def _fmt_vec(v, fmt="8.4f") -> str:
    return "[" + ", ".join(f"{x:{fmt}}" for x in np.ravel(v)) + "]"


def _report(name: str, result, mix, out) -> None:
    from .diagnostics import ess, rhat

    flat = result.flat_draws()
    bulk = ess(result.draws, method="bulk")
    tail = ess(result.draws, method="tail")
    rh = rhat(result.draws)
    print(f"\n{name}  ({result.n_chains} chains x {result.n_samples} draws, backend={result.backend})", file=out)
    print(f"  acceptance rate     {_fmt_vec(result.acceptance_rate)}", file=out)
    print(f"  mean     sample     {_fmt_vec(flat.mean(0))}", file=out)
    print(f"           exact      {_fmt_vec(mix.mean())}", file=out)
    print(f"  cov      sample     {_fmt_vec(np.cov(flat.T))}", file=out)
    print(f"           exact      {_fmt_vec(mix.cov())}", file=out)
    print(f"  ESS bulk            {_fmt_vec(bulk, '8.0f')}", file=out)
    print(f"  ESS tail            {_fmt_vec(tail, '8.0f')}", file=out)
    print(f"  R-hat (rank)        {_fmt_vec(rh)}", file=out)
    print(f"  min bulk ESS / s    {bulk.min() / result.wall_time:,.0f}", file=out)
    print(f"  draws / s           {result.draws_per_second:,.0f}", file=out)
    print(f"  wall time           {result.wall_time * 1e3:.1f} ms", file=out)
    if result.divergent is not None:
        print(f"  divergent           {int(result.divergent.sum())}", file=out)


def demo(argv=None, out=None) -> int:
    """Sample the default 2-D, 3-component mixture (workload T1) with RWMH and HMC and print
    acceptance, moments against the exact ones, ESS, R-hat and speed."""
    import fastmc

    out = out or sys.stdout
    p = argparse.ArgumentParser(prog="fastmc", description=demo.__doc__)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--backend", default="auto", choices=["auto", "cpp", "numba"])
    p.add_argument("--rwmh-samples", type=int, default=200_000)
    p.add_argument("--hmc-samples", type=int, default=20_000)
    args = p.parse_args(argv)
    mix, s = fastmc.workloads.workload("T1")
    print(f"fastmc {fastmc.__version__}: backends available {fastmc.available_backends()}", file=out)
    print(f"target: default 2-D mixture, K={mix.n_components}, weights {mix.weights}", file=out)
    x0 = np.zeros(mix.dim)
    r = fastmc.rwmh(mix, x0, args.rwmh_samples, scale=s["rwmh_sigma"], chains=args.chains, seed=args.seed,
                    backend=args.backend)
    _report(f"RWMH (scale {s['rwmh_sigma']})", r, mix, out)
    h = fastmc.hmc(mix, x0, args.hmc_samples, step_size=s["hmc_eps"], n_leapfrog=s["hmc_L"], chains=args.chains,
                   seed=args.seed, backend=args.backend)
    _report(f"HMC (step {s['hmc_eps']}, {s['hmc_L']} leapfrog steps)", h, mix, out)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "vae":
        from .vae.cli import main as vae_main

        try:
            return vae_main(argv[1:])
        except (FileNotFoundError, ValueError) as exc:  # a missing or malformed data directory
            print(f"fastmc vae: error: {exc}", file=sys.stderr)
            return 2
    if argv and argv[0] == "demo":
        argv = argv[1:]
    return demo(argv)
