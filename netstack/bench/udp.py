"""UDP echo round trips per second: `netstack run --service udp-echo:7` vs the C responder.

The driver (benchmarks/udp_driver.c) is a kernel-side UDP client started in each responder's
namespace. It keeps a fixed number of datagrams in flight and counts the echoes for a fixed
time: with 1 in flight the rate is 1 / round-trip time (latency-bound), with 16 it is what
the responder can sustain (throughput). The speed target is netstack at half the C
responder's rate or better. Linux over a veth runs too, with benchmarks/udp_echo_server.c on a
kernel socket: the kernel's own stack, shown for scale. Rounds alternate between the three and
each keeps its best round, as in the other benchmarks.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import netstack.bench.tap as tap
from netstack.bench.common import BenchError, Result, Settings, Target, build_c_tool, progress
from netstack.bench.ping import with_loss
from netstack.bench.tap import STACK_IP, responder_on_tap
from netstack.bench.tcp_kernel import KernelPair
from netstack.netns import Namespace, NamespaceError, wait_for_line

ECHO_PORT = 7
DRIVER_WARMUP = 0.05  # seconds of traffic before counting: caches and the first echo warm
DRIVER_TIMEOUT_MS = 200  # a datagram with no echo by then is lost and replaced
MAX_INFLIGHT = 1024  # the driver's limit
MAX_SIZE = 1472  # one 1500-byte frame: neither responder is measured on reassembly here
MIN_SIZE = 8  # the driver's sequence number
SERVICE = f"udp-echo:{ECHO_PORT}"


@dataclass(frozen=True)
class DriverResult:
    """One driver run: what its `result ...` line says."""

    inflight: int
    size: int
    seconds: float
    sent: int
    received: int
    lost: int
    duplicate: int
    corrupt: int
    late: int
    refused: int
    rate: float  # echoes received per second
    rtt_avg_us: float


_RESULT = re.compile(r"^result (.*)$", re.MULTILINE)
_FLOAT_FIELDS = {"seconds", "rate", "rtt_avg_us"}


def parse_driver_result(output: str) -> DriverResult:
    """Read the driver's `result key=value ...` line. BenchError when there is none."""
    match = _RESULT.search(output)
    if match is None:
        raise BenchError(f"udp_driver printed no result: {output.strip()!r}")
    fields = dict(item.partition("=")[::2] for item in match[1].split())
    try:
        values = {
            name: (float if name in _FLOAT_FIELDS else int)(fields[name])
            for name in DriverResult.__dataclass_fields__
        }
    except (KeyError, ValueError) as exc:
        raise BenchError(f"udp_driver result line is malformed: {match[0]!r}") from exc
    return DriverResult(**values)


def build_udp_driver(force: bool = False) -> Path:
    return build_c_tool("udp_driver", force)


def run_driver(
    ns: Namespace,
    driver: Path,
    inflight: int,
    size: int,
    seconds: float,
    port: int | str = ECHO_PORT,
) -> DriverResult:
    """Run the driver in `ns` against 192.0.2.2. BenchError if no echo came back at all."""
    cmd = [str(driver), STACK_IP, str(port), "-n", str(inflight), "-s", str(size),
           "-d", f"{seconds:g}", "-w", f"{DRIVER_WARMUP:g}", "-t", str(DRIVER_TIMEOUT_MS)]  # fmt: skip
    completed = ns.run(cmd, check=False, timeout=seconds + DRIVER_WARMUP + 10)
    result = parse_driver_result(completed.stdout + completed.stderr)
    if result.received == 0:
        why = "ICMP port unreachable" if result.refused else f"{result.lost} timed out"
        raise BenchError(f"no UDP echo came back ({why}): {completed.stdout.strip()}")
    return result


@dataclass
class _Side:
    """One responder at one in-flight count: its best round, and every round's totals."""

    best: DriverResult | None = None
    rates: list[float] = field(default_factory=list)
    sent: int = 0
    lost: int = 0  # timed out, or refused
    bad: int = 0  # duplicated, corrupted or late echoes: the responder got something wrong

    def add(self, result: DriverResult) -> None:
        if self.best is None or result.rate > self.best.rate:
            self.best = result
        self.rates.append(result.rate)
        self.sent += result.sent
        self.lost += result.lost + result.refused
        self.bad += result.duplicate + result.corrupt + result.late

    def label(self, name: str) -> str:
        label = with_loss(name, self.sent, self.sent - self.lost)
        return f"{label} ({self.bad} bad echoes)" if self.bad else label


def bench_udp(settings: Settings) -> list[Result]:
    tap.require_root()
    responder = tap.build_responder()
    driver = build_udp_driver()
    sides = {name: {n: _Side() for n in settings.udp_inflight}
             for name in ("C responder", "netstack run", "Linux over veth")}
    with ExitStack() as namespaces:
        try:
            c_ns = namespaces.enter_context(responder_on_tap(tap.responder_command(responder)))
        except (NamespaceError, BenchError) as exc:
            raise BenchError(f"C responder failed: {exc}") from exc
        try:
            stack_ns = namespaces.enter_context(
                responder_on_tap(tap.netstack_run_command("--service", SERVICE, *settings.run_options(),
                                                          port=settings.port))
            )
            # A first short run proves the echo service answers before anything is timed.
            run_driver(stack_ns, driver, 1, settings.udp_size, DRIVER_WARMUP)
        except (NamespaceError, BenchError) as exc:
            # Still measure the yardstick: its figure tells whether the machine is sane.
            c_only = run_driver(c_ns, driver, 1, settings.udp_size, settings.udp_seconds)
            raise BenchError(
                f"netstack run --service {SERVICE} failed: {exc} "
                f"(C responder alone: {c_only.rate:,.0f} round trips/s at 1 in flight)"
            ) from exc
        linux_ns = _linux_over_veth(namespaces)
        for number in range(settings.rounds):
            progress(f"  udp: round {number + 1}/{settings.rounds}")
            for inflight in settings.udp_inflight:
                for name, ns in (("C responder", c_ns), ("netstack run", stack_ns),
                                 ("Linux over veth", linux_ns)):
                    try:
                        result = run_driver(
                            ns, driver, inflight, settings.udp_size, settings.udp_seconds
                        )
                    except (NamespaceError, BenchError) as exc:
                        raise BenchError(f"{name} failed: {exc}") from exc
                    sides[name][inflight].add(result)
    return [_row(settings, n, sides["netstack run"][n], sides["C responder"][n],
                 sides["Linux over veth"][n]) for n in settings.udp_inflight]  # fmt: skip


def _linux_over_veth(namespaces: ExitStack) -> Namespace:
    """The third target: udp_echo_server.c on a kernel socket at the far end of a veth pair
    (Linux's own UDP stack plus the least user-space work); returns the near namespace."""
    server = build_c_tool("udp_echo_server")
    try:
        pair = namespaces.enter_context(KernelPair(one_segment=False))
        proc = pair.far.popen([str(server), STACK_IP, str(ECHO_PORT)])
        wait_for_line(proc, "listening", tap.STARTUP_TIMEOUT)
    except NamespaceError as exc:
        raise BenchError(f"the Linux veth reference failed to start: {exc}") from exc
    return pair.near


def _row(settings: Settings, inflight: int, stack: _Side, native: _Side, linux: _Side) -> Result:
    assert stack.best is not None and native.best is not None and linux.best is not None
    return Result(
        name=f"UDP echo {settings.udp_size} B, {inflight} in flight",
        unit="round trips/s",
        subject_label=stack.label("netstack run"),
        subject=stack.best.rate,
        reference_label=native.label("C responder"),
        reference=native.best.rate,
        higher_is_better=True,
        details={
            "rounds": settings.rounds,
            "seconds_per_round": settings.udp_seconds,
            "netstack": asdict(stack.best),
            "c_responder": asdict(native.best),
            "netstack_round_rates": stack.rates,
            "c_responder_round_rates": native.rates,
            "linux_veth": asdict(linux.best),
            "linux_veth_round_rates": linux.rates,
        },
        target=Target(0.5),
        extra={linux.label("Linux over veth"): linux.best.rate},
    )
