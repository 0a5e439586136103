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
    # BEGIN SOLUTION: bits over seconds, in millions; guard against a zero duration
    if seconds <= 0:
        return 0.0
    return nbytes * 8 / seconds / 1e6
    # END SOLUTION


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or
    below it (p in (0, 100]); ValueError for no values."""
    # BEGIN SOLUTION: sort; rank = ceil(p/100 * n), at least 1; the value at that rank
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
    # END SOLUTION


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One direction's runs -> {"runs", "intact" (sha256 equal), "median_mbps", "p95_seconds",
    "retransmissions" (total)}; goodput and times only over the intact runs."""
    # BEGIN SOLUTION: count the intact runs (received_sha == expected_sha); the median (percentile 50) of their goodputs; the 95th percentile of their seconds; the sum of retransmissions over all runs
    intact = [r for r in runs if r.get("received_sha") and
              r.get("received_sha") == r.get("expected_sha")]
    rates = [goodput_mbps(int(r["bytes"]), float(r["seconds"])) for r in intact]
    return {
        "runs": len(runs),
        "intact": len(intact),
        "median_mbps": percentile(rates, 50) if rates else 0.0,
        "p95_seconds": percentile([float(r["seconds"]) for r in intact], 95) if intact else 0.0,
        "retransmissions": sum(int(r.get("retransmissions", 0)) for r in runs),
    }
    # END SOLUTION


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
