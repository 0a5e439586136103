"""TCP from the kernel side: netstack over a TAP vs Linux over veth, in the same run.

The subject is `netstack run --service tcp-echo:7 --service tcp-discard:9 --service
tcp-chargen:19` on a TAP, its kernel peer 192.0.2.1 in a fresh namespace. The reference is the
same workload between two Linux kernels: a KernelPair (two namespaces joined by a veth cable,
one segment per packet, as on the TAP) whose far end runs Python servers doing the same as the
services. The clients are the same kernel-side Python programs on both (tcp_kernel.py):

- bulk kernel -> stack: SEND_CLIENT pushes N bytes into discard and waits for its close;
- bulk stack -> kernel: RECV_CLIENT reads N bytes from chargen;
- connect/echo/close: CYCLE_CLIENT, one connection after the other, 32 bytes echoed each;
- the same two bulk transfers with nftables dropping 5% of TCP segments each way in the client's
  namespace (the loss test's figure: seconds for the transfer).

Rounds alternate reference and subject; each side keeps its best round. When the stack fails a
workload (its client exits non-zero or overruns its deadline), the other rows are still
measured and reported, and the failure is printed with its reason.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from netstack.bench import tap
from netstack.bench.common import BenchError, PartialResults, Result, Settings
from netstack.bench.tap import STACK_IP, responder_on_tap
from netstack.bench.tcp_kernel import (
    CHARGEN_SERVER,
    CYCLE_CLIENT,
    DISCARD_SERVER,
    ECHO_SERVER,
    FAR_IP,
    LOSS_TABLE,
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
SLOWEST_RATE = 250_000  # bytes/s: a transfer's deadline is its size at this rate, plus slack
DEADLINE_SLACK = 30.0  # seconds


@dataclass
class Workload:
    name: str
    unit: str
    higher_is_better: bool
    program: str
    args: Callable[[Settings], list[str]]
    figure: Callable[[dict[str, str], Settings], float]  # from the client's result line
    deadline: Callable[[Settings], float]
    lossy: bool = False
    rounds: Callable[[Settings], int] = lambda s: s.tcp_rounds
    subject: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    failure: str | None = None


def _mbits(nbytes: Callable[[Settings], int]) -> Callable[[dict[str, str], Settings], float]:
    return lambda r, s: nbytes(s) * 8 / float(r["seconds"]) / 1e6


def _deadline(nbytes: Callable[[Settings], int]) -> Callable[[Settings], float]:
    return lambda s: nbytes(s) / SLOWEST_RATE + DEADLINE_SLACK


def _bulk(s: Settings) -> int:
    return s.tcp_bytes


def _lossy(s: Settings) -> int:
    return s.tcp_loss_bytes


def _seconds(result: dict[str, str], settings: Settings) -> float:
    return float(result["seconds"])


def workloads() -> list[Workload]:
    return [
        Workload("TCP bulk kernel->stack", "Mbit/s", True, SEND_CLIENT,
                 lambda s: [str(DISCARD_PORT), str(s.tcp_bytes), "1"], _mbits(_bulk), _deadline(_bulk)),
        Workload("TCP bulk stack->kernel", "Mbit/s", True, RECV_CLIENT,
                 lambda s: [str(CHARGEN_PORT), str(s.tcp_bytes)], _mbits(_bulk), _deadline(_bulk)),
        Workload("TCP connect/echo/close", "cycles/s", True, CYCLE_CLIENT,
                 lambda s: [str(ECHO_PORT), str(s.tcp_cycles)],
                 lambda r, s: float(r["per_second"]), lambda s: s.tcp_cycles * 0.05 + DEADLINE_SLACK),
        Workload(f"TCP {LOSS_PERCENT}% loss kernel->stack", "s", False, SEND_CLIENT,
                 lambda s: [str(DISCARD_PORT), str(s.tcp_loss_bytes), "2"], _seconds,
                 lambda s: 4 * _deadline(_lossy)(s), lossy=True, rounds=lambda s: s.tcp_loss_rounds),
        Workload(f"TCP {LOSS_PERCENT}% loss stack->kernel", "s", False, RECV_CLIENT,
                 lambda s: [str(CHARGEN_PORT), str(s.tcp_loss_bytes)], _seconds,
                 lambda s: 4 * _deadline(_lossy)(s), lossy=True, rounds=lambda s: s.tcp_loss_rounds),
    ]  # fmt: skip


def run_client(ns: Namespace, workload: Workload, settings: Settings) -> float:
    """Run the workload's client in `ns` against 192.0.2.2; its figure, or BenchError."""
    deadline = workload.deadline(settings)
    cmd = [sys.executable, "-c", workload.program, STACK_IP, *workload.args(settings)]
    try:
        done = ns.run(cmd, check=False, timeout=deadline)
    except NamespaceError:
        raise BenchError(f"the client did not finish within {deadline:.0f} s") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the client exited {done.returncode}: {why}")
    try:
        return workload.figure(parse_result(done.stdout), settings)
    except (KeyError, ValueError, ZeroDivisionError) as exc:
        raise BenchError(f"unreadable client output {done.stdout.strip()!r}: {exc}") from None


def _start_reference_servers(pair: KernelPair, stack: ExitStack) -> None:
    for script, port in ((ECHO_SERVER, ECHO_PORT), (DISCARD_SERVER, DISCARD_PORT),
                         (CHARGEN_SERVER, CHARGEN_PORT)):  # fmt: skip
        proc = pair.far.popen([sys.executable, "-c", script, FAR_IP, str(port)])
        stack.callback(proc.kill)  # by pid; the namespace's close also ends it
        wait_for_line(proc, "listening", tap.STARTUP_TIMEOUT)


def _tap_device(ns: Namespace) -> str:
    """The one device besides lo in a responder's namespace: its TAP."""
    names = [line.split(":")[1].strip().split("@")[0]
             for line in ns.run(["ip", "-o", "link", "show"]).stdout.splitlines()]  # fmt: skip
    devices = [n for n in names if n != "lo"]
    if len(devices) != 1:
        raise BenchError(f"expected one TAP device in {ns.name}, found {devices}")
    return devices[0]


def bench_tcp(settings: Settings) -> list[Result]:
    tap.require_root("nft")
    loads = workloads()
    with ExitStack() as stack:
        try:
            pair = stack.enter_context(KernelPair())
            _start_reference_servers(pair, stack)
        except (NamespaceError, BenchError) as exc:
            raise BenchError(f"the Linux veth reference failed to start: {exc}") from exc
        try:
            command = tap.netstack_run_command(*SERVICES, *settings.run_options())
            stack_ns = stack.enter_context(responder_on_tap(command))
            one_segment_per_packet(stack_ns, _tap_device(stack_ns))
        except (NamespaceError, BenchError) as exc:
            raise BenchError(f"netstack run {' '.join(SERVICES)} failed to start: {exc}") from exc
        sides = (("Linux over veth", pair.near, "reference"), ("netstack run", stack_ns, "subject"))
        for lossy in (False, True):
            if lossy:
                for ns in (pair.near, stack_ns):
                    drop_tcp(ns, LOSS_PERCENT, FAR_IP)
            for round_number in range(max(w.rounds(settings) for w in loads)):
                for w in loads:
                    if w.lossy != lossy or round_number >= w.rounds(settings) or w.failure:
                        continue
                    for name, ns, side in sides:
                        try:
                            getattr(w, side).append(run_client(ns, w, settings))
                        except BenchError as exc:
                            linux = (f" (Linux over veth: {_best(w.reference, w.higher_is_better):,.1f}"
                                     f" {w.unit})" if w.reference else "")
                            w.failure = f"{w.name}: {name}: {exc}{linux}"
                            print(f"tcp: {w.failure}", file=sys.stderr, flush=True)
                            break
            if lossy:
                for ns in (pair.near, stack_ns):
                    ns.run(["nft", "delete", "table", "inet", LOSS_TABLE], check=False)
    results = [_row(w, settings) for w in loads if w.subject and w.reference and not w.failure]
    failures = [w.failure for w in loads if w.failure]
    if failures:
        raise PartialResults("; ".join(failures), results)
    return results


def _best(values: list[float], higher_is_better: bool) -> float:
    return max(values) if higher_is_better else min(values)


def _row(w: Workload, settings: Settings) -> Result:
    size = {"Mbit/s": settings.tcp_bytes, "s": settings.tcp_loss_bytes}.get(w.unit)
    label = f"{w.name}, {size / 1e6:g} MB" if size else f"{w.name}, {settings.tcp_cycles} cycles"
    return Result(
        name=label,
        unit=w.unit,
        subject_label="netstack run",
        subject=_best(w.subject, w.higher_is_better),
        reference_label="Linux over veth",
        reference=_best(w.reference, w.higher_is_better),
        higher_is_better=w.higher_is_better,
        details={"netstack_rounds": w.subject, "linux_rounds": w.reference,
                 "loss_percent": LOSS_PERCENT if w.lossy else 0},
    )
