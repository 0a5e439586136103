"""As root: the new workloads end to end with small counts, against netstack and Linux."""

from __future__ import annotations

import dataclasses

import pytest

from netstack.bench.common import QUICK
from netstack.bench.hold import bench_hold
from netstack.bench.tcp import bench_tcp
from netstack.netns import is_root

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root: creates network namespaces")


def test_hold_200_connections_on_both_sides() -> None:
    held, rss = bench_hold(dataclasses.replace(QUICK, hold_connections=200))
    assert (held.subject, held.reference) == (200, 200), held.details
    counters = held.details["netstack_counters"]
    # The stack's own count agrees with the client's.
    assert counters["tcp.conn.established"] >= 200 and counters["service.tcp_hold.peak"] == 200
    assert rss.subject > 0 and rss.details["netstack_rss_growth"] > 0
    assert rss.reference > 0


def test_tcp_rows_have_both_sides_and_targets() -> None:
    settings = dataclasses.replace(QUICK, tcp_bytes=1_000_000, tcp_reference_bytes=5_000_000,
                                   tcp_cycles=20, tcp_echo_seconds=0.2)
    rows = {r.name.split(",")[0]: r for r in bench_tcp(settings)}
    assert set(rows) == {"TCP echo 64 B", "TCP connect/echo/close", "TCP bulk kernel->stack",
                         "TCP bulk stack->kernel"}
    for row in rows.values():
        assert row.subject > 0 and row.reference > 0, row
    assert rows["TCP bulk kernel->stack"].details["linux_offloads"] == "GSO/GRO/TSO on"
    assert rows["TCP connect/echo/close"].verdict in ("PASS", "MISS")
