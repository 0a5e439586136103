"""Every resource bounded under hostile input, each bound counted (issue 16, part 3).

Sans-I/O: frames go in with `stack.receive` (or a transcript harness), the clock is
virtual, and every random choice comes from a fixed seed. Each test floods one structure
well past its limit and checks three things: it never holds more than the limit, each
refusal or eviction bumps a named counter, and once the flood is over and the clocks have
run out, nothing is left behind (entries, connections, timers).

Bounds tested elsewhere, not repeated here:
  - the SYN queue and the accept queue refusing SYNs: tests/stages/tcp/test_lifecycle.py
    (test_syn_queue_is_bounded_and_counts_drops, test_backlog_bounds_the_accept_queue);
  - the reassembler alone under a fragment flood: tests/stages/test_reassembly.py;
  - the ICMP token bucket alone: tests/stages/test_icmp.py (test_error_rate_limit);
  - the ARP table unit alone: tests/stages/test_arp_table.py.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address

import pytest

from netstack.ctl import tunables
from netstack.errors import ConfigError
from netstack.stack import StackConfig
from netstack.stages.tcp import TcpConfig, TcpConnection, TcpState
from netstack.testing import MODES, arp_frame, ipv4_frame
from netstack.wire import arp as wire_arp
from netstack.wire.ipv4 import IPv4Header
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, MssOption
from tests.stages.common import OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, make_stack
from tests.stages.tcp import support
from tests.stages.tcp.states import PEER_ISN, STACK_ISN, Scene, listen

ACK, SYN, FIN, RST = FLAG_ACK, FLAG_SYN, FLAG_FIN, FLAG_RST
SEED = 16  # every flood's addresses come from here


def drain(stack) -> int:
    """Free every frame the stack sent; how many there were."""
    sent = 0
    while stack.outgoing:
        stack.pool.free(stack.outgoing.popleft())
        sent += 1
    return sent


# --- the ARP table -------------------------------------------------------------------------


def flood_senders(count: int) -> list[tuple[IPv4Address, bytes]]:
    """`count` distinct made-up neighbours (198.18.0.0/15, RFC 2544's benchmark range)."""
    rng = random.Random(SEED)
    hosts = rng.sample(range(1, 1 << 17), count)
    return [(IPv4Address(0xC6120000 + h), bytes([0x02]) + rng.randbytes(5)) for h in hosts]


def test_an_arp_flood_from_random_senders_evicts_and_never_grows_the_table():
    limit = 64
    stack = make_stack(arp_table_limit=limit, static_arp={PEER_IP: PEER_MAC})
    senders = flood_senders(3000)
    for n, (ip, mac) in enumerate(senders):
        stack.receive(arp_frame(wire_arp.OP_REQUEST, mac, ip, OUR_IP), n * 0.001)
        drain(stack)
        assert len(stack.arp.entries()) <= limit
    counters = stack.counters
    assert counters["arp.learned"] == 3000
    assert counters["arp.tx.reply"] == 3000  # each was still answered
    # One slot is the static entry's: 63 dynamic entries stay, the rest were evicted.
    assert counters["arp.evicted"] == 3000 - (limit - 1)
    assert stack.arp.lookup(PEER_IP) == PEER_MAC  # static entries are never evicted
    newest = {ip for ip, _ in senders[-(limit - 1):]}
    assert {e.ip for e in stack.arp.entries() if not e.static} == newest
    # Evicted entries took their aging timers with them (at most one per entry is left).
    assert len(stack.timers) <= limit - 1
    assert stack.timers.stored <= 2 * len(stack.timers) + 65
    stack.advance(3.0 + stack.config.arp_reachable_time)
    assert [e.ip for e in stack.arp.entries()] == [PEER_IP]
    assert len(stack.timers) == 0


def test_an_arp_flood_not_addressed_to_us_adds_no_entries():
    stack = make_stack(arp_table_limit=64)
    for n, (ip, mac) in enumerate(flood_senders(1000)):
        stack.receive(arp_frame(wire_arp.OP_REQUEST, mac, ip, IPv4Address("192.0.2.77")),
                      n * 0.001)
    # RFC 826: a packet for someone else only refreshes an entry we already have.
    assert stack.arp.entries() == [] and len(stack.timers) == 0
    assert stack.counters["arp.drop.not_for_us"] == 1000
    assert drain(stack) == 0


def test_the_arp_table_limit_is_validated_and_a_live_tunable():
    assert StackConfig(mac=OUR_MAC, address="192.0.2.2/24").arp_table_limit == 1024
    with pytest.raises(ConfigError, match="arp_table_limit"):
        StackConfig(mac=OUR_MAC, address="192.0.2.2/24", arp_table_limit=0)
    stack = make_stack()
    for ip, mac in flood_senders(10):
        stack.receive(arp_frame(wire_arp.OP_REQUEST, mac, ip, OUR_IP), 0.0)
    tunable = tunables.find("net.ipv4.arp_table_limit")
    assert tunable.applies == "live"
    tunables.set_value(stack, tunable, "4")
    assert stack.arp.table.limit == 4
    ip, mac = flood_senders(11)[-1]
    stack.receive(arp_frame(wire_arp.OP_REQUEST, mac, ip, OUR_IP), 1.0)
    assert len(stack.arp.entries()) == 4  # the next learn made room down to the new limit
    assert stack.counters["arp.evicted"] == 7


# --- TCP: connections on one listener ------------------------------------------------------


def scene(config: TcpConfig, mode: str = "immediate") -> Scene:
    support.HARNESS_MODE = mode
    try:
        return listen(config)
    finally:
        support.HARNESS_MODE = "immediate"


def open_connections(s: Scene, ports: range) -> list[TcpConnection]:
    """A completed handshake from each peer port; the connections, accepted."""
    conns = []
    for port in ports:
        s.peer.port = port
        s.peer.send(SYN, seq=PEER_ISN, options=(MssOption(1460),))
        s.peer.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)
        s.peer.send(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1)
        assert s.listener is not None
        conns.append(s.listener.accept_queue.popleft())
    return conns


def test_a_handshake_completing_into_a_full_accept_queue_stays_half_open_and_ends():
    # The ACK path (the SYN path is test_lifecycle's): the application does not accept,
    # so the last ACKs of handshakes beyond the backlog are dropped, counted, and those
    # connections give up after their SYN-ACK retries instead of piling up.
    s = scene(TcpConfig(synack_retries=2))
    s.tcp.close_listener(s.listener, s.now)
    s.listener = s.tcp.listen(None, 80, 2)
    for port in range(1000, 1004):
        s.peer.port = port
        s.peer.send(SYN, seq=PEER_ISN)
        s.peer.expect(SYN | ACK)
    for port in range(1000, 1004):
        s.peer.port = port
        s.peer.send(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1)
    assert len(s.listener.accept_queue) == 2 and len(s.listener.half_open) == 2
    s.harness.expect_counter("tcp.drop.accept_queue_full", 2)
    for _ in range(6):  # the SYN-ACK goes again after 1 s and 2 s; then they give up
        s.harness.advance(10.0)
        s.harness.drain()
    assert s.harness.stack.counters["tcp.conn.timeout"] == 2
    assert s.tcp.connection_count == 2 and not s.listener.half_open
    assert all(c.state == TcpState.ESTABLISHED for c in s.listener.accept_queue)


def test_out_of_order_blocks_per_connection_are_bounded_and_counted():
    s = scene(TcpConfig(max_out_of_order=4))
    (conn,) = open_connections(s, range(1000, 1001))
    base = PEER_ISN + 1
    stream = bytes(range(256))
    for k in range(1, 7):  # six separate one-byte islands, each 10 bytes apart
        s.peer.send(ACK, seq=base + 10 * k, ack=STACK_ISN + 1, data=stream[10 * k:10 * k + 1])
        s.peer.expect(ACK, ack=base)
    assert len(conn.receiver.blocks) == 4
    s.harness.expect_counter("tcp.drop.out_of_order_limit", 2)
    # The peer sends it all again from the hole: the stream comes out whole.
    s.peer.send(ACK, seq=base, ack=STACK_ISN + 1, data=stream[:100])
    s.peer.expect(ACK, ack=base + 100)
    assert conn.receiver.blocks == [] and conn.read_app(1000) == stream[:100]


def test_out_of_order_data_of_all_connections_together_is_bounded_and_counted():
    limit = 3000
    s = scene(TcpConfig(max_out_of_order_total=limit))
    conns = open_connections(s, range(1000, 1006))
    base = PEER_ISN + 1
    island = bytes(range(200)) * 5  # 1000 bytes, 100 bytes past each connection's rcv_nxt
    for conn in conns:
        s.peer.port = conn.remote[1]
        s.peer.send(ACK, seq=base + 100, ack=STACK_ISN + 1, data=island)
        s.peer.expect(ACK, ack=base)  # stored or dropped, a duplicate ACK all the same
        assert s.tcp.out_of_order_held <= limit
    assert s.tcp.out_of_order_held == limit
    assert [c.receiver.out_of_order_bytes for c in conns] == [1000] * 3 + [0] * 3
    s.harness.expect_counter("tcp.drop.out_of_order_memory", 3)
    # Beyond the window, a segment is refused for that (RFC 9293), not for memory.
    s.peer.send(ACK, seq=base + 70_000, ack=STACK_ISN + 1, data=island)
    s.peer.expect(ACK, ack=base)
    s.peer.expect_nothing()
    s.harness.expect_counter("tcp.drop.out_of_order_memory", 3)

    # In-order data always goes through, even at the limit: it is what drains the queues.
    s.peer.port = conns[0].remote[1]
    s.peer.send(ACK, seq=base, ack=STACK_ISN + 1, data=bytes(100))
    s.peer.expect(ACK, ack=base + 1100)
    assert conns[0].read_app(2000) == bytes(100) + island
    assert s.tcp.out_of_order_held == 2000
    # With room again, the next connection's island is kept.
    s.peer.port = conns[3].remote[1]
    s.peer.send(ACK, seq=base + 100, ack=STACK_ISN + 1, data=island)
    s.peer.expect(ACK, ack=base)
    assert conns[3].receiver.out_of_order_bytes == 1000 and s.tcp.out_of_order_held == 3000

    # Connections that end give back what they held.
    for conn in conns:
        s.peer.port = conn.remote[1]
        s.peer.send(RST, seq=conn.receiver.rcv_nxt.value)
    assert s.tcp.connection_count == 0 and s.tcp.out_of_order_held == 0
    assert len(s.harness.stack.timers) == 0


def test_a_fin_beyond_the_out_of_order_limit_is_dropped_with_its_data():
    s = scene(TcpConfig(max_out_of_order_total=500))
    (conn,) = open_connections(s, range(1000, 1001))
    s.peer.send(FIN | ACK, seq=PEER_ISN + 11, ack=STACK_ISN + 1, data=bytes(600))
    s.peer.expect(ACK, ack=PEER_ISN + 1)
    s.harness.expect_counter("tcp.drop.out_of_order_memory", 1)
    assert conn.state == TcpState.ESTABLISHED and conn.receiver.fin_offset is None
    # Sent again in order, all of it arrives, FIN included.
    s.peer.send(FIN | ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1, data=bytes(610))
    s.peer.expect(ACK, ack=PEER_ISN + 612)
    assert conn.state == TcpState.CLOSE_WAIT and conn.read_app(1000) == bytes(610)


@pytest.mark.parametrize("mode", MODES)
def test_time_wait_connections_are_bounded_stack_wide_and_the_rest_close_at_once(mode):
    msl = 5.0
    s = scene(TcpConfig(max_time_wait=2, msl=msl), mode)
    baseline = len(s.harness.stack.timers)
    conns = open_connections(s, range(1000, 1005))
    for conn in conns:
        s.peer.port = conn.remote[1]
        s.harness.call("close", lambda stack, now, conn=conn: conn.close(now))
        s.peer.expect(FIN | ACK, seq=STACK_ISN + 1, ack=PEER_ISN + 1)
        s.peer.send(FIN | ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 2)
        s.peer.expect(ACK, seq=STACK_ISN + 2, ack=PEER_ISN + 2)  # even when not kept
    assert [c.state for c in conns] == [TcpState.TIME_WAIT] * 2 + [TcpState.CLOSED] * 3
    assert s.tcp.time_wait_count == 2 and s.tcp.connection_count == 2
    s.harness.expect_counter("tcp.time_wait.overflow", 3)
    s.harness.advance(2 * msl + 0.1)
    assert s.tcp.time_wait_count == 0 and s.tcp.connection_count == 0
    assert len(s.harness.stack.timers) == baseline
    # Room again: the next connection to close waits in TIME-WAIT as usual.
    (conn,) = open_connections(s, range(2000, 2001))
    s.harness.call("close", lambda stack, now: conn.close(now))
    s.peer.expect(FIN | ACK)
    s.peer.send(FIN | ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 2)
    s.peer.expect(ACK)
    assert conn.state == TcpState.TIME_WAIT
    s.harness.expect_counter("tcp.time_wait.overflow", 3)


def test_the_new_tcp_bounds_are_validated_tunables():
    for name in ("max_time_wait", "max_out_of_order_total"):
        with pytest.raises(ConfigError, match=name):
            TcpConfig(**{name: 0})
        tunable = tunables.find(f"net.ipv4.tcp.{name}")
        assert tunable.kind is int and tunable.low == 1
        assert tunable.applies == "live"  # stack-wide: the stage reads its config each time


# --- IPv4 reassembly and ICMP errors, through the whole stack ------------------------------


def first_fragment(ident: int, size: int = 1000) -> bytes:
    header = IPv4Header(PEER_IP, OUR_IP, 17, identification=ident, more_fragments=True)
    return ipv4_frame(OUR_MAC, PEER_MAC, header, bytes(size))


def test_a_fragment_flood_through_the_stack_stays_within_the_reassembly_bounds():
    limit = 32 * 1024
    stack = make_stack(static_arp={PEER_IP: PEER_MAC}, reassembly_max_datagrams=8,
                       reassembly_memory_limit=limit, reassembly_timeout=2.0)
    reassembler = stack.ipv4.reassembler
    for ident in range(500):
        stack.receive(first_fragment(ident), ident * 0.001)
        assert len(reassembler) <= 8 and reassembler.memory_used <= limit
    assert stack.counters["ipv4.drop.reassembly_evicted"] == 500 - 8
    drain(stack)
    stack.advance(3.0)  # the last eight time out (and may send ICMP time exceeded)
    assert len(reassembler) == 0 and reassembler.memory_used == 0
    assert stack.counters["ipv4.drop.reassembly_timeout"] == 8
    assert len(stack.timers) == 0
    drain(stack)
    assert stack.pool.available == len(stack.pool)


def test_a_burst_of_error_triggers_yields_at_most_the_burst_then_the_rate():
    stack = make_stack(static_arp={PEER_IP: PEER_MAC}, icmp_error_rate=5.0,
                       icmp_error_burst=4)
    unknown_protocol = ipv4_frame(OUR_MAC, PEER_MAC, IPv4Header(PEER_IP, OUR_IP, 253),
                                  bytes(8))
    for _ in range(1000):
        stack.receive(unknown_protocol, 0.0)
    assert drain(stack) == 4
    assert stack.counters["icmp.drop.rate_limited"] == 996
    for step in range(1, 11):  # one trigger every 10 ms for 100 ms: 5/s allows 0.5
        stack.receive(unknown_protocol, step * 0.01)
    assert drain(stack) == 0
    for _ in range(1000):  # 1.1 s after the burst: the bucket has refilled, to its size
        stack.receive(unknown_protocol, 1.1)
    assert drain(stack) == 4
    assert stack.counters["icmp.drop.rate_limited"] == 996 + 10 + 996


# --- timers: a mixed flood, and then nothing left pending -------------------------------


def test_after_a_mixed_flood_and_the_connections_end_the_timers_return_to_baseline():
    s = scene(TcpConfig(synack_retries=2, max_time_wait=4, msl=2.0))
    h, stack = s.harness, s.harness.stack
    h.advance(0.0)
    baseline = len(stack.timers)
    # Real connections with in-order and out-of-order data, then closed both ways.
    conns = open_connections(s, range(70, 76))
    for conn in conns:
        s.peer.port = conn.remote[1]
        stack.receive(s.peer.frame(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1, data=b"x" * 50),
                      h.now)
        stack.receive(s.peer.frame(ACK, seq=PEER_ISN + 500, ack=STACK_ISN + 1, data=b"y" * 50),
                      h.now)
        conn.close(h.now)
        drain(stack)
    # SYNs from 600 spoofed ports: half-open connections, each with its SYN-ACK timer.
    rng = random.Random(SEED)
    for port in rng.sample(range(1024, 65535), 600):
        s.peer.port = port
        stack.receive(s.peer.frame(SYN, seq=rng.getrandbits(32)), h.now)
        drain(stack)
    assert len(s.listener.half_open) <= s.tcp.config.syn_queue_limit
    # Fragments that never complete, and ARP requests from made-up neighbours.
    for ident in range(200):
        stack.receive(first_fragment(ident, 200), h.now)
    for ip, mac in flood_senders(300):
        stack.receive(arp_frame(wire_arp.OP_REQUEST, mac, ip, OUR_IP), h.now)
    drain(stack)
    assert len(stack.timers) > baseline
    assert stack.timers.stored <= 2 * len(stack.timers) + 65
    # Everything ends: SYN-ACK retries give up, data connections time out or are reset,
    # reassembly and ARP entries expire.
    for conn in conns:
        s.peer.port = conn.remote[1]
        stack.receive(s.peer.frame(RST, seq=conn.receiver.rcv_nxt.value), h.now)
    for _ in range(30):
        h.advance(10.0)
        drain(stack)
    assert s.tcp.connection_count == 0 and s.tcp.time_wait_count == 0
    assert len(stack.arp.entries()) == 1  # the peer's static entry
    assert len(stack.ipv4.reassembler) == 0 and s.tcp.out_of_order_held == 0
    assert len(stack.timers) == baseline
    assert stack.timers.stored == baseline
    assert stack.pool.available == len(stack.pool)
