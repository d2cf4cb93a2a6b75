"""Benchmark plumbing: every benchmark compiles and warms up outside the timed rounds and records
its throughput; the session ends with a table of ratios against the baseline measured in the same
run, next to the goal each issue names."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = {}  # (group, variant) -> dict(rate=..., unit=...)
GOALS = []  # (label, numerator key, denominator key, minimum ratio)


def record(group, variant, rate, unit):
    RESULTS[(group, variant)] = dict(rate=rate, unit=unit)


def goal(label, num, den, minimum):
    GOALS.append((label, num, den, minimum))


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("fastmc throughput (best round)")
    for (group, variant), r in sorted(RESULTS.items()):
        tr.write_line(f"{group:28s} {variant:22s} {r['rate']:>14,.0f} {r['unit']}")
    if GOALS:
        tr.section("ratios measured in this run against the goals")
        for label, num, den, minimum in GOALS:
            if num in RESULTS and den in RESULTS:
                ratio = RESULTS[num]["rate"] / RESULTS[den]["rate"]
                verdict = "meets" if ratio >= minimum else "BELOW"
                tr.write_line(f"{label:48s} {ratio:6.2f}x  (goal >= {minimum:.2f}x: {verdict})")
