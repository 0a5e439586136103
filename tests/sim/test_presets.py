"""Every preset, run in full, against golden metrics checked in with the code.

The golden values are what this stack measured when they were recorded; a change to TCP or
to the link models that moves them by more than the tolerance fails here, on purpose, so
the change is looked at. After an intended change, record them again:

    python -m tests.sim.test_presets --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from netstack.sim.metrics import run_metrics
from netstack.sim.presets import preset
from netstack.sim.run import simulate

GOLDEN = Path(__file__).with_name("golden") / "presets.json"
PRESETS = ["pantheon-12mbps", "bufferbloat", "fairness-2", "lossy-link", "cellular"]
# (metric path, relative tolerance): what each preset is about
CHECKS = {
    "pantheon-12mbps": [("total.goodput_bps", 0.05), ("total.delay_p95_ms", 0.15),
                        ("links.path.up.utilization", 0.05)],
    "bufferbloat": [("flows.bulk.goodput_bps", 0.05), ("flows.ping.rtt_p50_ms", 0.15),
                    ("links.bottleneck.up.queue_delay_p95_ms", 0.10)],
    "fairness-2": [("total.goodput_bps", 0.05), ("total.jain_index", 0.05)],
    "lossy-link": [("total.goodput_bps", 0.20), ("total.loss_rate", 0.30)],
    "cellular": [("total.goodput_bps", 0.10), ("links.path.up.queue_delay_p95_ms", 0.25)],
}


def measure(name: str) -> dict:
    _, record = simulate(preset(name))
    metrics = run_metrics(record)
    return {path: _lookup(metrics, path) for path, _ in CHECKS[name]}


def _lookup(metrics: dict, path: str):
    head, _, rest = path.partition(".")
    table = metrics[head]
    if head == "total":
        return table[rest]
    for name in sorted(table, key=len, reverse=True):  # link names contain dots
        if rest.startswith(name + "."):
            return table[name][rest[len(name) + 1:]]
    raise KeyError(path)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_matches_its_golden_metrics(name):
    golden = json.loads(GOLDEN.read_text())[name]
    measured = measure(name)
    for path, tolerance in CHECKS[name]:
        expected, got = golden[path], measured[path]
        assert got == pytest.approx(expected, rel=tolerance), (
            f"{name} {path}: measured {got}, golden {expected} (±{tolerance:.0%}); if the "
            "change is intended: python -m tests.sim.test_presets --update")


if __name__ == "__main__" and "--update" in sys.argv:
    GOLDEN.parent.mkdir(exist_ok=True)
    values = {name: measure(name) for name in PRESETS}
    GOLDEN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
