"""Experiments in virtual time: how much faster than real time, and how long sweeps take.

Each row's reference is real time itself: a run of V virtual seconds that takes W wall
seconds is V/W times faster than real time (the ratio). The grid and campaign rows are
wall-clock totals against the issue's budgets, on every core the machine has.
"""

from __future__ import annotations

import os
import tempfile
import time

from netstack.bench.common import Result, Settings, Target, progress


def _bulk(rate: str, seconds: float) -> dict:
    """One bulk flow, 40 ms RTT, a 100-frame drop-tail queue, every probe on."""
    return {"name": f"bench-{rate}", "seed": 1, "duration": seconds, "topology": {"kind": "p2p"},
            "links": {"path": {"rate": rate, "delay": "20ms",
                               "queue": {"kind": "droptail", "packets": 100}}},
            "flows": [{"kind": "bulk", "src": "a", "dst": "b", "cc": "cubic"}]}


def _speedup(name: str, scenario: dict, target: float, out: str) -> Result:
    from netstack.sim.run import run_scenario

    progress(f"sim: {name} ...")
    began, began_cpu = time.perf_counter(), time.process_time()
    run_scenario(scenario, out)
    wall = time.perf_counter() - began
    cpu = time.process_time() - began_cpu
    # The ratio is against wall time; the CPU figure says what one core does when other
    # work shares the machine (wall > cpu then), so a noisy run can still be read.
    return Result(name=name, unit="x real time", subject_label="netstack sim",
                  subject=scenario["duration"] / wall, reference_label="real time", reference=1.0,
                  higher_is_better=True, target=Target(target),
                  details={"virtual_s": scenario["duration"], "wall_s": round(wall, 2),
                           "cpu_s": round(cpu, 2),
                           "x_real_time_per_cpu_s": round(scenario["duration"] / cpu, 2)})


def _campaign_wall(name: str, base: dict, grid: dict, seeds: list[int], budget: float | None,
                   out: str) -> Result:
    from netstack.sim.campaign import Campaign
    from netstack.sim.executors import executor_from_name

    runs = len(seeds) * max(1, _product(len(v) for v in grid.values()))
    progress(f"sim: {name} ({runs} runs on {os.cpu_count()} cores) ...")
    campaign = Campaign(os.path.join(out, name.replace(" ", "-")), base, grid, seeds)
    began = time.perf_counter()
    campaign.run_missing(executor=executor_from_name("process"))
    wall = time.perf_counter() - began
    virtual = runs * base["duration"]
    return Result(name=name, unit="s", subject_label="wall", subject=wall,
                  reference_label="virtual", reference=virtual, higher_is_better=False,
                  target=None if budget is None else Target(budget, at_least=False,
                                                            on="subject", unit="s"),
                  details={"runs": runs, "cores": os.cpu_count()})


def _product(values) -> int:
    total = 1
    for v in values:
        total *= v
    return total


def bench_sim(settings: Settings) -> list[Result]:
    seconds, grid_seconds = settings.sim_seconds, settings.sim_grid_seconds
    quick = seconds < 60
    with tempfile.TemporaryDirectory(prefix="netstack-bench-sim-") as out:
        results = [
            _speedup(f"sim {seconds:g} s, 10 Mbit/s, 40 ms, one flow", _bulk("10mbps", seconds),
                     12.0, out),
            _speedup(f"sim {seconds:g} s, 100 Mbit/s", _bulk("100mbps", seconds), 1.3, out),
        ]
        pantheon = {"name": "grid", "duration": grid_seconds, "topology": {"kind": "p2p"},
                    "links": {"path": {"rate": "12mbps", "delay": "30ms",
                                       "queue": {"kind": "droptail", "bytes": 45000}}},
                    "flows": [{"kind": "bulk", "src": "a", "dst": "b", "cc": "newreno"}]}
        results.append(_campaign_wall(
            f"grid 2 cc x 3 seeds x {grid_seconds:g} s", pantheon,
            {"flows.0.cc": ["newreno", "cubic"]}, [1, 2, 3], None if quick else 20.0, out))
        runs = settings.sim_campaign_runs
        small = {**pantheon, "duration": 5.0}
        queues = [20, 50, 100, 200, 400]
        per_cell = max(1, runs // (2 * len(queues)))
        results.append(_campaign_wall(
            f"campaign of {2 * len(queues) * per_cell} runs", small,
            {"flows.0.cc": ["newreno", "cubic"],
             "links.path.queue": [{"kind": "droptail", "packets": q} for q in queues]},
            list(range(1, per_cell + 1)), 180.0 if runs >= 100 else None, out))
    return results
