"""The dispatch loop with a fake stack: rings, memory ports, wakeups, drops. No root needed."""

import threading
import time

import pytest

from netstack.clock import MonotonicClock, VirtualClock
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.mbuf import MbufPool
from tests.engine.fakes import BROADCAST, EchoStack, frame
from tests.netns import unique_name, wait_until

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def make_pair(hello_a=(), hello_b=(), real_clock=False, **engine_kwargs):
    """Two fake stacks joined by a memory cable, each with its own pool and engine."""
    cable = unique_name("cable")
    engines = []
    for mac, hello in ((MAC_A, hello_a), (MAC_B, hello_b)):
        pool = MbufPool(256)
        stack = EchoStack(pool, mac, hello=list(hello))
        port = open_port(f"memory:{cable}")
        clock = MonotonicClock() if real_clock else VirtualClock()
        engines.append(Engine(stack, port, pool, clock=clock, **engine_kwargs))
    return engines


def test_two_engines_exchange_frames_through_rings_and_a_memory_cable():
    a, b = make_pair(hello_b=[b"ping %d" % i for i in range(5)])
    # b must be on the cable before a sends, so start a first; b's hello pings reach a.
    a.start()
    b.start()
    try:
        wait_until(lambda: len(b.stack.received) == 5, timeout=5, what="5 pongs back at b")
        assert [f[14:] for f in b.stack.received] == [b"pong %d" % i for i in range(5)]
        assert all(f[:6] == MAC_B and f[6:12] == MAC_A for f in b.stack.received)
        assert a.counters["port.rx"] == 5 and a.counters["port.tx"] == 5
        assert b.counters["port.tx"] == 5 and b.counters["port.rx"] == 5
    finally:
        a.close()
        b.close()
    assert a.pool.available == len(a.pool) and b.pool.available == len(b.pool), "mbuf leak"


def test_stepping_both_engines_by_hand_is_deterministic():
    a, b = make_pair()
    try:
        a.run_once()
        b.run_once()
        b.stack.send(frame(BROADCAST, MAC_B, b"ping!"))
        b.run_once()  # b transmits
        a.run_once()  # a receives, echoes, transmits
        b.run_once()  # b receives the pong
        assert b.stack.received == [frame(MAC_B, MAC_A, b"pong!")]
    finally:
        a.close()
        b.close()


def test_call_runs_on_the_loop_thread_and_returns_its_result():
    a, b = make_pair()
    a.start()
    try:
        loop_thread = a.call(lambda stack, now: threading.current_thread())
        assert loop_thread is not threading.current_thread()
        assert a.call(lambda stack, now: stack.mac) == MAC_A
        with pytest.raises(ZeroDivisionError):
            a.call(lambda stack, now: 1 / 0)
    finally:
        a.close()
        b.close()


def test_stop_wakes_a_sleeping_loop_promptly():
    a, b = make_pair(real_clock=True)
    a.start()
    try:
        time.sleep(0.05)  # let it settle into poll() with no deadline at all
        started = time.monotonic()
        a.stop()
        assert time.monotonic() - started < 0.5
        assert a._thread is None
    finally:
        a.close()
        b.close()


def test_the_loop_sleeps_until_the_stacks_next_deadline():
    a, b = make_pair(real_clock=True)
    a.stack.deadline = a.clock.now() + 0.2
    b.start()
    a.start()
    try:
        passes = a.passes
        wait_until(lambda: b.stack.received, timeout=2, what="the timer frame")
        assert b.stack.received[0][14:] == b"timer"
        assert a.passes - passes < 10, "the loop spun instead of sleeping until the deadline"
    finally:
        a.close()
        b.close()


def test_a_full_out_ring_is_sent_out_not_dropped():
    """Back-pressure: when a pass queues more frames than the out ring holds, the engine
    transmits what the ring holds and queues the rest, in order."""
    hello = [b"hello %d" % i for i in range(10)]
    a, b = make_pair(hello_a=hello, ring_size=4)
    try:
        b.run_once()
        a.run_once()  # start: 10 frames outgoing, room for 4 in the out ring
        assert a.counters.get("ring.drop.out_full", 0) == 0
        assert a.counters["port.tx"] == 10
        b.run_once()
        assert b.counters["port.rx"] == 10  # all ten crossed the cable, in order:
        assert [f[14:] for f in b.stack.received] == hello[:4]  # (b's own in ring holds 4)
    finally:
        a.close()
        b.close()
    assert a.pool.available == len(a.pool)


def test_a_full_in_ring_drops_and_counts():
    a, b = make_pair(ring_size=4, burst=16)
    try:
        a.run_once()
        for i in range(10):  # straight onto the cable: 10 frames wait at a's port
            b.port.peer.deliver(frame(MAC_A, MAC_B, b"x%d" % i))
        a.run_once()  # one rx burst takes all 10; the 4-slot in ring accepts 4
        assert a.counters["port.rx"] == 10
        assert a.counters["ring.drop.in_full"] == 6
        assert [f[14:] for f in a.stack.received] == [b"x0", b"x1", b"x2", b"x3"]
    finally:
        a.close()
        b.close()
    assert a.pool.available == len(a.pool)


def test_frames_for_the_kernel_without_a_kni_device_are_counted():
    a, b = make_pair()
    a.stack.forward_to_kni = True
    try:
        a.run_once()
        b.stack.send(frame(MAC_A, MAC_B, b"not for the stack"))
        b.run_once()
        a.run_once()
        assert a.counters["kni.drop.no_device"] == 1
    finally:
        a.close()
        b.close()


def test_a_frame_larger_than_an_mbuf_is_dropped_and_counted():
    a, b = make_pair()
    try:
        a.run_once()
        b.run_once()
        b.port.peer.deliver(b"\x00" * 5000)
        a.run_once()
        assert a.counters["port.drop.too_big"] == 1
        assert a.stack.received == []
    finally:
        a.close()
        b.close()


def test_a_crashing_stack_is_counted_not_fatal():
    a, b = make_pair()

    def explode(data, now):
        raise RuntimeError("bug in a stage")

    a.stack.receive = explode
    try:
        a.run_once()
        b.stack.send(frame(MAC_A, MAC_B, b"boom"))
        b.run_once()
        a.run_once()
        assert a.counters["engine.drop.stack_error"] == 1
    finally:
        a.close()
        b.close()
    assert a.pool.available == len(a.pool)


def test_an_engine_refuses_a_pool_that_is_not_its_stacks():
    """With two pools, the engine would read the stack's frames from the wrong buffers."""
    from ipaddress import IPv4Interface

    from netstack.errors import ConfigError
    from netstack.stack import Stack, StackConfig

    stack = Stack(StackConfig(mac=bytes.fromhex("020000000002"),
                              address=IPv4Interface("192.0.2.2/24")), MbufPool(16))
    port = open_port("memory:two-pools")
    try:
        with pytest.raises(ConfigError, match="must be the stack's own"):
            Engine(stack, port, MbufPool(16))
    finally:
        port.close()


def test_a_memory_cable_end_held_by_hand_counts_and_takes_its_frames():
    a, b = open_port("memory:by-hand"), open_port("memory:by-hand")
    try:
        a.deliver(b"one")
        a.deliver(b"two")
        assert a.waiting == 2
        assert a.take_frames() == [b"one", b"two"]
        assert a.waiting == 0 and a.take_frames() == []
    finally:
        a.close()
        b.close()
