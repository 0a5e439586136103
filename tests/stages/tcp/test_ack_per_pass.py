"""ACKs at the end of the engine pass (TcpStage.end_pass, Receiver.ack_soon), and receive
coalescing (GRO, stages/tcp/gro.py), as the engine drives the stack.

An engine brackets each burst with Stack.begin_burst / end_burst, runs the applications'
pass hooks, then calls Stack.end_pass before it collects the frames. An "ACK now" decided
in the burst waits until end_pass, so an answer or FIN sent in the same pass carries it.
These tests play the engine with the harness's Burst step (`peer.send_burst`): one pass,
with the application's turn (`app`) after the burst and before the pass ends. They only
make sense in pass mode; tests/engine/test_tcp_coalescing.py has GRO's merging rules.
"""

from __future__ import annotations

import pytest

from netstack.stages.tcp import TcpConfig, TcpState
from netstack.testing import Harness, TranscriptMismatch
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH

from .options_peer import open_connection, sack_of
from .states import Scene, established
from .support import make_tcp_stack

ACK, FIN, PSH = FLAG_ACK, FLAG_FIN, FLAG_PSH
MSS = 1460


def data_frames(s: Scene, data: bytes, size: int = MSS, flags: int = ACK) -> list[bytes]:
    """`data` from the peer's next sequence number, cut into segments of `size` bytes."""
    return [s.peer.frame(flags, seq=s.peer_seq + i, ack=s.peer_ack, data=data[i : i + size])
            for i in range(0, len(data), size)]


def test_fin_then_close_in_the_same_pass_sends_one_fin_ack_and_no_bare_ack():
    s = established()
    s.peer.send_burst([s.peer.frame(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack)],
                      lambda _stack, now: s.conn.close(now), "the application closes")
    s.peer.expect(FIN | ACK, seq=s.peer_ack, ack=s.peer_seq + 1)
    s.peer.expect_nothing()
    assert s.conn.state == TcpState.LAST_ACK


def test_fin_without_close_gets_a_bare_ack_at_the_end_of_the_pass():
    s = established()
    sent_before_the_end: list[int] = []
    s.peer.send_burst([s.peer.frame(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack)],
                      lambda stack, _now: sent_before_the_end.append(len(stack.outgoing)),
                      "the application does nothing")
    assert sent_before_the_end == [0]  # owed, not sent until end_pass
    s.peer.expect(ACK, ack=s.peer_seq + 1)
    s.peer.expect_nothing()
    assert s.conn.state == TcpState.CLOSE_WAIT


def test_an_answer_in_the_same_pass_carries_the_ack_of_two_full_segments():
    s = established(TcpConfig(delayed_ack=0.2))
    data = b"q" * (2 * MSS)  # two full-sized segments: an ACK is due at once

    def answer(_stack, now: float) -> None:
        assert s.conn.read_app(len(data)) == data
        s.conn.write_app(b"answer")
        s.conn.app_did_write(now)

    s.peer.send_burst(data_frames(s, data), answer, "the application reads and answers")
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS, payload=b"answer")
    s.peer.expect_nothing()  # no bare ACK before the answer
    s.peer.send(ACK, seq=s.peer_seq + 2 * MSS, ack=s.peer_ack + 6)
    s.harness.advance(0.3)  # no delayed ACK left behind either
    s.peer.expect_nothing()


def test_without_an_answer_the_two_full_segments_are_acked_at_the_end_of_the_pass():
    s = established(TcpConfig(delayed_ack=0.2))
    s.peer.send_burst(data_frames(s, b"d" * 2 * MSS))
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS)
    s.peer.expect_nothing()


def test_an_out_of_order_segment_is_acked_with_sack_at_the_end_of_the_pass():
    p, _ = open_connection(sack=True)
    s = p.scene
    base = p.seq
    sent_before_the_end: list[int] = []
    # The first 100 bytes are missing.
    s.peer.send_burst([s.peer.frame(ACK, seq=base + 100, ack=p.ack, data=b"b" * 100,
                                    options=p.options())],
                      lambda stack, _now: sent_before_the_end.append(len(stack.outgoing)))
    assert sent_before_the_end == [0]
    ack = p.expect(ACK, ack=base)
    assert sack_of(ack) == ((base + 100, base + 200),)
    p.expect_nothing()


def test_each_out_of_order_segment_of_a_pass_keeps_its_own_duplicate_ack():
    # RFC 5681 §4.2: the peer counts duplicate ACKs (three start a fast retransmit), so
    # several out-of-order segments in one pass must not collapse into one ACK.
    p, _ = open_connection(sack=False)
    s = p.scene
    base = p.seq
    s.peer.send_burst([s.peer.frame(ACK | PSH, seq=base + i * 100, ack=p.ack,
                                    data=bytes([65 + i]) * 100, options=p.options())
                       for i in (1, 2, 3)])
    for _ in range(3):
        p.expect(ACK, ack=base)
    p.expect_nothing()


def test_a_driver_that_never_ends_passes_gets_its_ack_at_once():
    s = established()
    stack = s.harness.stack
    stack.begin_burst()  # by hand: this driver never calls end_pass
    stack.receive(s.peer.frame(FIN | ACK, seq=s.peer_seq, ack=s.peer_ack), s.now)
    stack.end_burst(s.now)
    s.peer.expect(ACK, ack=s.peer_seq + 1)  # before any end_pass
    s.peer.expect_nothing()


# --- GRO: a burst of in-order segments reaches the application once ------------------------

def test_a_burst_of_in_order_segments_wakes_the_reader_once_and_one_ack_covers_them():
    s = established(TcpConfig(delayed_ack=0.2))
    wakeups: list[int] = []
    s.conn.on_event = lambda: wakeups.append(s.conn.readable)
    data = bytes(range(256)) * 23  # 5888 bytes: four full segments and a short one
    s.peer.send_burst(data_frames(s, data))
    assert wakeups == [len(data)]  # one wakeup, with everything readable
    assert s.harness.stack.counters["tcp.rx.coalesced"] == 4
    s.peer.expect(ACK, ack=s.peer_seq + len(data))  # one ACK for the five segments
    s.peer.expect_nothing()
    assert s.conn.read_app(2 * len(data)) == data


def test_an_answer_to_a_merged_burst_carries_the_ack_for_all_of_it():
    s = established(TcpConfig(delayed_ack=0.2))
    data = b"r" * (6 * MSS)
    reads: list[bytes] = []

    def answer(_stack, now: float) -> None:
        reads.append(s.conn.read_app(len(data)))
        s.conn.write_app(b"ok")
        s.conn.app_did_write(now)

    s.peer.send_burst(data_frames(s, data), answer, "the application reads and answers")
    assert reads == [data]  # the whole burst, in one read
    s.peer.expect(ACK, ack=s.peer_seq + len(data), payload=b"ok")
    s.peer.expect_nothing()


def test_the_same_segments_one_per_pass_are_each_delivered_and_acked_every_second():
    # The contrast: in pass mode each plain send is its own pass, so nothing merges, and
    # RFC 1122 §4.2.3.2's "every second full-sized segment" applies segment by segment.
    s = established(TcpConfig(delayed_ack=0.2))
    s.harness.mode = "pass"
    for frame in data_frames(s, b"t" * (4 * MSS)):
        s.harness.receive(frame)
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS)
    s.peer.expect(ACK, ack=s.peer_seq + 4 * MSS)
    s.peer.expect_nothing()
    assert s.harness.stack.counters["tcp.rx.coalesced"] == 0


# --- how a pass reads in a transcript -------------------------------------------------------

def test_a_failing_step_after_a_pass_shows_the_mode_and_every_frame_of_the_burst():
    s = established(TcpConfig(delayed_ack=0.2))
    s.peer.send_burst(data_frames(s, b"u" * (2 * MSS)), lambda _stack, _now: None,
                      "the application does nothing")
    with pytest.raises(TranscriptMismatch) as failure:
        s.peer.expect(ACK, ack=s.peer_seq + MSS)  # wrong: one ACK covers both segments
    text = str(failure.value)
    assert f", {s.harness.mode} mode):" in text.splitlines()[0]
    assert "pass      2 frames, then the application does nothing:" in text
    assert text.count("peer sent  TCP 40000 > 80 [.] seq") == 3  # the handshake's ACK + 2
    assert f"ack is {s.peer_seq + 2 * MSS}, wanted {s.peer_seq + MSS}" in text


def test_an_unknown_harness_mode_is_one_clear_error():
    with pytest.raises(ValueError, match="harness mode 'engine': expected one of immediate, pass"):
        Harness(make_tcp_stack(), mode="engine")
