# Lab 10 starter, generated from labs/reference/capstone_measure.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""The capstone's measurement script: numbers for your writeup from the real step's evidence.

`netstack lab real 10` moves a megabyte each way between your stack and the Linux kernel,
several times, and records each run in evidence/evidence.json ("runs": direction, bytes,
seconds, sha256 values, retransmissions). This script turns those runs into the table your
WRITEUP.md asks for:

    python measure.py evidence            # prints a Markdown table, one row per direction

You write the statistics (labs/10/tests/test_lab10_measure.py checks them): goodput, the
nearest-rank percentile, and the summary of one direction's runs.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any


def goodput_mbps(nbytes: int, seconds: float) -> float:
    """Application bytes delivered per second, in Mbit/s (10**6 bits); 0.0 for no time."""
    # TODO(lab 10): bits over seconds, in millions; guard against a zero duration
    raise NotImplementedError("lab 10: goodput_mbps")


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or
    below it (p in (0, 100]); ValueError for no values."""
    # TODO(lab 10): sort; rank = ceil(p/100 * n), at least 1; the value at that rank
    raise NotImplementedError("lab 10: percentile")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One direction's runs -> {"runs", "intact" (sha256 equal), "median_mbps", "p95_seconds",
    "retransmissions" (total)}; goodput and times only over the intact runs."""
    # TODO(lab 10): count the intact runs (received_sha == expected_sha); the median (percentile 50) of their goodputs; the 95th percentile of their seconds; the sum of retransmissions over all runs
    raise NotImplementedError("lab 10: summarize")


def table(evidence: dict[str, Any]) -> str:
    """The Markdown table of the writeup: one row per direction, in the order first seen."""
    directions: dict[str, list[dict[str, Any]]] = {}
    for run in evidence.get("runs", []):
        directions.setdefault(run["direction"], []).append(run)
    lines = ["| direction | runs | sha256 equal | median Mbit/s | p95 seconds | retransmissions |",
             "|---|---|---|---|---|---|"]
    for direction, runs in directions.items():
        s = summarize(runs)
        lines.append(f"| {direction} | {s['runs']} | {s['intact']} | {s['median_mbps']:.2f} | "
                     f"{s['p95_seconds']:.3f} | {s['retransmissions']} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    folder = argv[1] if len(argv) > 1 else "evidence"
    with open(os.path.join(folder, "evidence.json"), encoding="utf-8") as f:
        print(table(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
