"""Topologies beyond the presets, switches, and pcaps that tshark reads cleanly."""

import subprocess

import pytest

from netstack.sim.events import Simulator
from netstack.sim.node import Switch
from netstack.sim.packet import Packet
from netstack.sim.run import run_scenario, simulate
from tests.capture_check import assert_capture_clean, tshark_available

A, B, C = (bytes([2, 0, 0, 0, 0, i]) for i in (1, 2, 3))
BROADCAST = b"\xff" * 6


def frame(dst: bytes, src: bytes) -> Packet:
    return Packet(dst + src + b"\x08\x00" + bytes(50), born=0.0)


def test_a_switch_floods_the_unknown_and_learns_where_each_mac_is():
    switch = Switch(Simulator(), "sw")
    seen: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    receive = [switch.add_port(lambda p, n=n: seen[n].append(p.data[:6])) for n in range(3)]
    receive[0](frame(B, A))  # B unknown: flooded to ports 1 and 2; A learned on port 0
    assert seen == {0: [], 1: [B], 2: [B]}
    receive[1](frame(A, B))  # A known: port 0 only
    assert seen[0] == [A] and len(seen[2]) == 1
    receive[0](frame(BROADCAST, A))
    assert seen[1][-1] == BROADCAST and seen[2][-1] == BROADCAST and seen[0] == [A]
    assert switch.flooded == 2


def test_a_graph_of_hosts_and_switches_with_two_bottlenecks():
    """h1 and h2 share a 4 Mbit/s link to the switch core; h3 sits behind 8 Mbit/s."""
    scenario = {
        "seed": 1, "duration": 10.0,
        "topology": {"kind": "graph", "nodes": {
            "h1": {}, "h2": {}, "h3": {"address": "192.0.2.30/24"},
            "edge": {"kind": "switch"}, "core": {"kind": "switch"}}},
        "links": {
            "l1": {"a": "h1", "b": "edge", "delay": "1ms"},
            "l2": {"a": "h2", "b": "edge", "delay": "1ms"},
            "uplink": {"a": "edge", "b": "core", "rate": "4mbps", "delay": "5ms",
                       "queue": {"kind": "droptail", "packets": 50}},
            "l3": {"a": "core", "b": "h3", "rate": "8mbps", "delay": "1ms",
                   "queue": {"kind": "droptail", "packets": 50}},
        },
        "flows": [{"kind": "bulk", "src": "h1", "dst": "h3"},
                  {"kind": "bulk", "src": "h2", "dst": "h3"},
                  {"kind": "ping", "src": "h3", "dst": "h1", "interval": 0.5}],
    }
    run, record = simulate(scenario)
    assert str(run.net.hosts["h3"].address.ip) == "192.0.2.30"
    total = sum(flow.app_bytes for flow in record.flows[:2]) * 8 / 10.0
    assert 3.0e6 < total < 4.0e6  # the shared 4 Mbit/s uplink is the bottleneck, not l3
    assert record.flows[2].rtt_samples  # the way back works too


def test_a_graph_link_must_name_existing_nodes():
    from netstack.errors import ConfigError
    from netstack.sim.scenario import complete

    with pytest.raises(ConfigError, match="links.l1.b: no node named 'nowhere'"):
        complete({"topology": {"kind": "graph", "nodes": {"h1": {}}},
                  "links": {"l1": {"a": "h1", "b": "nowhere"}}})


@pytest.mark.skipif(not tshark_available(), reason="tshark is not installed (make setup as root)")
def test_tshark_reads_every_pcap_cleanly_with_virtual_nanosecond_times(tmp_path):
    scenario = {"seed": 3, "duration": 3.0, "topology": {"kind": "p2p"},
                "links": {"path": {"rate": "5mbps", "delay": "10ms", "loss": 0.02}},
                "flows": [{"kind": "bulk", "src": "a", "dst": "b"},
                          {"kind": "ping", "src": "b", "dst": "a", "interval": 0.5}]}
    run_dir = run_scenario(scenario, tmp_path)
    for node, mac in (("a", "02:00:c0:00:02:01"), ("b", "02:00:c0:00:02:02")):
        pcap = str(run_dir / "pcaps" / f"path-{node}.pcap")
        assert_capture_clean(pcap, mac, min_frames=100)
        times = subprocess.run(["tshark", "-n", "-r", pcap, "-T", "fields", "-e",
                                "frame.time_epoch", "-c", "3"], capture_output=True, text=True,
                               check=True).stdout.split()
        assert float(times[0]) < 1.0  # virtual time starts at 0, not the wall clock
        assert any(len(t.split(".")[1]) == 9 for t in times)  # nanosecond resolution
