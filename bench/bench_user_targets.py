"""User targets (issue: targets users write themselves).

- T2's mixture hand-written as a Numba @cfunc, sampled by HMC through the C++ backend, against
  the built-in GaussianMixture (goal >= 0.7x) and against BlackJAX's HMC on the same target (issue
  #6: goal >= 4x; jit + lax.scan, 1 chain, float64, pinned to one core, compilation excluded, in a
  child process: bench/peers.py). Skipped with the reason printed when BlackJAX is not installed
  (``pip install ".[bench]"``).
- The Python path: per-call overhead over the cost of the function itself (goal <= 2 us).
- Two chains of a cfunc target on two threads against one thread (goal: wall <= 0.65x).
"""
import time

import numba
import numpy as np
import pytest
from numba import cfunc, types

import fastmc
import peers
from conftest import goal, record
from fastmc.workloads import workload

pytestmark = pytest.mark.skipif("cpp" not in fastmc.available_backends(), reason="needs the C++ extension")

CSIG = types.intc(types.uintp, types.CPointer(types.float64), types.CPointer(types.float64),
                  types.CPointer(types.float64), types.voidptr)

goal("T2 HMC: hand-written cfunc / built-in mixture", ("T2 hmc user", "cfunc (C++ backend)"),
     ("T2 hmc user", "built-in mixture"), 0.7)
goal("T2 HMC: hand-written cfunc / BlackJAX (issue #6)", ("T2 hmc user", "cfunc (C++ backend)"),
     ("T2 hmc user", "BlackJAX (1 core)"), 4.0)
goal("cfunc 2 chains: 2 threads speed-up over 1 (1/0.65)", ("cfunc threads", "2 chains, 2 threads"),
     ("cfunc threads", "2 chains, 1 thread"), 1 / 0.65)


def _t2_cfunc():
    """What a careful user writes: the sizes as compile-time constants, scratch space on the
    stack (fastmc.stack_array: the C signature has no workspace and a heap array per call costs
    as much as the density), the matrix-vector products written so that LLVM vectorises them with
    the partial sums in registers (see the comments), log-sum-exp over components, and products
    fused into fma (``fastmath={"contract"}``: one rounding instead of two; no reassociation flag,
    the one reassociation is written out: two partial sums per output of P_k (x - mu_k), and
    four for the quadratic form). data = [logc (K), means (K*d), prec (K*d*d)]."""
    mix, _ = workload("T2")
    K, d = mix._kmeans.shape
    assert d % 4 == 0  # the partial sums below split the rows in halves and the quadratic form in fours
    n = K + K * d + K * d * d
    nz = K * d
    h = d // 2

    @cfunc(CSIG, nogil=True, error_model="numpy", fastmath={"contract"})
    def logp(dim, x, grad, lp, data_ptr):
        data = numba.carray(data_ptr, (n,), np.float64)
        z = fastmc.stack_array(nz)  # z_k = P_k (x - mu_k), one row of d per component
        dl = fastmc.stack_array(d)  # x - mu_k
        e = fastmc.stack_array(K)  # a_k, then exp(a_k - max), then the responsibilities r_k
        for k in range(K):
            mo = K + k * d
            po = K + K * d + k * d * d
            for i in range(d):
                dl[i] = x[i] - data[mo + i]
            # z_i = sum_j P[j, i] dl_j (P symmetric). The sum over rows j is innermost and has a
            # constant length, so LLVM unrolls it completely and vectorises the loop over outputs
            # i: each ymm lane is one output, its partial sums stay in registers over all d rows
            # and z is stored once. (Rows outermost, z[i] += P[j, i] dl_j, keeps z in memory: a
            # store and a reload per row, or per few rows, on the critical path; this form took HMC
            # from ~340 to ~210 ns per gradient. Scalar accumulators unrolled by hand stay scalar:
            # Numba runs LLVM without its SLP vectoriser.)
            # Two partial sums, rows 0..h-1 and h..d-1, halve the chain of dependent fma.
            for i in range(d):
                s0 = 0.0
                s1 = 0.0
                for j in range(h):
                    s0 += data[po + j * d + i] * dl[j]
                    s1 += data[po + (j + h) * d + i] * dl[j + h]
                z[k * d + i] = s0 + s1
            # q = dl . z_k in four partial sums (one chain of d dependent fma otherwise)
            q0 = 0.0
            q1 = 0.0
            q2 = 0.0
            q3 = 0.0
            for i in range(0, d, 4):
                q0 += dl[i] * z[k * d + i]
                q1 += dl[i + 1] * z[k * d + i + 1]
                q2 += dl[i + 2] * z[k * d + i + 2]
                q3 += dl[i + 3] * z[k * d + i + 3]
            e[k] = data[k] - 0.5 * ((q0 + q1) + (q2 + q3))
        m = e[0]
        for k in range(1, K):
            m = max(m, e[k])
        s = 0.0
        for k in range(K):
            e[k] = 1.0 if e[k] == m else np.exp(e[k] - m)  # the largest term is exactly 1: no exp call
            s += e[k]
        for k in range(K):
            e[k] = e[k] / s
        # grad_i = -sum_k r_k z_k,i: components innermost (unrolled), outputs vectorised, and
        # grad written once rather than read and rewritten per component
        for i in range(d):
            g = 0.0
            for k in range(K):
                g -= e[k] * z[k * d + i]
            grad[i] = g
        lp[0] = m + np.log(s)
        return 0

    data = np.concatenate([mix._logc, mix._kmeans.ravel(), mix._prec.ravel()])
    target = fastmc.Target.from_cfunc(logp, d, data)
    # the benchmark must time the same density: check it against the built-in
    X = mix.sample(8, seed=3) * 1.5
    lp, g = target.logpdf_and_grad(X)
    lp_ref, g_ref = mix.logpdf_and_grad(X)
    np.testing.assert_allclose(lp, lp_ref, rtol=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-10, atol=1e-12)
    return target, mix


@pytest.mark.parametrize("variant", ["built-in mixture", "cfunc (C++ backend)"])
def test_t2_cfunc_vs_builtin(benchmark, variant):
    target, mix = _t2_cfunc()
    t = mix if variant == "built-in mixture" else target
    _, s = workload("T2")
    n, eps, L = s["hmc_iters"] // 4, s["hmc_eps"], s["hmc_L"]
    x0 = np.zeros(20)
    benchmark.group = "T2 hmc user"
    benchmark.pedantic(lambda: fastmc.hmc(t, x0, n, step_size=eps, n_leapfrog=L, seed=1, backend="cpp"),
                       rounds=5, iterations=1, warmup_rounds=1)
    record("T2 hmc user", variant, n * L / benchmark.stats.stats.min, "gradients/s")


def test_blackjax_on_t2():
    """BlackJAX HMC on T2 with the workload's settings (step 0.45, 20 leapfrog steps, identity mass,
    20,000 iterations, start at the origin): gradient evaluations per second, best of 5 rounds after
    an ahead-of-time compilation. Same count as fastmc's: iterations x leapfrog steps."""
    absent = peers.missing("jax", "jaxlib", "blackjax")
    if absent:
        reason = f"{absent} is not installed (pip install '.[bench]'): BlackJAX not measured; PEERS.md has 911 k gradients/s"
        print(reason)
        pytest.skip(reason)
    _, s = workload("T2")
    r = peers.run_child("blackjax-hmc", "--workload", "T2", "--n-iter", str(s["hmc_iters"]), "--rounds", "5")
    print(f"BlackJAX {r['version']} (jax {r['jax']}): {r['grad_per_s']:,.0f} gradients/s, best of {r['rounds']} "
          f"rounds {r['times_s']}, compile {r['compile_s']:.2f} s, acceptance {r['accept_rate']:.3f}, "
          f"cores {r['affinity']}, XLA_FLAGS={r['xla_flags']!r}")
    record("T2 hmc user", "BlackJAX (1 core)", r["grad_per_s"], "gradients/s")


@pytest.mark.parametrize("threads", [1, 2])
def test_cfunc_two_chains_use_both_cores(benchmark, threads):
    target, _ = _t2_cfunc()
    # ~70 ms rounds after 3 untimed ones: on this VM a core that has been idle runs at about half
    # speed for its first ~100 ms of work, and 20 ms rounds mostly measured that
    n = 10000
    benchmark.group = "cfunc threads"
    benchmark.pedantic(lambda: fastmc.hmc(target, np.zeros(20), n, step_size=0.45, n_leapfrog=20, chains=2,
                                          n_threads=threads, seed=1, backend="cpp"),
                       rounds=5, iterations=1, warmup_rounds=3)
    record("cfunc threads", f"2 chains, {threads} thread{'s' if threads > 1 else ''}",
           2 * n * 20 / benchmark.stats.stats.min, "gradients/s")


def test_python_path_overhead(benchmark):
    def logp(x):
        return -0.5 * float(x @ x)

    target = fastmc.Target.from_python(logp=logp, dim=4)
    x = np.zeros(4)
    n = 20_000
    direct = np.inf
    for _ in range(5):  # best of 5, like the sampler's rounds
        t0 = time.perf_counter()
        for _ in range(n):
            logp(x)
        direct = min(direct, (time.perf_counter() - t0) / n)
    benchmark.group = "python path"
    benchmark.pedantic(lambda: fastmc.rwmh(target, x, n, scale=1.0, seed=1), rounds=3, iterations=1,
                       warmup_rounds=1)
    per_call = benchmark.stats.stats.min / (n + 1)
    overhead = per_call - direct
    record("python path", "function alone", direct * 1e9, "ns/call")
    record("python path", "overhead (goal <= 2000)", overhead * 1e9, "ns/call")
    assert overhead < 2e-6 * 5, "far above the goal: the Python path has regressed"
