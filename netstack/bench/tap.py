"""What the TAP benchmarks share: the test network, the two responders, and `ping`.

Each responder (the C yardstick or `netstack run`) gets a fresh network namespace with a new
TAP device, so both can be 192.0.2.2 at once; the kernel side of each TAP is 192.0.2.1.
"""

from __future__ import annotations

import re
import shutil
import sys
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


def netstack_run_command(*extra: str) -> Callable[[str], list[str]]:
    """`netstack run` on a TAP at 192.0.2.2/24, plus `extra` options (e.g. a service)."""
    return lambda tap: [
        *netstack_command(),
        "run",
        "--port",
        f"tap:{tap}",
        "--ip",
        STACK_CIDR,
        *extra,
    ]


@contextmanager
def responder_on_tap(start_cmd: Callable[[str], list[str]]) -> Iterator[Namespace]:
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
        tap = unique_name("nsb")
        cmd = start_cmd(tap)
        proc = ns.popen(cmd)
        wait_for_line(proc, "ready", STARTUP_TIMEOUT)
        drain_in_background(proc)  # a responder that logs must never block on a full pipe
        ns.add_address(tap, KERNEL_CIDR)
        ns.link_up(tap)
        ping_round(ns, WARMUP_PINGS)
        yield ns
        if proc.poll() is not None:
            raise BenchError(f"{Path(cmd[0]).name} exited with {proc.returncode} during the run")
