"""TCP receive coalescing (stages/tcp/gro.py): in-order segments of one burst, merged.

The engine brackets each burst with Stack.begin_burst / end_burst; these tests do the same
by hand around segments a scripted peer sends (sans-I/O, tests/stages/tcp's scenes).
"""

from __future__ import annotations

from netstack.stages.tcp import TcpConfig
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH
from tests.stages.tcp.states import established

MSS = 1460
ACK = FLAG_ACK


def burst(s, segments) -> None:
    """Deliver (offset, data[, flags]) segments from the peer as one engine burst."""
    stack = s.harness.stack
    stack.begin_burst()
    for offset, data, *flags in segments:
        s.peer.send(flags[0] if flags else ACK, seq=s.peer_seq + offset, ack=s.peer_ack,
                    data=data)
    stack.end_burst(s.harness.now)


def chunks(count: int) -> list[tuple[int, bytes]]:
    return [(i * MSS, bytes([65 + i]) * MSS) for i in range(count)]


def test_ten_in_order_segments_reach_the_connection_once_and_are_acked_once():
    s = established(TcpConfig(delayed_ack=0.2))
    burst(s, chunks(10))
    # Without merging, every second segment would have been ACKed: five ACKs.
    s.peer.expect(ACK, ack=s.peer_seq + 10 * MSS)
    s.peer.expect_nothing()
    assert s.conn.read_app(20 * MSS) == b"".join(data for _, data in chunks(10))
    assert s.harness.stack.counters["tcp.rx.coalesced"] == 9


def test_a_gap_stops_the_run_and_order_is_kept():
    s = established(TcpConfig(delayed_ack=0.2))
    first, second, third, fourth = chunks(4)
    burst(s, [first, second, fourth, third])  # 4 out of order: a duplicate ACK, then all
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS)  # 1+2 merged, ACKed (two full segments)
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS)  # 4 arrives out of order: duplicate ACK
    s.peer.expect(ACK, ack=s.peer_seq + 4 * MSS)  # 3 fills the hole
    assert s.conn.read_app(10 * MSS) == b"".join(d for _, d in (first, second, third, fourth))
    assert s.harness.stack.counters["tcp.rx.coalesced"] == 1


def test_a_fin_is_never_merged_but_follows_the_merged_data():
    s = established(TcpConfig(delayed_ack=0.2))
    burst(s, [*chunks(3), (3 * MSS, b"end", FLAG_FIN | ACK)])
    s.peer.expect(ACK, ack=s.peer_seq + 3 * MSS)
    s.peer.expect(ACK, ack=s.peer_seq + 3 * MSS + 3 + 1)  # the FIN takes a sequence number
    assert s.conn.read_app(10 * MSS).endswith(b"end")
    assert s.conn.at_eof


def test_push_ends_a_run():
    s = established(TcpConfig(delayed_ack=0.2))
    one, two, three = chunks(3)
    burst(s, [one, (two[0], two[1], ACK | FLAG_PSH), three])
    assert s.harness.stack.counters["tcp.rx.coalesced"] == 1  # one+two; three on its own
    assert s.conn.readable == 3 * MSS


def test_outside_a_burst_nothing_is_held_back():
    s = established(TcpConfig(delayed_ack=0.2))
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, data=b"x" * 100)
    assert s.conn.readable == 100
    assert s.harness.stack.counters["tcp.rx.coalesced"] == 0
