"""What the TAP benchmarks share: the test network, the two responders, and `ping`.

Each responder (the C yardstick or `netstack run`) gets a fresh network namespace with a new
TAP device, so both can be 192.0.2.2 at once; the kernel side of each TAP is 192.0.2.1.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netstack.bench.common import BENCHMARKS_DIR, BenchError, Skipped, build_c_tool
from netstack.netns import (
    Namespace,
    drain_in_background,
    is_root,
    unique_name,
    wait_for_line,
)

# The test network (docs: kernel peer .1, stack/responder .2) and the responder's MAC.
KERNEL_CIDR = "192.0.2.1/24"
STACK_IP = "192.0.2.2"
STACK_CIDR = "192.0.2.2/24"
RESPONDER_MAC = "02:00:00:00:00:02"
PING_INTERVAL = "0.01"  # intervals under 0.2 s are allowed to root only, which we are here
STARTUP_TIMEOUT = 15.0  # seconds for a responder to print "ready"
WARMUP_PINGS = 5
LOG_LINES = 1000  # a responder's last output lines kept: `netstack run` ends with its counters

RESPONDER_SOURCE = BENCHMARKS_DIR / "tap_responder.c"


def require_root(*tools: str) -> None:
    """Raise Skipped unless we may make namespaces and every tool is installed."""
    if not is_root():
        raise Skipped("needs root")
    missing = [tool for tool in ("ip", "ping", *tools) if shutil.which(tool) is None]
    if missing:
        raise Skipped(f"needs {', '.join(missing)}")


@dataclass(frozen=True)
class PingStats:
    transmitted: int
    received: int
    loss_percent: float
    rtt_min_ms: float
    rtt_avg_ms: float
    rtt_max_ms: float
    rtt_mdev_ms: float


_PACKETS = re.compile(r"(\d+) packets transmitted, (\d+) received.*?([\d.]+)% packet loss")
_RTT = re.compile(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


def parse_ping(output: str) -> PingStats:
    """Read the summary `ping -q` prints. Raises BenchError when nothing came back."""
    packets = _PACKETS.search(output)
    rtt = _RTT.search(output)
    if packets is None or rtt is None:
        raise BenchError(f"no replies, ping said: {output.strip()!r}")
    return PingStats(
        int(packets[1]), int(packets[2]), float(packets[3]), *(float(rtt[i]) for i in range(1, 5))
    )


def ping_round(ns: Namespace, count: int) -> PingStats:
    """`ping -q -c count -i 0.01 192.0.2.2` from the kernel side of `ns`."""
    deadline = int(count * 0.05) + 5  # seconds, generous: ping stops after `count` replies
    cmd = ["ping", "-q", "-c", str(count), "-i", PING_INTERVAL, "-w", str(deadline), STACK_IP]
    return parse_ping(ns.run(cmd, check=False, timeout=deadline + 5).stdout)


def build_responder(force: bool = False) -> Path:
    """Compile benchmarks/tap_responder.c into benchmarks/_build/ (only when it changed)."""
    return build_c_tool("tap_responder", force)


def responder_command(binary: Path) -> Callable[[str], list[str]]:
    """The C responder's command line for a TAP name."""
    return lambda tap: [str(binary), tap, STACK_IP, RESPONDER_MAC]


def netstack_command() -> list[str]:
    """`netstack` of this very interpreter: its console script, or `python -m netstack`."""
    script = Path(sys.executable).parent / "netstack"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "netstack"]


def netstack_run_command(*extra: str, port: str = "tap:{tap}") -> Callable[[str], list[str]]:
    """`netstack run --port PORT --ip 192.0.2.2/24`, plus `extra` options (e.g. a service).

    `port` is a port spec in which `{tap}` becomes the fresh device name the benchmark picked
    (`tap:{tap}`, or a DPDK TAP such as `dpdk:net_tap0,iface={tap}`). A spec without `{tap}`
    is passed as it is; the device it creates is then found in the namespace."""
    return lambda tap: [
        *netstack_command(),
        "run",
        "--port",
        port.replace("{tap}", tap),
        "--ip",
        STACK_CIDR,
        *extra,
    ]


@dataclass
class Responder:
    """A responder started by `responder_process_on_tap`: its namespace, process and log."""

    ns: Namespace
    proc: subprocess.Popen[bytes]
    log: deque[str]  # its last output lines (the counters `netstack run` prints on exit)
    device: str  # the kernel's side of its TAP
    stopped: bool = False  # stopped on purpose (stop_and_read_counters), not by a crash


def tap_device(ns: Namespace) -> str:
    """The one device besides lo in a responder's namespace: its TAP."""
    names = [line.split(":")[1].strip().split("@")[0]
             for line in ns.run(["ip", "-o", "link", "show"]).stdout.splitlines()]  # fmt: skip
    devices = [n for n in names if n != "lo"]
    if len(devices) != 1:
        raise BenchError(f"expected one TAP device in {ns.name}, found {devices}")
    return devices[0]


@contextmanager
def responder_process_on_tap(start_cmd: Callable[[str], list[str]]) -> Iterator[Responder]:
    """A fresh namespace with a responder on a new TAP, answering at 192.0.2.2.

    `start_cmd(tap_name)` is the responder's command line; it must print a line starting
    with "ready" once it answers. The kernel side gets 192.0.2.1/24 and a short warm-up
    ping, which takes ARP resolution and first-packet costs out of the figures.
    """
    with Namespace("nsbench") as ns:
        # IPv6 would have the kernel send router solicitations and MLD reports on the TAP;
        # neither responder wants them, and they only add noise.
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
        cmd = start_cmd(unique_name("nsb"))
        proc = ns.popen(cmd)
        wait_for_line(proc, "ready", STARTUP_TIMEOUT)
        # A responder that logs must never block on a full pipe; keep enough for its counters.
        log = drain_in_background(proc, keep_lines=LOG_LINES)
        device = tap_device(ns)
        ns.add_address(device, KERNEL_CIDR)
        ns.link_up(device)
        ping_round(ns, WARMUP_PINGS)
        responder = Responder(ns, proc, log, device)
        yield responder
        if proc.poll() is not None and not responder.stopped:
            raise BenchError(f"{Path(cmd[0]).name} exited with {proc.returncode} during the run")


@contextmanager
def responder_on_tap(start_cmd: Callable[[str], list[str]]) -> Iterator[Namespace]:
    """`responder_process_on_tap`, when only the namespace matters."""
    with responder_process_on_tap(start_cmd) as responder:
        yield responder.ns


def stop_and_read_counters(responder: Responder, timeout: float = 30.0) -> dict[str, int]:
    """SIGTERM `netstack run` and read the counters it prints as it exits."""
    proc = responder.proc
    responder.stopped = True
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"netstack run did not stop within {timeout:g} s") from None
    # The drain thread reads the last lines just after the exit: wait until they stop coming.
    deadline = time.monotonic() + 5
    seen = -1
    while time.monotonic() < deadline and seen != len(responder.log):
        seen = len(responder.log)
        time.sleep(0.2)
    return _counters(responder.log)


def _counters(lines: deque[str]) -> dict[str, int]:
    counters: dict[str, int] = {}
    after = False
    for line in list(lines):
        if line.startswith("counters:"):
            after, counters = True, {}
        elif after and line.startswith("  ") and len(line.split()) == 2:
            name, value = line.split()
            counters[name] = int(value)
    return counters
