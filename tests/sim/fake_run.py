"""A stand-in for run.run_scenario: the same contract (scenario in, <out>/<hash>/ out, with
scenario.json and metrics.json, metrics.json written last by rename), and metrics that are a
deterministic function of the scenario, so campaign tests run in milliseconds.

Module-level functions only: executors pickle them by reference into other processes.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from netstack.sim.scenario_hash import canonical_json, scenario_hash

# A complete-looking scenario: a TCP flow, a ping, a bottleneck with a finite queue.
BASE = {
    "name": "fake",
    "seed": 1,
    "duration": 10.0,
    "links": {"bottleneck": {
        "up": {"rate": {"kind": "constant", "bps": 10e6}, "delay": 0.02,
               "queue": {"kind": "droptail", "packets": 100, "bytes": None}},
        "down": {"rate": {"kind": "constant", "bps": 10e6}, "delay": 0.02,
                 "queue": {"kind": "droptail", "packets": 100, "bytes": None}}}},
    "flows": [
        {"name": "flow0", "kind": "bulk", "src": "s0", "dst": "r0", "cc": "newreno"},
        {"name": "flow1", "kind": "bulk", "src": "s1", "dst": "r1", "cc": "newreno"},
        {"name": "ping2", "kind": "ping", "src": "s0", "dst": "r0", "interval": 0.1},
    ],
}

CC_EFFICIENCY = {"newreno": 0.90, "cubic": 0.95, "bbr": 0.97}


def fake_metrics(scenario: dict) -> dict:
    rng = random.Random(int(scenario_hash(scenario), 16))
    link = scenario["links"]["bottleneck"]["up"]
    rate = link["rate"]["bps"]
    packets = link["queue"]["packets"] or 100
    flows, total_bps = {}, 0.0
    tcp = [f for f in scenario["flows"] if "cc" in f]
    for flow in tcp:
        share = rate / len(tcp) * CC_EFFICIENCY[flow["cc"]] * rng.uniform(0.97, 1.03)
        total_bps += share
        flows[flow["name"]] = {
            "goodput_bps": share * 0.98, "throughput_bps": share,
            "delay_p95_ms": 1000 * link["delay"] + packets * 1.2 * rng.uniform(0.9, 1.1),
            "rtt_mean_ms": 40 + packets * rng.uniform(0.5, 0.7), "loss_rate": rng.uniform(0, 0.02),
            "fct_s": [], "retransmits": rng.randrange(50), "rtos": rng.randrange(3)}
    delays = [f["delay_p95_ms"] for f in flows.values()]
    return {
        "flows": flows,
        "links": {"bottleneck.up": {"utilization": total_bps / rate, "drops": rng.randrange(100),
                                    "queue_delay_p95_ms": packets * 1.2, "losses": 0}},
        "total": {"goodput_bps": total_bps * 0.98, "throughput_bps": total_bps,
                  "delay_p95_ms": max(delays), "jain_index": rng.uniform(0.95, 1.0),
                  "loss_rate": rng.uniform(0, 0.02), "retransmits": rng.randrange(100),
                  "rtos": rng.randrange(5)}}


def fake_run(scenario: dict, out_dir: str) -> Path:
    run_dir = Path(out_dir) / scenario_hash(scenario)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "scenario.json").write_text(canonical_json(scenario) + "\n")
    partial = run_dir / "metrics.json.partial"
    partial.write_text(json.dumps(fake_metrics(scenario), sort_keys=True, indent=1) + "\n")
    partial.replace(run_dir / "metrics.json")
    return run_dir


def logged_run(scenario: dict, out_dir: str) -> Path:
    """fake_run that appends each call to <campaign>/calls.log (any process may call it) and
    raises KeyboardInterrupt, once, for seed 2 while the file <campaign>/interrupt exists."""
    campaign = Path(out_dir).parent
    fd = os.open(campaign / "calls.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (scenario_hash(scenario) + "\n").encode())
    finally:
        os.close(fd)
    if scenario["seed"] == 2:
        try:
            os.remove(campaign / "interrupt")
        except FileNotFoundError:
            pass
        else:
            raise KeyboardInterrupt
    return fake_run(scenario, out_dir)


def failing_run(scenario: dict, out_dir: str) -> Path:
    """fake_run, except that every cubic run fails."""
    if any(f.get("cc") == "cubic" for f in scenario["flows"]):
        raise ValueError("cubic is broken today")
    return fake_run(scenario, out_dir)


def misnamed_run(scenario: dict, out_dir: str) -> Path:
    """A run function that changes the scenario before naming its directory."""
    return fake_run({**scenario, "extra": 1}, out_dir)
