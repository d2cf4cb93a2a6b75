"""Benchmark plumbing: every benchmark compiles and warms up outside the timed rounds and records
its throughput; the session ends with a table of ratios against the baseline measured in the same
run, next to the goal each issue names."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = {}  # (group, variant) -> dict(rate=..., unit=...)
GOALS = []  # (label, numerator key, denominator key, minimum ratio, maximum ratio or None)


def record(group, variant, rate, unit):
    RESULTS[(group, variant)] = dict(rate=rate, unit=unit)


def goal(label, num, den, minimum, maximum=None):
    GOALS.append((label, num, den, minimum, maximum))


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("measured in this run (throughput: best round; NUTS runs: median of the repetitions)")
    for (group, variant), r in sorted(RESULTS.items()):
        rate = f"{r['rate']:>14,.0f}" if abs(r["rate"]) >= 100 else f"{r['rate']:>14.3g}"
        tr.write_line(f"{group:28s} {variant:22s} {rate} {r['unit']}")
    if GOALS:
        tr.section("ratios measured in this run against the goals")
        for label, num, den, minimum, maximum in GOALS:
            if num in RESULTS and den in RESULTS:
                ratio = RESULTS[num]["rate"] / RESULTS[den]["rate"]
                if maximum is None:
                    verdict = "meets" if ratio >= minimum else "BELOW"
                    tr.write_line(f"{label:48s} {ratio:6.2f}x  (goal >= {minimum:.2f}x: {verdict})")
                else:
                    verdict = "meets" if minimum <= ratio <= maximum else ("BELOW" if ratio < minimum else "ABOVE")
                    tr.write_line(f"{label:48s} {ratio:6.2f}x  (goal {minimum:.2f}x-{maximum:.2f}x: {verdict})")
            elif num in RESULTS or den in RESULTS:  # one side measured: say which is missing (a skipped peer)
                missing = " and ".join(f"{k[0]} / {k[1]}" for k in (num, den) if k not in RESULTS)
                tr.write_line(f"{label:48s} not measured ({missing} missing)")
