"""The Numba backend's compile time for a user target: a fresh process's first ``nuts`` + ``rwmh``
call with an empty disk cache, then in a new process with the cache the first one left
(fastmc/_numba/_cache.py), on the target of tests/test_numba_cache.py (a banana in a file).

Run: ``python bench/bench_compile.py`` (a table on stdout) or ``pytest bench/bench_compile.py -s``.
Each row is one subprocess: the time from before the first sampler call to after the second
(both compile, or both load), excluding Python's start and fastmc's import.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import test_numba_cache as tnc  # noqa: E402


def measure(repeats: int = 2) -> list[tuple[str, float, int]]:
    """[(case, seconds, cache hits)] for ``repeats`` pairs of (empty cache, cached) processes."""
    rows = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "src").mkdir()
            (tmp / "src" / "model.py").write_text(tnc._MODEL)
            (tmp / "child.py").write_text(tnc._CHILD)
            for case in ("first process (empty cache)", "next process (cached)"):
                out = tnc._run(tmp, 5.0, tmp / "draws.npy", tmp / "cache")
                rows.append((case, out["seconds"], out["hits"]))
    return rows


def test_compile_once(benchmark):
    rows = benchmark.pedantic(measure, kwargs=dict(repeats=1), rounds=1, iterations=1)
    benchmark.extra_info["rows"] = rows
    assert rows[1][2] == 2


if __name__ == "__main__":
    print(f"{'case':<30} {'seconds':>8} {'hits':>5}")
    for case, s, hits in measure():
        print(f"{case:<30} {s:8.2f} {hits:5d}")
