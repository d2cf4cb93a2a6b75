"""The peers issues #5 and #6 name (NumPyro's NUTS, BlackJAX's HMC), measured on the workloads of
``../shared/workloads`` from inside the same benchmark run as fastmc.

Every measurement runs in a child process (``python bench/peers.py ...``, JSON on the last line of
stdout) so that JAX's settings cannot leak into fastmc's timings:

- float64 (``jax_enable_x64``), as fastmc;
- pinned to one core (``os.sched_setaffinity`` before JAX is imported, the same as ``taskset -c 0``
  with which PEERS.md measured: JAX keeps both cores busy for one chain and is slower unpinned) and
  ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` (single-threaded Eigen inside XLA);
- compilation excluded: BlackJAX's loop is compiled ahead (``jit(...).lower(...).compile()``) and
  timed afterwards; NumPyro's ``MCMC`` traces and compiles its loops again on every call, so its
  wall time has the time JAX reports spending in tracing, lowering and XLA compilation (the
  ``/jax/core/compile/*`` monitoring spans) subtracted; both figures are returned.

The targets are T2/T3 of ``fastmc.workloads`` written in ``jax.numpy`` with the same precomputed
precision matrices and log-normalisers (what a careful JAX user writes); gradients by ``jax.grad``.
The parent only needs ``importlib.util.find_spec``: nothing here imports JAX unless a peer runs.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"
#: NumPyro's chain method and cores for 4 chains on this 2-core machine (see ``--numpyro-config``
#: below and the README's benchmark section for the comparison that chose it)
NUMPYRO_DEFAULT = "sequential-1core"
NUMPYRO_CONFIGS = {
    # name: (chain_method, pinned to one core, XLA_FLAGS)
    "sequential-1core": ("sequential", True, SINGLE_THREAD_XLA_FLAGS),
    "vectorized-1core": ("vectorized", True, SINGLE_THREAD_XLA_FLAGS),
    "sequential-2cores": ("sequential", False, ""),
    "vectorized-2cores": ("vectorized", False, ""),
    "parallel-2cores": ("parallel", False, "--xla_force_host_platform_device_count=4"),
}


def missing(*modules):
    """The first module of ``modules`` that is not installed, or None."""
    for m in modules:
        if importlib.util.find_spec(m) is None:
            return m
    return None


def run_child(*args, pin=True, xla_flags=SINGLE_THREAD_XLA_FLAGS, timeout=1800):
    """Run ``python bench/peers.py *args`` and return its JSON answer."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + xla_flags).strip()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, str(Path(__file__).resolve()), *args] + (["--pin"] if pin else [])
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ child


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax


def _log_density(name):
    """(log density in jax.numpy, dim, settings) of workload ``name``."""
    jax = _jax()
    import jax.numpy as jnp

    from fastmc.workloads import workload

    mix, s = workload(name)
    logc, mu, P = (jnp.asarray(a) for a in (mix._logc, mix._kmeans, mix._prec))
    K, d = mu.shape
    if K == 1:
        def logp(x):
            delta = x - mu[0]
            return logc[0] - 0.5 * delta @ (P[0] @ delta)
    else:
        def logp(x):
            delta = x - mu
            z = jnp.einsum("kij,kj->ki", P, delta)
            return jax.scipy.special.logsumexp(logc - 0.5 * jnp.sum(delta * z, axis=1))
    return logp, d, s


class _CompileClock:
    """Seconds JAX spent tracing, lowering and compiling inside a window (union of the spans)."""

    def __init__(self):
        import jax.monitoring

        self.spans = []
        jax.monitoring.register_event_time_span_listener(self._on)

    def _on(self, event, start, end, **kw):
        if event.startswith("/jax/core/compile/"):
            self.spans.append((start, end))

    def within(self, t0, t1):
        total, edge = 0.0, t0
        for a, b in sorted(self.spans):
            a, b = max(a, edge), min(b, t1)
            if b > a:
                total, edge = total + b - a, b
        return total


def blackjax_hmc(name, n_iter, rounds, seed):
    """BlackJAX HMC, one chain, identity mass, the workload's step size and leapfrog steps, jit +
    lax.scan; gradient evaluations per second of the best round (n_iter * L per round)."""
    jax = _jax()
    import blackjax
    import jax.numpy as jnp
    import numpy as np

    logp, d, s = _log_density(name)
    L = s["hmc_L"]
    hmc = blackjax.hmc(logp, step_size=s["hmc_eps"], inverse_mass_matrix=jnp.ones(d), num_integration_steps=L)

    def run(key):
        def body(state, k):
            state, info = hmc.step(k, state)
            return state, (state.position, info.is_accepted)

        _, (pos, acc) = jax.lax.scan(body, hmc.init(jnp.zeros(d)), jax.random.split(key, n_iter))
        return pos, acc

    t = time.perf_counter()
    f = jax.jit(run).lower(jax.random.key(seed)).compile()
    compile_s = time.perf_counter() - t
    times, accept = [], None
    for r in range(rounds):
        t = time.perf_counter()
        pos, acc = f(jax.random.key(seed + 1 + r))
        jax.block_until_ready((pos, acc))
        times.append(time.perf_counter() - t)
        accept = float(np.mean(acc))
    return dict(peer="blackjax", version=blackjax.__version__, jax=jax.__version__, workload=name, n_iter=n_iter,
                n_leapfrog=L, rounds=rounds, best_s=min(times), times_s=times, compile_s=compile_s,
                grad_per_s=n_iter * L / min(times), accept_rate=accept)


def numpyro_nuts(name, chain_method, reps, n_warmup, n_samples, chains, seed):
    """NumPyro NUTS (potential_fn), target_accept_prob 0.8, max_tree_depth 10, diag metric on T2 and
    dense on T3, start at the origin. Warm-up and sampling are run as ``mcmc.warmup(...,
    collect_warmup=True)`` then ``mcmc.run(...)`` (the same algorithm as one ``run``) so that the
    leapfrog steps of both phases are read from ``extra_fields=('num_steps',)``."""
    jax = _jax()
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    from numpyro.infer import MCMC, NUTS

    import fastmc

    logp, d, _ = _log_density(name)
    clock = _CompileClock()
    kernel = NUTS(potential_fn=lambda x: -logp(x), target_accept_prob=0.8, max_tree_depth=10,
                  dense_mass=(name == "T3"))
    mcmc = MCMC(kernel, num_warmup=n_warmup, num_samples=n_samples, num_chains=chains, chain_method=chain_method,
                progress_bar=False)
    out = []
    for rep in range(reps):
        t0, w0 = time.perf_counter(), time.time()
        mcmc.warmup(jax.random.key(seed + rep), init_params=jnp.zeros((chains, d)), extra_fields=("num_steps",),
                    collect_warmup=True)
        warm_steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
        mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=("num_steps",))
        draws = np.asarray(mcmc.get_samples(group_by_chain=True))
        kept_steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
        wall = time.perf_counter() - t0
        compile_s = clock.within(w0, time.time())
        out.append(dict(min_ess=float(np.min(fastmc.ess(draws, method="bulk"))),
                        grads_warmup=int(warm_steps.sum()), grads_kept=int(kept_steps.sum()),
                        wall_with_compile=wall, compile_s=compile_s, wall=wall - compile_s))
    return dict(peer="numpyro", version=numpyro.__version__, jax=jax.__version__, workload=name,
                chain_method=chain_method, chains=chains, n_warmup=n_warmup, n_samples=n_samples, reps=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("peer", choices=["blackjax-hmc", "numpyro-nuts"])
    ap.add_argument("--workload", default="T2")
    ap.add_argument("--n-iter", type=int, default=20_000, help="BlackJAX HMC iterations per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chain-method", default="sequential")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pin", action="store_true", help="pin this process to one core before JAX starts")
    a = ap.parse_args(argv)
    if a.pin:  # threads JAX starts inherit the mask (taskset -c <first allowed core>)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sys.path.insert(0, str(ROOT))
    if a.peer == "blackjax-hmc":
        r = blackjax_hmc(a.workload, a.n_iter, a.rounds, a.seed)
    else:
        r = numpyro_nuts(a.workload, a.chain_method, a.reps, a.warmup, a.samples, a.chains, a.seed)
    r.update(pinned=a.pin, affinity=sorted(os.sched_getaffinity(0)), xla_flags=os.environ.get("XLA_FLAGS", ""))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
