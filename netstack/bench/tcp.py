"""TCP from the kernel side: netstack over a TAP vs Linux over veth, in the same run.

The subject is `netstack run --service tcp-echo:7 --service tcp-discard:9 --service
tcp-chargen:19` on a TAP, its kernel peer 192.0.2.1 in a fresh namespace. The reference is the
same workload between two Linux kernels: a KernelPair (two namespaces joined by a veth cable)
whose far end runs Python servers doing the same as the services. The clients are the same
kernel-side Python programs on both (tcp_kernel.py):

- echo round trips: ECHO_RTT_CLIENT, one connection, one 64-byte message in flight;
- connect/echo/close: CYCLE_CLIENT, one connection after the other, 32 bytes echoed each;
- bulk kernel -> stack: BULK_SEND_CLIENT pushes N bytes into discard and waits for its close;
- bulk stack -> kernel: RECV_CLIENT reads N bytes from chargen;
- `tcp-offload`: the two bulk transfers with the stack on `tap:NAME,offload` (64 KB TCP frames
  both ways through the TAP's virtio-net header, ports/tap.py): a separate mode, reported in
  rows of its own with no issue-5 target (those are for plain MTU-1500 frames);
- `tcp-loss`: the two bulk transfers with nftables dropping 5% of TCP segments each way in the
  client's namespace (figure: seconds for the transfer).

For the plain workloads the veth keeps Linux's offloads (GSO/GRO/TSO): the reference is Linux
at its best, 15-19 Gbit/s in bulk here, and gets more bytes per transfer (200 MB against the
stack's 10) so that its time is not mostly connection setup. The clients read and write 256 KB
at a time, so Python is not what limits Linux. For the lossy rows both veth ends send one
segment per packet, as the kernel does to a TAP, so "5% of segments" means the same on both.

Rounds alternate reference and subject; each side keeps its best round. When the stack fails a
workload (its client exits non-zero or overruns its deadline), the other rows are still
measured and reported, and the failure is printed with its reason.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import netstack.bench.tap as tap
from netstack.bench.common import BenchError, PartialResults, Result, Settings, Target, progress
from netstack.bench.tap import STACK_IP, responder_on_tap
from netstack.bench.tcp_kernel import (
    BULK_SEND_CLIENT,
    CHARGEN_SERVER,
    CYCLE_CLIENT,
    DISCARD_SERVER,
    ECHO_RTT_CLIENT,
    ECHO_SERVER,
    FAR_IP,
    RECV_CLIENT,
    SEND_CLIENT,
    KernelPair,
    drop_tcp,
    one_segment_per_packet,
    parse_result,
)
from netstack.netns import Namespace, NamespaceError, wait_for_line

ECHO_PORT, DISCARD_PORT, CHARGEN_PORT = 7, 9, 19
SERVICES = ("--service", f"tcp-echo:{ECHO_PORT}", "--service", f"tcp-discard:{DISCARD_PORT}",
            "--service", f"tcp-chargen:{CHARGEN_PORT}")  # fmt: skip
LOSS_PERCENT = 5
OFFLOAD_LABEL = " (TAP offload)"
ECHO_SIZE = 64  # bytes per echo round trip
SLOWEST_RATE = 250_000  # bytes/s: a transfer's deadline is its size at this rate, plus slack
DEADLINE_SLACK = 30.0  # seconds


@dataclass
class Workload:
    name: str
    unit: str
    higher_is_better: bool
    program: str
    args: Callable[[Settings, bool], list[str]]  # (settings, is the Linux reference)
    figure: Callable[[dict[str, str], Settings, bool], float]  # from the client's result line
    deadline: Callable[[Settings], float]
    lossy: bool = False
    rounds: Callable[[Settings], int] = lambda s: s.tcp_rounds
    target: Target | None = None  # the speed target for the ratio
    subject: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    failure: str | None = None


def bulk_bytes(settings: Settings, reference: bool) -> int:
    """Bytes per bulk transfer: Linux over veth gets more, or it would be over in a few ms."""
    return max(settings.tcp_bytes, settings.tcp_reference_bytes) if reference else settings.tcp_bytes


def _bulk_mbits(result: dict[str, str], settings: Settings, reference: bool) -> float:
    return bulk_bytes(settings, reference) * 8 / float(result["seconds"]) / 1e6


def _bulk_deadline(settings: Settings) -> float:
    return settings.tcp_bytes / SLOWEST_RATE + DEADLINE_SLACK


def _lossy_deadline(settings: Settings) -> float:
    return 4 * (settings.tcp_loss_bytes / SLOWEST_RATE + DEADLINE_SLACK)


def _seconds(result: dict[str, str], settings: Settings, reference: bool) -> float:
    return float(result["seconds"])


def _per_second(result: dict[str, str], settings: Settings, reference: bool) -> float:
    return float(result["per_second"])


def workloads() -> list[Workload]:
    return [
        Workload("TCP echo 64 B, 1 in flight", "round trips/s", True, ECHO_RTT_CLIENT,
                 lambda s, ref: [str(ECHO_PORT), f"{s.tcp_echo_seconds:g}", str(ECHO_SIZE)],
                 _per_second, lambda s: s.tcp_echo_seconds + DEADLINE_SLACK),
        Workload("TCP connect/echo/close", "cycles/s", True, CYCLE_CLIENT,
                 lambda s, ref: [str(ECHO_PORT), str(s.tcp_cycles)], _per_second,
                 lambda s: s.tcp_cycles * 0.05 + DEADLINE_SLACK, target=Target(0.4)),
        Workload("TCP bulk kernel->stack", "Mbit/s", True, BULK_SEND_CLIENT,
                 lambda s, ref: [str(DISCARD_PORT), str(bulk_bytes(s, ref))], _bulk_mbits,
                 _bulk_deadline, target=Target(0.04)),
        Workload("TCP bulk stack->kernel", "Mbit/s", True, RECV_CLIENT,
                 lambda s, ref: [str(CHARGEN_PORT), str(bulk_bytes(s, ref))], _bulk_mbits,
                 _bulk_deadline, target=Target(0.04)),
        Workload(f"TCP {LOSS_PERCENT}% loss kernel->stack", "s", False, SEND_CLIENT,
                 lambda s, ref: [str(DISCARD_PORT), str(s.tcp_loss_bytes), "2"], _seconds,
                 _lossy_deadline, lossy=True, rounds=lambda s: s.tcp_loss_rounds),
        Workload(f"TCP {LOSS_PERCENT}% loss stack->kernel", "s", False, RECV_CLIENT,
                 lambda s, ref: [str(CHARGEN_PORT), str(s.tcp_loss_bytes)], _seconds,
                 _lossy_deadline, lossy=True, rounds=lambda s: s.tcp_loss_rounds),
    ]  # fmt: skip


def run_client(ns: Namespace, workload: Workload, settings: Settings, reference: bool) -> float:
    """Run the workload's client in `ns` against 192.0.2.2; its figure, or BenchError."""
    deadline = workload.deadline(settings)
    cmd = [sys.executable, "-c", workload.program, STACK_IP, *workload.args(settings, reference)]
    try:
        done = ns.run(cmd, check=False, timeout=deadline)
    except NamespaceError:
        raise BenchError(f"the client did not finish within {deadline:.0f} s") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the client exited {done.returncode}: {why}")
    try:
        return workload.figure(parse_result(done.stdout), settings, reference)
    except (KeyError, ValueError, ZeroDivisionError) as exc:
        raise BenchError(f"unreadable client output {done.stdout.strip()!r}: {exc}") from None


def _start_reference_servers(pair: KernelPair, stack: ExitStack) -> None:
    for script, port in ((ECHO_SERVER, ECHO_PORT), (DISCARD_SERVER, DISCARD_PORT),
                         (CHARGEN_SERVER, CHARGEN_PORT)):  # fmt: skip
        proc = pair.far.popen([sys.executable, "-c", script, FAR_IP, str(port)])
        stack.callback(proc.kill)  # by pid; the namespace's close also ends it
        wait_for_line(proc, "listening", tap.STARTUP_TIMEOUT)


def bench_tcp(settings: Settings) -> list[Result]:
    """Echo round trips, connect/echo/close and bulk both ways, against Linux at its best."""
    return _bench(settings, lossy=False)


def bench_tcp_offload(settings: Settings) -> list[Result]:
    """The bulk transfers with the stack's TAP offloads on (`tap:NAME,offload`, python
    engine): rows of their own, never counted against the MTU-1500 targets."""
    if not settings.port.startswith("tap:"):
        raise BenchError(f"tcp-offload needs a tap: port, not {settings.port!r}")
    port = settings.port.partition("?")[0].split(",")[0] + ",offload"
    return _bench(dataclasses.replace(settings, port=port, engine="python"), lossy=False,
                  offload=True)


def bench_tcp_loss(settings: Settings) -> list[Result]:
    """The bulk transfers with 5% of segments dropped each way, one segment per packet."""
    return _bench(settings, lossy=True)


def _bench(settings: Settings, lossy: bool, offload: bool = False) -> list[Result]:
    tap.require_root("nft")
    loads = [w for w in workloads() if w.lossy == lossy]
    if offload:  # the bulk rows only, renamed, with no target: a separate mode
        loads = [dataclasses.replace(w, name=w.name + OFFLOAD_LABEL, target=None)
                 for w in loads if w.unit == "Mbit/s"]
    with ExitStack() as stack:
        try:
            # Normal offloads for the plain workloads; for the lossy ones "5% of segments"
            # must mean segments, so one per packet (see one_segment_per_packet).
            pair = stack.enter_context(KernelPair(one_segment=lossy))
            _start_reference_servers(pair, stack)
        except (NamespaceError, BenchError) as exc:
            raise BenchError(f"the Linux veth reference failed to start: {exc}") from exc
        try:
            command = tap.netstack_run_command(*SERVICES, *settings.run_options(),
                                               port=settings.port)
            stack_ns = stack.enter_context(responder_on_tap(command))
            if lossy:
                one_segment_per_packet(stack_ns, tap.tap_device(stack_ns))
                for ns in (pair.near, stack_ns):
                    drop_tcp(ns, LOSS_PERCENT, FAR_IP)
        except (NamespaceError, BenchError) as exc:
            raise BenchError(f"netstack run {' '.join(SERVICES)} failed to start: {exc}") from exc
        sides = (("Linux over veth", pair.near, True), ("netstack run", stack_ns, False))
        for w in loads:
            rounds = w.rounds(settings)
            for round_number in range(rounds):
                if w.failure:
                    break
                for name, ns, reference in sides:
                    progress(f"  {w.name}: round {round_number + 1}/{rounds}, {name}")
                    try:
                        figure = run_client(ns, w, settings, reference)
                    except BenchError as exc:
                        linux = (f" (Linux over veth: {_best(w.reference, w.higher_is_better):,.1f}"
                                 f" {w.unit})" if w.reference else "")
                        w.failure = f"{w.name}: {name}: {exc}{linux}"
                        progress(f"tcp: {w.failure}")
                        break
                    (w.reference if reference else w.subject).append(figure)
    results = [_row(w, settings) for w in loads if w.subject and w.reference and not w.failure]
    failures = [w.failure for w in loads if w.failure]
    if failures:
        raise PartialResults("; ".join(failures), results)
    return results


def _best(values: list[float], higher_is_better: bool) -> float:
    return max(values) if higher_is_better else min(values)


def _row(w: Workload, settings: Settings) -> Result:
    if w.unit == "Mbit/s":
        label = (f"{w.name}, {bulk_bytes(settings, False) / 1e6:g} MB "
                 f"(Linux {bulk_bytes(settings, True) / 1e6:g} MB)")
    elif w.unit == "s":
        label = f"{w.name}, {settings.tcp_loss_bytes / 1e6:g} MB"
    elif w.unit == "cycles/s":
        label = f"{w.name}, {settings.tcp_cycles} cycles"
    else:
        label = w.name
    return Result(
        name=label,
        unit=w.unit,
        subject_label="netstack run" + (OFFLOAD_LABEL if w.name.endswith(OFFLOAD_LABEL) else ""),
        subject=_best(w.subject, w.higher_is_better),
        reference_label="Linux over veth",
        reference=_best(w.reference, w.higher_is_better),
        higher_is_better=w.higher_is_better,
        details={"netstack_rounds": w.subject, "linux_rounds": w.reference,
                 "loss_percent": LOSS_PERCENT if w.lossy else 0,
                 "linux_offloads": "one segment per packet" if w.lossy else "GSO/GRO/TSO on"},
        target=w.target,
    )
