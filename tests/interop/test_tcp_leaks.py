"""No leaks: 2,000 connect/echo/close cycles from the kernel leave the stack as they found it.

The stack runs in this process (TcpStackInNamespace), with the tcp-echo service on port 7, so
the test can read its tables through the loop thread (`host.call`): connections, half-open
and accept queues, port-table entries, armed timers (the TimerWheel's count), free mbufs, the
host's sockets and the service's threads. Memory is traced with tracemalloc from the baseline
on, after a garbage collection at each end.

A kernel-side client closes first, so TIME-WAIT is normally Linux's to hold; MSL is set short
(TIME-WAIT = 2 x MSL = 1 s) so that any TIME-WAIT the stack does hold ends within the test,
and TIME-WAIT connections are reported on their own if they do not.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc

import pytest

from netstack.bench.tcp_kernel import CYCLE_CLIENT
from tests.interop.kernel_peer import requires_root
from tests.interop.tcp_support import STACK_IP, KernelProgram, TcpStackInNamespace, parse_result
from tests.netns import wait_until

pytestmark = requires_root
api = pytest.importorskip("netstack.api")

CYCLES = 2000
WARMUP_CYCLES = 50  # first connections fill caches (ARP, code paths, counter names)
ECHO_PORT = 7
MSL = 0.5  # seconds
MEMORY_TOLERANCE = 1 << 20  # bytes still allocated after 2,000 cycles: ~500 bytes a cycle
SETTLE_DEADLINE = 2 * MSL + 15.0  # seconds for the last connections and timers to go


def tcp_options() -> dict:
    """StackConfig options for a short MSL, if this stack takes TCP tunables there."""
    from netstack.stack import StackConfig
    from netstack.stages.tcp.config import TcpConfig

    if "tcp" in StackConfig.__dataclass_fields__:
        return {"tcp": TcpConfig(msl=MSL)}
    return {}


def tables(bench: TcpStackInNamespace) -> dict[str, int]:
    """What the stack holds right now, read on its loop thread."""

    def read(stack, now):
        tcp = stack.tcp
        states = [str(c.state) for c in tcp.connections()]
        listeners = tcp.listeners()
        return {
            "connections (not TIME-WAIT)": sum(s != "TIME-WAIT" for s in states),
            "connections in TIME-WAIT": states.count("TIME-WAIT"),
            "half-open (SYN queue)": sum(len(lst.half_open) for lst in listeners),
            "accept queue": sum(len(lst.accept_queue) for lst in listeners),
            "port-table entries": len(tcp.ports.all()),
            "armed timers": len(stack.timers),
            "free mbufs": stack.pool.available,
        }

    snapshot = bench.host.call(read)
    snapshot["host sockets"] = len(bench.host.sockets())
    snapshot["threads"] = threading.active_count()
    return snapshot


def run_cycles(bench: TcpStackInNamespace, count: int) -> dict[str, str]:
    with KernelProgram(bench.ns, CYCLE_CLIENT, STACK_IP, str(ECHO_PORT), str(count)) as client:
        return parse_result(client.wait(30 + count * 0.1, f"{count} connect/echo/close cycles"))


def settled(bench: TcpStackInNamespace, baseline: dict[str, int]) -> dict[str, int] | None:
    now = tables(bench)
    return now if now == baseline else None


def test_two_thousand_connections_leave_no_trace(tmp_path, engine):
    from netstack.services import stream_runner, tcp_echo

    with TcpStackInNamespace(tmp_path, engine=engine, **tcp_options()) as bench, \
            stream_runner.ServiceRunner(bench.host, [(tcp_echo.Handler(), ECHO_PORT)]):
        assert run_cycles(bench, WARMUP_CYCLES)["cycles"] == str(WARMUP_CYCLES)
        # Idle: nothing but the listener is left (connections close in the background).
        wait_until(lambda: tables(bench)["connections (not TIME-WAIT)"] == 0
                   and tables(bench)["connections in TIME-WAIT"] == 0,
                   timeout=SETTLE_DEADLINE, what="the warm-up connections to close")
        gc.collect()
        baseline = tables(bench)
        opened_before = bench.counters["tcp.conn.passive_open"]
        tracemalloc.start()
        try:
            memory_before = tracemalloc.get_traced_memory()[0]

            result = run_cycles(bench, CYCLES)

            try:
                wait_until(lambda: settled(bench, baseline), timeout=SETTLE_DEADLINE,
                           what="the stack's tables to return to their baseline")
            except AssertionError:
                now = tables(bench)
                changed = {k: f"{baseline[k]} -> {now[k]}" for k in baseline if baseline[k] != now[k]}
                raise AssertionError(f"after {CYCLES} cycles these did not return to the "
                                     f"baseline within {SETTLE_DEADLINE:g} s: {changed}") from None
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - memory_before
            top = tracemalloc.take_snapshot().statistics("lineno")[:5]
        finally:
            tracemalloc.stop()
        opened = bench.counters["tcp.conn.passive_open"] - opened_before

    print(f"\n{CYCLES} cycles at {result['per_second']}/s; memory growth {growth:,} bytes; "
          f"baseline {baseline}")
    assert result["cycles"] == str(CYCLES)
    assert opened == CYCLES, f"the stack counted {opened} passive opens for {CYCLES} connections"
    assert growth < MEMORY_TOLERANCE, (
        f"{growth:,} bytes still allocated after {CYCLES} cycles (tolerance "
        f"{MEMORY_TOLERANCE:,}); largest:\n" + "\n".join(str(s) for s in top))
