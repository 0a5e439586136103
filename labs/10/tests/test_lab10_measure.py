"""Lab 10: measure.py, the statistics of your writeup's table (the module alone)."""

from __future__ import annotations

from labs.kit import student_module
from labs.kit.checks import Checks

REFERENCE = "labs.reference.capstone_measure"


def measure(checks: Checks):
    return checks.run("import measure.py", lambda: student_module("measure", REFERENCE))


def run(direction: str, nbytes: int, seconds: float, intact: bool = True, resent: int = 0):
    return {"direction": direction, "bytes": nbytes, "seconds": seconds,
            "expected_sha": "ab" * 32, "received_sha": "ab" * 32 if intact else "cd" * 32,
            "retransmissions": resent}


def test_goodput_in_megabits_per_second(variant):
    """1 MB in 0.5 s is 16.777216 Mbit/s; no time at all is 0.0, not a crash."""
    checks = Checks("measure.py alone", variant)
    m = measure(checks)
    checks.check("goodput_mbps(1048576, 0.5)", lambda: round(m.goodput_mbps(1 << 20, 0.5), 6),
                 16.777216)
    checks.check("goodput_mbps(1000, 0.0)", lambda: m.goodput_mbps(1000, 0.0), 0.0)


def test_nearest_rank_percentile(variant):
    """Nearest rank: of 1..10, p50 is 5, p95 is 10, p10 is 1; one value is every percentile."""
    checks = Checks("measure.py alone", variant)
    m = measure(checks)
    values = [7.0, 3.0, 10.0, 1.0, 5.0, 2.0, 9.0, 4.0, 8.0, 6.0]
    checks.check("percentile(1..10, 50)", lambda: m.percentile(values, 50), 5.0)
    checks.check("percentile(1..10, 95)", lambda: m.percentile(values, 95), 10.0)
    checks.check("percentile(1..10, 10)", lambda: m.percentile(values, 10), 1.0)
    checks.check("percentile([4.5], 99)", lambda: m.percentile([4.5], 99), 4.5)
    checks.check_raises("percentile([], 50)", lambda: m.percentile([], 50), (ValueError,))


def test_summary_counts_only_intact_runs_for_speed(variant):
    """Three runs, one corrupted: two intact; the median and p95 come from those two; the
    retransmissions add up over all three."""
    checks = Checks("measure.py alone", variant)
    m = measure(checks)
    runs = [run("yours -> kernel", 1 << 20, 0.5, resent=3),
            run("yours -> kernel", 1 << 20, 1.0, resent=4),
            run("yours -> kernel", 1 << 20, 0.1, intact=False, resent=5)]
    checks.check("summarize(runs)", lambda: {k: round(v, 6) if isinstance(v, float) else v
                                             for k, v in m.summarize(runs).items()},
                 {"runs": 3, "intact": 2, "median_mbps": 8.388608, "p95_seconds": 1.0,
                  "retransmissions": 12})


def test_the_writeup_table_has_a_row_per_direction(variant):
    """table(): the header, then one row per direction in the order the runs came."""
    checks = Checks("measure.py alone", variant)
    m = measure(checks)
    evidence = {"runs": [run("yours -> kernel", 1 << 20, 0.5), run("kernel -> yours", 1 << 20, 0.25),
                         run("yours -> kernel", 1 << 20, 0.5)]}
    rows = checks.run("table(evidence)", lambda: m.table(evidence)).splitlines()
    checks.check("rows", lambda: len(rows), 4)
    checks.check("row 3", lambda: rows[2], "| yours -> kernel | 2 | 2 | 16.78 | 0.500 | 0 |")
    checks.check("row 4", lambda: rows[3], "| kernel -> yours | 1 | 1 | 33.55 | 0.250 | 0 |")
