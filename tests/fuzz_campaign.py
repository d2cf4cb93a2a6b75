"""A long fuzzing campaign over the strategies of tests/test_fuzz.py, counting outcomes instead of
stopping at the first failure (pytest's run of test_fuzz.py is the bounded, failing version).

    python tests/fuzz_campaign.py --backend cpp --examples 20000 [--only nuts,ess]

Every entry point runs in its own subprocess, so a crash (a signal, an abort) is counted and the
campaign goes on; an example slower than --hang seconds is counted as a hang. Outcomes per entry
point: accepted, rejected (a named ValueError/TypeError), and the failures: crashes, hangs, other
exception types, errors naming no argument, leaked warnings and wrong results (a layout variant
whose result differs from the canonical call's), each with the first few messages.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _entries():
    """name -> (strategy of one example, check(backend, example))."""
    from hypothesis import strategies as st

    import test_fuzz as T

    def inner(test):
        return test.hypothesis.inner_test

    def sampler(test, base, keys=None):
        return st.fixed_dictionaries({"replaced": T.replacements(base, keys)}), \
            lambda be, kw: inner(test)(be, **kw)

    def idx(be, kw):
        from fastmc.vae import read_idx, write_idx

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "a.idx")
            out = T.judge(lambda array, compress: write_idx(path, array, compress),
                          dict(array=kw["array"].arr if isinstance(kw["array"], T.Layout) else kw["array"],
                               compress=kw["compress"]), {"array", "path", "compress"})
            if not isinstance(out, T.Rejected):
                a = kw["array"].arr if isinstance(kw["array"], T.Layout) else kw["array"]
                import numpy as np

                np.testing.assert_array_equal(read_idx(path), np.asarray(a))

    import numpy as np

    out = {
        "rwmh": sampler(T.test_fuzz_rwmh, T.RWMH),
        "hmc": sampler(T.test_fuzz_hmc, T.HMC),
        "hmc_warmup": sampler(T.test_fuzz_hmc_warmup, T.HMC_WARM),
        "nuts": sampler(T.test_fuzz_nuts, T.NUTS),
        "nuts_dense": sampler(T.test_fuzz_nuts_dense, T.NUTS_DENSE, ("inv_metric", "x0", "metric", "chains",
                                                                    "step_size")),
        "resume": (st.fixed_dictionaries({"fields": T.corrupted_states(), "sampler": st.sampled_from(["nuts", "hmc"])}),
                   lambda be, kw: inner(T.test_fuzz_resume_state)(be, **kw)),
        "GaussianMixture": (st.fixed_dictionaries({"replaced": T.replacements(T.MIX_ARGS)}),
                            lambda be, kw: inner(T.test_fuzz_gaussian_mixture)(be, **kw)),
        "target_evaluation": (st.fixed_dictionaries({"x": T.hostile(T.PTS), "method": st.sampled_from(
            ["logpdf", "logpdf_and_grad", "grad_logpdf"]), "target": st.sampled_from(["mixture", "cfunc", "numba"])}),
            lambda be, kw: inner(T.test_fuzz_target_evaluation)(be, **kw)),
        "user_target_constructors": (st.fixed_dictionaries({"replaced": T.replacements(T.CFUNC_ARGS),
                                                            "kind": st.sampled_from(["cfunc", "numba"])}),
                                     lambda be, kw: inner(T.test_fuzz_user_target_constructors)(be, **kw)),
        "models": (T.model_case(), lambda be, case: T.check_model(be, case)),
        "mixture_sample": (st.fixed_dictionaries({"n": T.hostile(5), "seed": st.one_of(st.integers(0, 2**64 + 5),
                                                                                       T.scalar_hostile)}),
                           lambda be, kw: inner(T.test_fuzz_mixture_sample)(**kw)),
        "vae": (T.vae_case(), lambda be, case: T.check_vae(case)),
        "idx": (st.fixed_dictionaries({"array": T.hostile(np.arange(6, dtype=np.uint8).reshape(2, 3)),
                                       "compress": st.sampled_from([None, True, False])}), idx),
    }
    if "cpp" in __import__("fastmc").available_backends():
        out["python_target"] = (st.fixed_dictionaries({
            "fn": st.sampled_from(T._py_target_fns()), "dim": st.one_of(st.just(2), T.scalar_hostile),
            "sampler": st.sampled_from(["rwmh", "hmc", "nuts", "logpdf"]),
            "backend_arg": st.sampled_from(["auto", "cpp", "numba"])}),
            lambda be, kw: inner(T.test_fuzz_python_target)(None, **kw))
    for name in sorted(T.DIAG):
        out[name] = (T.diag_case(name), (lambda n: lambda be, case: T.check_diagnostic(n, be, case))(name))
    return out


WARMUP = {"rwmh": {"replaced": {"seed": 4}}, "hmc": {"replaced": {"seed": 4}}, "hmc_warmup": {"replaced": {"seed": 4}},
          "nuts": {"replaced": {"seed": 4}}, "nuts_dense": {"replaced": {"seed": 4}},
          "resume": {"fields": {"seed": 4}, "sampler": "nuts"}}


class Hang(Exception):
    pass


def _classify(exc):
    msg = str(exc)
    if isinstance(exc, AssertionError):
        if msg.startswith("error names no argument"):
            return "unnamed_error"
        if msg.startswith("[") and ("Warning" in msg):
            return "leaked_warning"
        return "wrong_result"
    if isinstance(exc, Hang):
        return "hang"
    return "other_exception:" + type(exc).__name__


def run_one(name, backend, n, hang, seed):
    """Run n examples of one entry point in this process; print a JSON line of counts."""
    sys.path.insert(0, str(HERE))
    from hypothesis import HealthCheck, given, settings

    import test_fuzz as T

    strategy, check = _entries()[name]
    counts = collections.Counter()
    samples = collections.defaultdict(list)

    def on_alarm(signum, frame):
        raise Hang(f"example took more than {hang} s")

    signal.signal(signal.SIGALRM, on_alarm)

    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(example=strategy)
    def run(example):
        signal.alarm(hang)
        t0 = time.perf_counter()
        try:
            check(backend, example)
            counts["passed"] += 1
        except Exception as exc:  # counted, never raised: the campaign runs every example
            kind = _classify(exc)
            counts[kind] += 1
            if len(samples[kind]) < 3:
                samples[kind].append(f"{example!r:.300} -> {type(exc).__name__}: {str(exc)[:300]}")
        finally:
            signal.alarm(0)
        counts["seconds"] += time.perf_counter() - t0

    judge = T.judge

    def counting_judge(*a, **kw):  # accepted vs rejected calls, for the report
        out = judge(*a, **kw)
        counts["calls_rejected" if isinstance(out, T.Rejected) else "calls_accepted"] += 1
        return out

    # compile first (Numba's HMC engine takes minutes on a loaded machine), so that no example
    # pays for it and is taken for a hang
    if name in WARMUP:
        check(backend, WARMUP[name])
    T.judge = counting_judge
    run()
    print(json.dumps({"name": name, "backend": backend, "counts": counts, "samples": samples}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cpp")
    ap.add_argument("--examples", type=int, default=20000, help="total over all entry points")
    ap.add_argument("--only", default="")
    ap.add_argument("--hang", type=int, default=300)
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return run_one(args.one, args.backend, args.examples, args.hang, 0)
    sys.path.insert(0, str(HERE))
    names = [n for n in _entries() if not args.only or n in args.only.split(",")]
    per = max(1, args.examples // len(names))
    total = collections.Counter()
    for name in names:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, __file__, "--one", name, "--backend", args.backend, "--examples",
                            str(per), "--hang", str(args.hang)], capture_output=True, text=True,
                           timeout=per * args.hang + 600)
        line = next((json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")), None)
        if line is None:
            counts = collections.Counter(crash=1)
            print(f"{name}: CRASH rc={p.returncode} {p.stderr[-500:]}", flush=True)
        else:
            counts = collections.Counter(line["counts"])
            bad = {k: v for k, v in counts.items() if k not in ("passed", "seconds", "calls_rejected",
                                                                "calls_accepted")}
            print(f"{name}: {counts['passed']} passed ({counts['calls_accepted']} calls accepted, "
                  f"{counts['calls_rejected']} rejected) in {time.perf_counter() - t0:.0f} s; failures {bad}",
                  flush=True)
            for kind, msgs in line["samples"].items():
                for m in msgs:
                    print(f"    {kind}: {m}", flush=True)
        total.update(counts)
    total.pop("seconds", None)
    print("TOTAL", args.backend, dict(total), flush=True)


if __name__ == "__main__":
    main()
