"""Lab 9's contest: your congestion control on the experiment toolkit's presets, in virtual
time, scored on throughput against delay.

Each preset (netstack/sim/presets.py) runs for a few virtual seconds with every TCP
connection of every host using your class (the stack's `congestion_factory`, which
overrides the preset's cc = "cubic"/"newreno"). From each run's metrics:

    goodput     Mbit/s delivered to the receiving applications, over all flows
    p95 delay   the 95th percentile of the one-way delay of the flows' data frames, in ms
    power       goodput / p95 delay (Kleinrock's power: more data, less queueing)

The score is the mean over the presets of log10(power in Mbit/s per second of delay), so
doubling goodput and halving delay count the same, on every preset alike.

The contest races `Reno` from your congestion.py unless that module names another class as
`CONTEST = MyAlgorithm` (the optional part of the lab: your own algorithm). Run it by hand
with longer runs from your work folder:

    PYTHONPATH=. python <checkout>/labs/09/tests/lab09_contest.py --duration 20
    python labs/09/tests/lab09_contest.py --class netstack.stages.tcp.cubic:Cubic

With NETSTACK_LAB_LEADERBOARD naming a file, the test appends the results there as JSON
lines {"name", "value", "order"} (the grader turns them into Gradescope's leaderboard).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from netstack.units import UNITS, load

LEADERBOARD_ENV = "NETSTACK_LAB_LEADERBOARD"
PRESETS = ("lossy-link", "bufferbloat", "fairness-2", "pantheon-12mbps", "cellular")
CI_DURATION = 4.0  # virtual seconds per preset in the graded test: about 4 s of CPU in all


def contest_class(path: str | None = None) -> Any:
    """The class to race: `path` ("module:Class"), else the graded congestion unit's module's
    CONTEST attribute if it has one, else the unit itself (Reno)."""
    if path:
        return load(path, "the contest's class")
    from labs.kit import graded_impl

    unit = graded_impl().get("congestion", UNITS["congestion"].reference)
    module = importlib.import_module(unit.partition(":")[0])
    chosen = getattr(module, "CONTEST", None)
    return chosen if chosen is not None else load(unit, "unit congestion")


@dataclass
class Result:
    preset: str
    goodput_mbps: float
    delay_p95_ms: float
    retransmits: int
    connections: int  # made with the class under test

    @property
    def power(self) -> float:
        return self.goodput_mbps / max(self.delay_p95_ms, 1e-3) * 1000.0

    def line(self) -> str:
        return (f"{self.preset:16s} goodput {self.goodput_mbps:7.3f} Mbit/s   p95 delay "
                f"{self.delay_p95_ms:8.2f} ms   power {self.power:9.1f}   retransmits "
                f"{self.retransmits}")


def run_preset(name: str, cls: Any, duration: float) -> Result:
    """One preset, shortened to `duration`, every TCP connection using `cls`."""
    from netstack.sim.link.spec import parse_duration
    from netstack.sim.metrics import run_metrics
    from netstack.sim.presets import preset
    from netstack.sim.run import simulate

    scenario = preset(name)
    if scenario is None:
        raise ValueError(f"no preset named {name!r}")
    scenario["duration"] = duration
    for flow in scenario["flows"]:  # flows that would start after the end are left out
        flow["start"] = min(parse_duration(flow.get("start", 0.0), "start"), duration / 4)
    scenario["probes"] = {"tcp_info": False, "queues": False}
    made: list[Any] = []

    def factory(mss: int) -> Any:
        cc = cls(mss)
        made.append(cc)
        return cc

    def before(run: Any) -> None:
        for host in run.net.hosts.values():
            host.stack.tcp.congestion_factory = factory

    _, record = simulate(scenario, before=before)
    total = run_metrics(record)["total"]
    delay = total.get("delay_p95_ms")
    return Result(name, total["goodput_bps"] / 1e6, float(delay) if delay is not None else math.inf,
                  int(total["retransmits"]), len(made))


def score(results: list[Result]) -> float:
    return sum(math.log10(max(r.power, 1e-9)) for r in results) / len(results)


def leaderboard(results: list[Result]) -> list[dict[str, Any]]:
    """Gradescope's leaderboard entries: the score first, then each preset's numbers."""
    entries: list[dict[str, Any]] = [{"name": "score (mean log10 power)",
                                      "value": round(score(results), 4), "order": "desc"}]
    for r in results:
        entries.append({"name": f"{r.preset} Mbit/s", "value": round(r.goodput_mbps, 3),
                        "order": "desc"})
        entries.append({"name": f"{r.preset} p95 delay ms", "value": round(r.delay_p95_ms, 2),
                        "order": "asc"})
    return entries


def write_leaderboard(results: list[Result]) -> str | None:
    path = os.environ.get(LEADERBOARD_ENV)
    if not path:
        return None
    with open(path, "a", encoding="utf-8") as f:
        for entry in leaderboard(results):
            f.write(json.dumps(entry) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=CI_DURATION,
                        help=f"virtual seconds per preset (default {CI_DURATION:g})")
    parser.add_argument("--class", dest="path", metavar="MODULE:CLASS",
                        help="race this class instead of the graded unit's")
    parser.add_argument("--preset", action="append", choices=PRESETS,
                        help="only these presets (repeatable; default: all five)")
    args = parser.parse_args(argv)
    cls = contest_class(args.path)
    print(f"racing {cls.__module__}.{cls.__qualname__}, {args.duration:g} s virtual per preset")
    results = []
    for name in args.preset or PRESETS:
        results.append(run_preset(name, cls, args.duration))
        print(results[-1].line(), flush=True)
    print(f"score (mean log10 power): {score(results):.4f}")
    written = write_leaderboard(results)
    if written:
        print(f"leaderboard entries appended to {written}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    sys.exit(main())
