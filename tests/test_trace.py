"""The tracer (netstack/trace.py): subscriptions, kinds, the drop callback it switches on in
Counters, high-water marks; and that an unwatched stack has tracing off."""

from __future__ import annotations

from ipaddress import IPv4Interface

import pytest

from netstack.counters import Counters
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.trace import (
    KINDS,
    Drop,
    HighWater,
    HighWaterMark,
    StateChange,
    Tracer,
    parse_kinds,
)


def make_stack() -> Stack:
    return Stack(StackConfig(mac=bytes([2, 0, 0xC0, 0, 2, 2]),
                             address=IPv4Interface("192.0.2.2/24")), MbufPool(16))


def test_an_unwatched_stack_has_tracing_off_and_no_drop_callback():
    stack = make_stack()
    assert stack.trace.active is False
    assert stack.counters.on_drop is None
    assert "bump" not in vars(stack.counters)  # the plain method: no check per bump


def test_a_subscriber_turns_tracing_on_and_unsubscribing_turns_it_off():
    stack = make_stack()
    seen: list = []
    unsubscribe = stack.trace.subscribe(seen.append)
    assert stack.trace.active and stack.counters.on_drop is not None
    stack.counters.bump("ipv4.drop.bad_checksum")
    stack.counters.bump("ipv4.rx.packets")  # not a drop: no event
    assert seen == [Drop(0.0, "ipv4.drop.bad_checksum")]
    unsubscribe()
    unsubscribe()  # twice is harmless
    assert not stack.trace.active and stack.counters.on_drop is None
    stack.counters.bump("ipv4.drop.bad_checksum")
    assert len(seen) == 1
    assert stack.counters["ipv4.drop.bad_checksum"] == 2  # counting never stops


def test_drops_are_reported_only_while_a_subscriber_wants_them():
    stack = make_stack()
    unsubscribe_cwnd = stack.trace.subscribe(list().append, kinds={"cwnd"})
    assert stack.trace.wanted == {"cwnd"}
    assert stack.counters.on_drop is None  # nobody wants drops: bump stays the plain method
    unsubscribe_drops = stack.trace.subscribe(list().append, kinds={"drop"})
    assert stack.trace.wants("drop") and stack.counters.on_drop is not None
    unsubscribe_drops()
    assert not stack.trace.wants("drop") and stack.counters.on_drop is None
    unsubscribe_cwnd()
    assert stack.trace.wanted == frozenset() and not stack.trace.active


def test_a_malformed_frame_is_a_drop_event_at_the_stacks_time():
    stack = make_stack()
    seen: list = []
    stack.trace.subscribe(seen.append, kinds={"drop"})
    stack.receive(b"\x00" * 10, 3.5)  # shorter than an Ethernet header
    assert len(seen) == 1 and seen[0].time == 3.5 and ".drop." in seen[0].counter


def test_subscribers_get_only_the_kinds_they_asked_for():
    tracer = Tracer()
    drops: list = []
    everything: list = []
    tracer.subscribe(drops.append, kinds={"drop"})
    tracer.subscribe(everything.append)
    state = StateChange(1.0, None, "CLOSED", "SYN-SENT")
    tracer.emit(state)
    tracer.emit(Drop(2.0, "tcp.drop.bad_ack"))
    assert [e.kind for e in drops] == ["drop"]
    assert everything == [state, Drop(2.0, "tcp.drop.bad_ack")]


def test_trace_kind_names_expand_and_unknown_ones_are_refused():
    assert parse_kinds("tcp") == KINDS["tcp"]
    assert "drop" not in parse_kinds("tcp") and "state" in parse_kinds("tcp")
    assert parse_kinds("drop,state") == {"drop", "state"}
    assert parse_kinds("segment") == {"segment_in", "segment_out"}
    assert parse_kinds("all") >= parse_kinds("tcp") | {"drop", "highwater"}
    with pytest.raises(ValueError, match="unknown trace kind 'tpc'"):
        parse_kinds("tpc")


def test_a_high_water_mark_reports_once_per_crossing():
    tracer = Tracer()
    seen: list = []
    tracer.subscribe(seen.append)
    mark = HighWaterMark(tracer, "engine.in_ring", 100)
    for t, depth in enumerate([10, 74, 75, 99, 80, 74, 90]):
        mark.check(depth, float(t))
    assert seen == [HighWater(2.0, "engine.in_ring", 75, 100),
                    HighWater(6.0, "engine.in_ring", 90, 100)]
    assert seen[0].describe() == "2.000000 engine highwater engine.in_ring 75/100"


def test_counters_report_only_drop_names():
    counters = Counters()
    names: list[str] = []
    counters.set_drop_callback(names.append)
    for name in ("tcp.drop.bad_ack", "ring.drop.in_full", "tcp.rx.segments", "dropped"):
        counters.bump(name)
    assert names == ["tcp.drop.bad_ack", "ring.drop.in_full"]
    counters.set_drop_callback(None)
    assert "bump" not in vars(counters)


def test_the_engine_reports_its_in_ring_crossing_the_high_water_mark():
    from netstack.clock import VirtualClock
    from netstack.engine.loop import Engine
    from netstack.engine.ports import open_port
    from tests.engine.fakes import BROADCAST, EchoStack, frame
    from tests.netns import unique_name

    pool = MbufPool(64)
    stack = EchoStack(pool, bytes.fromhex("020000000001"))
    stack.trace = Tracer()
    port = open_port(f"memory:{unique_name('hw')}")
    engine = Engine(stack, port, pool, clock=VirtualClock(), ring_size=8, burst=8)
    seen: list = []
    stack.trace.subscribe(seen.append, kinds={"highwater"})
    try:
        engine.run_once()
        for _burst in range(2):
            for i in range(8):
                port.deliver(frame(BROADCAST, bytes.fromhex("020000000002"), b"%d" % i))
            engine.run_once()  # a full burst lands in the in ring: 8 of 8
        assert [(e.queue, e.depth, e.limit) for e in seen] == [("engine.in_ring", 8, 8)]
        engine.run_once()  # nothing arrives: below the mark, so the next crossing counts
        for i in range(6):
            port.deliver(frame(BROADCAST, bytes.fromhex("020000000002"), b"%d" % i))
        engine.run_once()
        assert [e.depth for e in seen] == [8, 6]
    finally:
        engine.close()
