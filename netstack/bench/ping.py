"""ping RTT: the kernel pings `netstack run`, the C responder and Linux over a veth, in turn.

The speed target is netstack's RTT at most twice the C responder's; Linux answering over a
veth is shown too, for scale (it skips the TAP, so it is not the yardstick)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict

import netstack.bench.tap as tap
from netstack.bench.common import BenchError, Result, Settings, Target, progress
from netstack.bench.tap import PingStats, ping_round, responder_on_tap
from netstack.bench.tcp_kernel import KernelPair
from netstack.netns import NamespaceError


def best_round(rounds: Sequence[PingStats]) -> PingStats:
    """All rounds' packets and extremes, with the lowest round average as `rtt_avg_ms`."""
    best = min(rounds, key=lambda r: r.rtt_avg_ms)
    transmitted = sum(r.transmitted for r in rounds)
    received = sum(r.received for r in rounds)
    return PingStats(
        transmitted=transmitted,
        received=received,
        loss_percent=round(100 * (transmitted - received) / transmitted, 2),
        rtt_min_ms=min(r.rtt_min_ms for r in rounds),
        rtt_avg_ms=best.rtt_avg_ms,
        rtt_max_ms=max(r.rtt_max_ms for r in rounds),
        rtt_mdev_ms=best.rtt_mdev_ms,
    )


def with_loss(label: str, transmitted: int, received: int) -> str:
    # An average over the replies that came back hides lost ones; say so next to it.
    if received < transmitted:
        return f"{label} ({100 * (transmitted - received) / transmitted:.2g}% loss)"
    return label


def bench_ping(settings: Settings) -> list[Result]:
    """Both responders run side by side, each in its own namespace (so both can be
    192.0.2.2), and the rounds alternate between them: a noisy moment hits both."""
    tap.require_root()
    binary = tap.build_responder()
    per_round = max(1, settings.ping_count // settings.rounds)
    c_rounds: list[PingStats] = []
    stack_rounds: list[PingStats] = []
    linux_rounds: list[PingStats] = []
    with ExitStack() as namespaces:
        try:
            c_ns = namespaces.enter_context(responder_on_tap(tap.responder_command(binary)))
        except (NamespaceError, BenchError) as exc:
            raise BenchError(f"C responder failed: {exc}") from exc
        try:
            command = tap.netstack_run_command(*settings.run_options(), port=settings.port)
            stack_ns = namespaces.enter_context(responder_on_tap(command))
        except (NamespaceError, BenchError) as exc:
            # Still measure the yardstick: its figure tells whether the machine is sane.
            c_only = ping_round(c_ns, per_round)
            raise BenchError(
                f"netstack run failed: {exc} "
                f"(C responder alone: avg {c_only.rtt_avg_ms * 1000:.0f} us)"
            ) from exc
        try:  # the third target: Linux answering over a veth, for scale (no ratio target)
            pair = namespaces.enter_context(KernelPair(one_segment=False))
        except NamespaceError as exc:
            raise BenchError(f"the Linux veth pair failed: {exc}") from exc
        for number in range(settings.rounds):
            progress(f"  ping: round {number + 1}/{settings.rounds}, {per_round} pings each")
            for name, ns, rounds in (("C responder", c_ns, c_rounds),
                                     ("netstack run", stack_ns, stack_rounds),
                                     ("Linux over veth", pair.near, linux_rounds)):  # fmt: skip
                try:
                    rounds.append(ping_round(ns, per_round))
                except (NamespaceError, BenchError) as exc:
                    raise BenchError(f"{name} failed: {exc}") from exc
    native, stack, linux = best_round(c_rounds), best_round(stack_rounds), best_round(linux_rounds)
    return [
        Result(
            name="ping RTT avg",
            unit="ms",
            subject_label=with_loss("netstack run", stack.transmitted, stack.received),
            subject=stack.rtt_avg_ms,
            reference_label=with_loss("C responder", native.transmitted, native.received),
            reference=native.rtt_avg_ms,
            higher_is_better=False,
            details={
                "rounds": settings.rounds,
                "pings_per_round": per_round,
                "netstack": asdict(stack),
                "c_responder": asdict(native),
                "linux_veth": asdict(linux),
                "netstack_round_avgs_ms": [r.rtt_avg_ms for r in stack_rounds],
                "c_responder_round_avgs_ms": [r.rtt_avg_ms for r in c_rounds],
                "linux_veth_round_avgs_ms": [r.rtt_avg_ms for r in linux_rounds],
            },
            target=Target(2.0, at_least=False),
            extra={with_loss("Linux over veth", linux.transmitted, linux.received): linux.rtt_avg_ms},
        )
    ]
