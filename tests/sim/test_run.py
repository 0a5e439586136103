"""A run directory: what it holds, that tshark-style readers can read it, and that the
same scenario gives the same bytes, run twice or in another process."""

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from netstack.engine.pcapfile import MAGIC_NANOSECONDS, read_pcap
from netstack.sim.run import run_scenario
from netstack.sim.scenario import complete

SMALL = {
    "name": "small", "seed": 5, "duration": 3.0, "topology": {"kind": "dumbbell", "pairs": 1},
    "links": {"bottleneck": {"rate": "5mbps", "delay": "5ms", "loss": 0.01,
                             "queue": {"kind": "droptail", "packets": 20}}},
    "flows": [{"kind": "bulk", "src": "s0", "dst": "r0", "cc": "cubic"},
              {"kind": "ping", "src": "s0", "dst": "r0", "interval": 0.2},
              {"kind": "fetch", "src": "r0", "dst": "s0", "response": 20_000, "interval": 0.5}],
}
COMPARED = ("metrics.json", "links/*.log", "pcaps/*.pcap", "series/*.csv", "queues/*.csv",
            "delays/*.csv", "scenario.json")


def digests(run_dir: Path) -> dict[str, str]:
    out = {}
    for pattern in COMPARED:
        for path in sorted(run_dir.glob(pattern)):
            out[str(path.relative_to(run_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _run_in_child(out: str) -> dict[str, str]:
    return digests(run_scenario(SMALL, out))


def test_the_run_directory_holds_every_output(tmp_path):
    run_dir = run_scenario(SMALL, tmp_path)
    assert run_dir.name == run_dir.name.lower() and len(run_dir.name) == 16
    scenario = json.loads((run_dir / "scenario.json").read_text())
    assert scenario == complete(SMALL)
    assert scenario["seed"] == 5 and scenario["netstack_version"] and scenario["python_version"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= {"flows", "links", "total"}
    assert metrics["flows"]["bulk0"]["goodput_bps"] > 1e6
    assert (run_dir / "series" / "bulk0.csv").read_text().startswith("time,cwnd,")
    assert (run_dir / "queues" / "bottleneck.up.csv").exists()
    assert (run_dir / "links" / "bottleneck.up.log").read_text().startswith("#")
    pcaps = sorted((run_dir / "pcaps").glob("*.pcap"))
    assert len(pcaps) == 6  # three links, two ends each
    first = pcaps[0].read_bytes()[:4]
    assert int.from_bytes(first, "little") == MAGIC_NANOSECONDS
    times = [t for t, _ in read_pcap(str(run_dir / "pcaps" / "bottleneck-left.pcap"))]
    assert times and times == sorted(times) and times[-1] <= 3.0  # virtual seconds
    assert not list(tmp_path.glob("*.partial"))


def test_the_same_scenario_gives_the_same_bytes_here_and_in_a_process_pool(tmp_path):
    first = digests(run_scenario(SMALL, tmp_path / "one"))
    second = digests(run_scenario(SMALL, tmp_path / "two"))
    assert first == second and len(first) >= 10
    with ProcessPoolExecutor(max_workers=1) as pool:
        pooled = pool.submit(_run_in_child, str(tmp_path / "three")).result(timeout=300)
    assert pooled == first


def test_another_seed_gives_other_losses(tmp_path):
    one = json.loads((run_scenario(SMALL, tmp_path) / "metrics.json").read_text())
    two = json.loads((run_scenario({**SMALL, "seed": 6}, tmp_path) / "metrics.json").read_text())
    assert one != two
