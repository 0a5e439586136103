"""ACKs at the end of the engine pass (TcpStage.end_pass, Receiver.ack_soon).

An engine brackets each burst with Stack.begin_burst / end_burst, runs the applications'
pass hooks, then calls Stack.end_pass before it collects the frames. An "ACK now" decided
in the burst waits until end_pass, so an answer or FIN sent in the same pass carries it.
These tests play the engine by hand (sans-I/O): `in_pass` is one pass.
"""

from __future__ import annotations

from collections.abc import Callable

from netstack.stages.tcp import TcpConfig, TcpState
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH

from .options_peer import open_connection, sack_of
from .states import Scene, established

ACK, FIN, PSH = FLAG_ACK, FLAG_FIN, FLAG_PSH
MSS = 1460


def driven_by_an_engine(s: Scene) -> None:
    """An engine calls end_pass after every pass: the stack learns it ends passes."""
    s.harness.stack.end_pass(s.now)


def in_pass(s: Scene, peer_sends: Callable[[], None],
            app: Callable[[], None] | None = None) -> None:
    """One engine pass: a burst from the peer, the application's turn (a pass hook), and
    nothing sent on the wire before end_pass unless the application sent it."""
    stack = s.harness.stack
    stack.begin_burst()
    peer_sends()
    stack.end_burst(s.now)
    if app is not None:
        app()
    stack.end_pass(s.now)


def test_fin_then_close_in_the_same_pass_sends_one_fin_ack_and_no_bare_ack():
    s = established()
    driven_by_an_engine(s)
    in_pass(s, lambda: s.peer.send(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack),
            lambda: s.conn.close(s.now))
    s.peer.expect(FIN | ACK, seq=s.peer_ack, ack=s.peer_seq + 1)
    s.peer.expect_nothing()
    assert s.conn.state == TcpState.LAST_ACK


def test_fin_without_close_gets_a_bare_ack_at_the_end_of_the_pass():
    s = established()
    driven_by_an_engine(s)
    stack = s.harness.stack
    stack.begin_burst()
    s.peer.send(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack)
    stack.end_burst(s.now)
    assert not stack.outgoing  # owed, not sent yet
    stack.end_pass(s.now)
    s.peer.expect(ACK, ack=s.peer_seq + 1)
    s.peer.expect_nothing()
    assert s.conn.state == TcpState.CLOSE_WAIT


def two_full_segments(s: Scene, data: bytes) -> None:
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, data=data[:MSS])
    s.peer.send(ACK, seq=s.peer_seq + MSS, ack=s.peer_ack, data=data[MSS:])


def test_an_answer_in_the_same_pass_carries_the_ack_of_two_full_segments():
    s = established(TcpConfig(delayed_ack=0.2))
    driven_by_an_engine(s)
    data = b"q" * (2 * MSS)  # two full-sized segments: an ACK is due at once

    def answer() -> None:
        assert s.conn.read_app(len(data)) == data
        s.conn.write_app(b"answer")
        s.conn.app_did_write(s.now)

    in_pass(s, lambda: two_full_segments(s, data), answer)
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS, payload=b"answer")
    s.peer.expect_nothing()
    s.peer.send(ACK, seq=s.peer_seq + 2 * MSS, ack=s.peer_ack + 6)
    s.harness.advance(0.3)  # no delayed ACK left behind either
    s.peer.expect_nothing()


def test_without_an_answer_the_two_full_segments_are_acked_at_the_end_of_the_pass():
    s = established(TcpConfig(delayed_ack=0.2))
    driven_by_an_engine(s)
    in_pass(s, lambda: two_full_segments(s, b"d" * 2 * MSS))
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS)
    s.peer.expect_nothing()


def test_an_out_of_order_segment_is_acked_with_sack_at_the_end_of_the_pass():
    p, _ = open_connection(sack=True)
    s = p.scene
    driven_by_an_engine(s)
    base = p.seq
    stack = s.harness.stack
    stack.begin_burst()
    p.send(ACK, seq=base + 100, data=b"b" * 100)  # the first 100 bytes are missing
    stack.end_burst(s.now)
    assert not stack.outgoing
    stack.end_pass(s.now)
    ack = p.expect(ACK, ack=base)
    assert sack_of(ack) == ((base + 100, base + 200),)
    p.expect_nothing()


def test_each_out_of_order_segment_of_a_pass_keeps_its_own_duplicate_ack():
    # RFC 5681 §4.2: the peer counts duplicate ACKs (three start a fast retransmit), so
    # several out-of-order segments in one pass must not collapse into one ACK.
    p, _ = open_connection(sack=False)
    s = p.scene
    driven_by_an_engine(s)
    base = p.seq

    def three_after_a_hole() -> None:
        for i in (1, 2, 3):
            p.send(ACK | PSH, seq=base + i * 100, data=bytes([65 + i]) * 100)

    in_pass(s, three_after_a_hole)
    for _ in range(3):
        p.expect(ACK, ack=base)
    p.expect_nothing()


def test_a_driver_that_never_ends_passes_gets_its_ack_at_once():
    s = established()
    stack = s.harness.stack
    stack.begin_burst()
    s.peer.send(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack)
    stack.end_burst(s.now)
    s.peer.expect(ACK, ack=s.peer_seq + 1)  # before any end_pass
    s.peer.expect_nothing()
