"""Executors: the same campaign gives the same bytes whichever executor ran it, a worker's
Ctrl-C stops the pool and leaves only finished runs behind, and the optional ones fail with
a one-line instruction when their library is missing.

The identical-results test runs tests/sim/fake_run.py; with the real run function
(netstack.sim.run.run_scenario) it is the issue's "results are identical whichever executor
ran them" check.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
import types
from pathlib import Path

import pytest

from netstack.errors import ConfigError
from netstack.sim.campaign import Campaign
from netstack.sim.executors import (
    DaskExecutor,
    ProcessExecutor,
    RayExecutor,
    SerialExecutor,
    executor_from_name,
)
from tests.sim.fake_run import BASE, fake_run, logged_run

GRID = {"cc": ["newreno", "cubic"], "links.bottleneck.up.queue.packets": [50, 100]}


def square(x: int) -> int:
    return x * x


def slow_for_small(x: float) -> float:
    time.sleep(x)
    return x


def worker_pid(_: object) -> int:
    return os.getpid()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def metrics_digests(campaign: Campaign) -> dict[str, str]:
    return {p.hash: hashlib.sha256((campaign.run_dir(p) / "metrics.json").read_bytes()).hexdigest()
            for p in campaign.points()}


def test_serial_and_process_executors_return_every_result():
    items = list(range(10))
    assert list(SerialExecutor().map(square, items)) == [x * x for x in items]
    with ProcessExecutor(workers=2) as executor:
        assert sorted(executor.map(square, items)) == [x * x for x in items]
        assert executor.start_method in ("forkserver", "spawn")


def test_the_process_pool_yields_in_completion_order():
    with ProcessExecutor(workers=2) as executor:
        assert list(executor.map(slow_for_small, [0.6, 0.0])) == [0.0, 0.6]


def test_an_error_in_a_worker_comes_out_of_map():
    with pytest.raises(ValueError, match="three"):
        list(ProcessExecutor(workers=2).map(fail_on_three, [1, 2, 3, 4]))


def test_the_same_campaign_gives_identical_bytes_under_serial_process_and_dask(tmp_path):
    pytest.importorskip("dask.distributed")
    digests = {}
    for name in ("serial", "process", "dask"):
        campaign = Campaign(tmp_path / name, BASE, GRID, 2, run_fn=fake_run, complete=None)
        began = time.perf_counter()
        with executor_from_name(name, workers=2) as executor:
            reports = campaign.run_missing(executor)
            pids = set(executor.map(worker_pid, range(4)))
        assert (os.getpid() in pids) == (name == "serial")  # the others ran elsewhere
        assert len(reports) == 8 and all(r.error is None for r in reports), reports
        assert time.perf_counter() - began < 30, f"{name} took too long"
        digests[name] = metrics_digests(campaign)
        assert campaign.missing() == []
    assert len(digests["serial"]) == 8
    assert digests["process"] == digests["serial"]
    assert digests["dask"] == digests["serial"]


def test_a_ctrl_c_in_a_worker_stops_the_pool_and_the_campaign_resumes(tmp_path):
    reference = Campaign(tmp_path / "reference", BASE, GRID, 3, run_fn=fake_run, complete=None)
    reference.run_missing("serial")

    campaign = Campaign(tmp_path / "c", BASE, GRID, 3, run_fn=logged_run, complete=None)
    (tmp_path / "c" / "interrupt").touch()  # logged_run raises KeyboardInterrupt at seed 2
    with pytest.raises(KeyboardInterrupt):
        campaign.run_missing(ProcessExecutor(workers=2))
    missing = campaign.missing_points()
    assert 1 <= len(missing) < 12
    calls_before = (tmp_path / "c" / "calls.log").read_text().split()

    reports = campaign.run_missing("serial")
    calls_after = (tmp_path / "c" / "calls.log").read_text().split()[len(calls_before):]
    assert sorted(calls_after) == sorted(p.hash for p in missing)  # only the missing ones
    assert len(reports) == len(missing)
    assert metrics_digests(campaign) == metrics_digests(reference)
    assert campaign.results() == reference.results()


def test_executor_names():
    assert isinstance(executor_from_name("serial"), SerialExecutor)
    process = executor_from_name("process", workers=3)
    assert isinstance(process, ProcessExecutor) and process.workers == 3
    remote = executor_from_name("dask://scheduler.example:8786")
    assert isinstance(remote, DaskExecutor) and remote.address == "tcp://scheduler.example:8786"
    assert executor_from_name("dask").address is None
    for bad, message in [("threads", "unknown (executors: serial, process"),
                         ("dask://", "expected dask://HOST:PORT")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            executor_from_name(bad)
    with pytest.raises(ConfigError, match="--workers: at least 1"):
        executor_from_name("process", workers=0)


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(ConfigError, match=r"^ray is not installed: pip install ray$"):
        executor_from_name("ray")


def fake_ray_module() -> types.ModuleType:
    """Enough of ray's API to drive the adapter: tasks run when they are submitted."""
    ray = types.ModuleType("ray")
    state = {"initialized": False, "shutdown": 0, "init": None}

    class Ref:
        def __init__(self, value):
            self.value = value

    def remote(**options):
        def wrap(fn):
            return types.SimpleNamespace(remote=lambda item: Ref(fn(item)))
        return wrap

    def init(**kwargs):
        state.update(initialized=True, init=kwargs)

    def shutdown():
        state.update(initialized=False, shutdown=state["shutdown"] + 1)

    ray.__dict__.update(
        state=state, remote=remote, init=init, shutdown=shutdown,
        is_initialized=lambda: state["initialized"],
        wait=lambda refs, num_returns: (refs[-num_returns:], refs[:-num_returns]),
        get=lambda ref: ref.value, cancel=lambda ref, force: None)
    return ray


def test_the_ray_adapter_runs_a_campaign(tmp_path, monkeypatch):
    ray = fake_ray_module()
    monkeypatch.setitem(sys.modules, "ray", ray)
    campaign = Campaign(tmp_path / "c", BASE, GRID, 1, run_fn=fake_run, complete=None)
    with executor_from_name("ray", workers=2) as executor:
        assert isinstance(executor, RayExecutor)
        assert len(campaign.run_missing(executor)) == 4
    assert ray.state["init"]["num_cpus"] == 2 and ray.state["shutdown"] == 1
    assert campaign.missing() == []
    assert Path(campaign.run_dir(campaign.points()[0]), "metrics.json").exists()


# A small real scenario (the lead's run.py): 2 virtual seconds through a 10 Mbit/s link whose
# short queue overflows (so recovery and retransmissions are exercised).
TINY = {"name": "tiny", "duration": 2, "topology": {"kind": "p2p"},
        "links": {"path": {"rate": "10mbps", "delay": "10ms",
                           "queue": {"kind": "droptail", "packets": 30}}},
        "flows": [{"kind": "bulk", "src": "a", "dst": "b", "cc": "newreno"}]}


def run_files(campaign: Campaign) -> dict[str, str]:
    """sha256 of every file every run wrote (plots aside: their metadata may vary)."""
    digests = {}
    for point in campaign.points():
        root = campaign.run_dir(point)
        for path in sorted(root.rglob("*")):
            if path.is_file() and "plots" not in path.relative_to(root).parts:
                digests[str(path.relative_to(campaign.runs_dir))] = \
                    hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def test_real_runs_are_byte_identical_under_serial_process_and_dask(tmp_path):
    """The issue's check: each run is a pure function, scenario -> directory."""
    run = pytest.importorskip("netstack.sim.run")
    scenario = pytest.importorskip("netstack.sim.scenario")
    pytest.importorskip("dask.distributed")
    base = scenario.complete(TINY)
    grid = {"cc": ["newreno", "cubic"]}
    digests = {}
    for name in ("serial", "process", "dask"):
        campaign = Campaign(tmp_path / name, base, grid, [7], run_fn=run.run_scenario)
        with executor_from_name(name, workers=2) as executor:
            reports = campaign.run_missing(executor)
        assert [r.error for r in reports] == [None, None]
        digests[name] = run_files(campaign)
    assert any(key.endswith("metrics.json") for key in digests["serial"])
    assert any(key.endswith(".pcap") for key in digests["serial"])
    assert digests["process"] == digests["serial"]
    assert digests["dask"] == digests["serial"]
