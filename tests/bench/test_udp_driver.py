"""The kernel-side UDP echo driver (benchmarks/udp_driver.c) that `netstack bench` runs.

Read as a lab manual: build it, start the C responder on a TAP in a fresh namespace, then
let the driver keep datagrams in flight against its echo port and read the counts it prints.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netstack import bench
from netstack.bench import tap as bench_tap
from netstack.bench.common import BENCHMARKS_DIR
from netstack.bench.tap import KERNEL_CIDR, RESPONDER_MAC, STACK_IP
from netstack.bench.udp import build_udp_driver, run_driver
from netstack.netns import Namespace, unique_name, wait_for_line
from tests.bench.c_tools import assert_compiles_without_warnings, needs_gcc, needs_root

DRIVER_SOURCE = BENCHMARKS_DIR / "udp_driver.c"


@needs_gcc
def test_driver_compiles_without_warnings(tmp_path: Path) -> None:
    assert_compiles_without_warnings(DRIVER_SOURCE, tmp_path)


@needs_gcc
@pytest.mark.parametrize(
    "args",
    [[], ["192.0.2.2"], ["nonsense", "7"], ["192.0.2.2", "0"], ["192.0.2.2", "7", "-n", "0"],
     ["192.0.2.2", "7", "-s", "4"], ["192.0.2.2", "7", "-d", "x"], ["192.0.2.2", "7", "-q", "1"]],
)  # fmt: skip
def test_driver_usage_errors_exit_2(args: list[str]) -> None:
    result = subprocess.run([str(build_udp_driver()), *args], capture_output=True, text=True)
    assert result.returncode == 2 and ("usage" in result.stderr or "need" in result.stderr)


@pytest.fixture
def responder_ns() -> Iterator[Namespace]:
    binary = bench.build_responder()
    with Namespace("udtest") as ns:
        tap = unique_name("udt")
        proc = ns.popen([str(binary), tap, STACK_IP, RESPONDER_MAC])
        assert wait_for_line(proc, "ready", timeout=5) == f"ready {tap}"
        ns.add_address(tap, KERNEL_CIDR)
        ns.link_up(tap)
        # The ping socket mode needs root allowed to open ICMP datagram sockets.
        ns.sysctl("net.ipv4.ping_group_range", "0 0")
        yield ns


@pytest.mark.root
@needs_gcc
@needs_root
@pytest.mark.parametrize("inflight", [1, 16])
def test_driver_measures_the_responder_without_faults(
    responder_ns: Namespace, inflight: int
) -> None:
    result = run_driver(responder_ns, build_udp_driver(), inflight, 64, 0.3)
    assert (result.inflight, result.size) == (inflight, 64)
    assert result.received > 100 and result.rate == pytest.approx(result.received / 0.3, rel=0.01)
    assert (result.lost, result.duplicate, result.corrupt, result.late, result.refused) == (
        0, 0, 0, 0, 0,
    )  # fmt: skip
    assert 0 < result.rtt_avg_us < 100_000


@pytest.mark.root
@needs_gcc
@needs_root
def test_driver_counts_losses_and_keeps_going(responder_ns: Namespace) -> None:
    """The responder ignores port 9: every datagram times out and is replaced by a new one,
    and the driver reports the failure instead of hanging."""
    cmd = [str(build_udp_driver()), STACK_IP, "9", "-n", "4", "-d", "0.3", "-w", "0", "-t", "50"]
    completed = responder_ns.run(cmd, check=False, timeout=10)
    assert completed.returncode == 1
    result = bench.parse_driver_result(completed.stdout)
    assert result.received == 0 and result.lost >= 4 * 4  # 4 in flight, >= 4 timeouts each
    assert result.sent >= result.lost


@pytest.mark.root
@needs_gcc
@needs_root
def test_driver_icmp_mode_pings(responder_ns: Namespace) -> None:
    result = run_driver(responder_ns, build_udp_driver(), 4, 56, 0.2, port="icmp")
    assert result.received > 50 and result.lost == result.corrupt == 0


# Stands in for `netstack run --service udp-echo:7` so the UDP benchmark's plumbing is tested
# on its own: it takes the same options and execs the C responder (which prints "ready").
NETSTACK_RUN_STAND_IN = """
import os, sys
args = sys.argv[1:]
assert args[0] == "run" and args[args.index("--service") + 1] == "udp-echo:7", args
tap = args[args.index("--port") + 1].removeprefix("tap:")
ip = args[args.index("--ip") + 1].split("/")[0]
responder = os.environ["RESPONDER"]
os.execv(responder, [responder, tap, ip, "02:00:00:00:00:03"])
"""


@pytest.mark.root
@needs_gcc
@needs_root
def test_udp_benchmark_end_to_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stand_in = tmp_path / "netstack_run.py"
    stand_in.write_text(NETSTACK_RUN_STAND_IN)
    monkeypatch.setenv("RESPONDER", str(bench.build_responder()))
    monkeypatch.setattr(bench_tap, "netstack_command", lambda: [sys.executable, str(stand_in)])
    report = tmp_path / "udp.json"
    argv = ["--quick", "--only", "udp", "--udp-seconds", "0.1", "--udp-inflight", "1,8"]
    assert bench.main([*argv, "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "UDP echo 64 B, 1 in flight" in out and "UDP echo 64 B, 8 in flight" in out, out
    assert "(higher is better)" in out and "loss" not in out, out
    import json

    rows = json.loads(report.read_text())["results"]
    assert all(r["subject"] > 0 and r["reference"] > 0 for r in rows)


@pytest.mark.root
@needs_gcc
@needs_root
def test_udp_benchmark_reports_a_subject_that_does_not_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = [sys.executable, "-c", "import sys; print('no such service'); sys.exit(2)"]
    monkeypatch.setattr(bench_tap, "netstack_command", lambda: failing)
    assert bench.main(["--quick", "--only", "udp", "--udp-seconds", "0.1"]) == 1
    out = capsys.readouterr().out
    assert "udp: FAILED" in out and "no such service" in out and "C responder alone" in out
