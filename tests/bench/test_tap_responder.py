"""The C TAP responder that `netstack bench` uses as its yardstick.

Read as a lab manual: build it, start it on a TAP in a fresh namespace, give the kernel side
192.0.2.1/24, then ping it and send it a UDP datagram to port 7.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netstack import bench
from netstack.bench import (
    KERNEL_CIDR,
    RESPONDER_MAC,
    RESPONDER_SOURCE,
    STACK_IP,
    build_responder,
    parse_ping,
)
from netstack.bench import tap as bench_tap
from netstack.netns import Namespace, unique_name, wait_for_line
from tests.bench.c_tools import assert_compiles_without_warnings, needs_gcc, needs_root


@needs_gcc
def test_responder_compiles_without_warnings(tmp_path: Path) -> None:
    assert_compiles_without_warnings(RESPONDER_SOURCE, tmp_path)


@needs_gcc
def test_build_responder_caches_an_executable() -> None:
    binary = build_responder()
    assert binary.is_file()
    assert build_responder() == binary  # second call reuses the build
    usage = subprocess.run([str(binary)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "usage" in usage.stderr


@dataclass
class RunningResponder:
    ns: Namespace
    tap: str
    proc: subprocess.Popen[bytes]


@pytest.fixture
def responder() -> Iterator[RunningResponder]:
    binary = build_responder()
    with Namespace("trtest") as ns:
        tap = unique_name("trt")
        proc = ns.popen([str(binary), tap, STACK_IP, RESPONDER_MAC])
        assert wait_for_line(proc, "ready", timeout=5) == f"ready {tap}"
        ns.add_address(tap, KERNEL_CIDR)
        ns.link_up(tap)
        yield RunningResponder(ns, tap, proc)


@pytest.mark.root
@needs_gcc
@needs_root
def test_kernel_pings_responder_without_loss(responder: RunningResponder) -> None:
    ping = responder.ns.run(["ping", "-q", "-c", "20", "-i", "0.01", "-w", "10", STACK_IP])
    stats = parse_ping(ping.stdout)
    assert (stats.transmitted, stats.received, stats.loss_percent) == (20, 20, 0.0)
    # The kernel learned the responder's MAC from its ARP reply.
    neighbours = responder.ns.run(["ip", "neigh", "show", "dev", responder.tap]).stdout
    assert RESPONDER_MAC in neighbours


UDP_ECHO_CLIENT = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(3)
    s.sendto(b"hello, netstack", (sys.argv[1], 7))
    data, (host, port) = s.recvfrom(2048)
    print(data.decode(), host, port)
"""


@pytest.mark.root
@needs_gcc
@needs_root
def test_udp_echo_round_trips(responder: RunningResponder) -> None:
    result = responder.ns.run([sys.executable, "-c", UDP_ECHO_CLIENT, STACK_IP], timeout=10)
    assert result.stdout.strip() == f"hello, netstack {STACK_IP} 7"


@pytest.mark.root
@needs_gcc
@needs_root
def test_sigterm_stops_responder_with_counters(responder: RunningResponder) -> None:
    responder.ns.run(["ping", "-q", "-c", "3", "-i", "0.01", "-w", "5", STACK_IP])
    responder.proc.send_signal(signal.SIGTERM)
    output, _ = responder.proc.communicate(timeout=5)
    assert responder.proc.returncode == 0
    assert "icmp=3" in output.decode(), output


# Stands in for `netstack run` so the ping benchmark's plumbing is tested on its own: it
# takes the same options and execs the C responder (which prints "ready" like netstack does).
NETSTACK_RUN_STAND_IN = """
import os, sys
args = sys.argv[1:]
assert args[0] == "run", args
tap = args[args.index("--port") + 1].removeprefix("tap:")
ip = args[args.index("--ip") + 1].split("/")[0]
responder = os.environ["RESPONDER"]
os.execv(responder, [responder, tap, ip, "02:00:00:00:00:03"])
"""


@pytest.mark.root
@needs_gcc
@needs_root
def test_ping_benchmark_end_to_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stand_in = tmp_path / "netstack_run.py"
    stand_in.write_text(NETSTACK_RUN_STAND_IN)
    monkeypatch.setenv("RESPONDER", str(build_responder()))
    monkeypatch.setattr(bench_tap, "netstack_command", lambda: [sys.executable, str(stand_in)])
    assert bench.main(["--only", "ping", "--ping-count", "20"]) == 0
    out = capsys.readouterr().out
    assert "ping RTT avg" in out and "(lower is better)" in out, out
