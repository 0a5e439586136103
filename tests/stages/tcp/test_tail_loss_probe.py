"""Tail Loss Probe (RFC 8985 §7, without SACK): when the end of a flight or the ACKs for it
are lost, no duplicate ACK comes; a probe after PTO = max(2 * SRTT, 10 ms) draws an ACK long
before the 200 ms retransmission timeout.

Each scene sets SRTT to 50 ms, so the PTO is 100 ms and the RTO (200 ms, the minimum) is
clearly later. Segment i starts at `seg(s, i)`, as in test_loss_recovery.py."""

from netstack.stages.tcp import TcpConfig
from netstack.wire.tcp import FLAG_ACK

from .states import Scene
from .test_loss_recovery import ack_segments, seg
from .test_loss_recovery import start as start_with

ACK = FLAG_ACK
SRTT = 0.05
PTO = 2 * SRTT


def start(segments_written: int, segments_expected: int) -> Scene:
    """As test_loss_recovery's start, with the tail loss probe on and a 50 ms SRTT."""
    return start_with(segments_written, segments_expected, TcpConfig(), srtt=SRTT)


def test_probe_resends_the_last_segment_after_two_round_trips():
    s = start(3, 3)
    s.harness.advance(PTO - 0.01)
    s.peer.expect_nothing()
    s.harness.advance(0.01)
    s.peer.expect(ACK, seq=seg(s, 2))  # nothing new to send: the last segment again
    s.peer.expect_nothing()
    s.harness.expect_counter("tcp.tx.tail_loss_probe", 1)
    s.harness.expect_counter("tcp.tx.retransmits", 1)


def test_lost_acks_are_recovered_in_a_probe_timeout_not_a_retransmission_timeout():
    s = start(3, 3)  # all three arrive; the peer's ACKs for them are lost
    s.harness.advance(PTO)
    s.peer.expect(ACK, seq=seg(s, 2))
    ack_segments(s, 3)  # the peer answers the probe with what it has
    s.harness.advance(1.0)
    s.peer.expect_nothing()  # all acknowledged at 100 ms: no timeout, no more probes
    s.harness.expect_counter("tcp.tx.timeout", 0)
    # Karn's rule: the ACK may answer the probe or the first copy, so no RTT sample.
    assert s.conn.sender.rto.srtt == SRTT


def test_probe_sends_new_data_when_the_peer_window_allows():
    s = start(12, 10)  # cwnd (10 segments) holds back segments 10 and 11
    s.harness.advance(PTO)
    s.peer.expect(ACK, seq=seg(s, 10))  # one new segment, beyond cwnd
    s.peer.expect_nothing()
    s.harness.expect_counter("tcp.tx.retransmits", 0)


def test_probe_reveals_a_lost_segment_and_early_retransmit_repairs_it():
    s = start(2, 2)  # segment 0 is lost; the duplicate ACK for segment 1 is lost too
    s.harness.advance(PTO)
    s.peer.expect(ACK, seq=seg(s, 1))  # the probe
    ack_segments(s, 0)  # its duplicate ACK: two segments out, one dupack is enough
    s.peer.expect(ACK, seq=seg(s, 0))
    assert s.conn.sender.cc.in_recovery
    s.harness.expect_counter("tcp.tx.fast_retransmit", 1)


def test_one_probe_per_tail_then_the_retransmission_timeout():
    s = start(3, 3)
    s.harness.advance(PTO)
    s.peer.expect(ACK, seq=seg(s, 2))  # the probe (lost too); it restarts the RTO
    s.harness.advance(0.19)
    s.peer.expect_nothing()  # no second probe
    s.harness.advance(0.01)
    s.peer.expect(ACK, seq=seg(s, 0))  # the RTO, 200 ms after the probe
    s.harness.advance(0.39)
    s.peer.expect_nothing()  # no probe during go-back-N after a timeout
    s.harness.advance(0.01)
    s.peer.expect(ACK, seq=seg(s, 0))  # the RTO again, backed off to 400 ms
    s.harness.expect_counter("tcp.tx.tail_loss_probe", 1)
    s.harness.expect_counter("tcp.tx.timeout", 2)


def test_an_ack_for_new_data_restarts_the_probe_timeout():
    s = start(3, 3)
    s.harness.advance(0.05)
    ack_segments(s, 1)
    s.harness.advance(PTO - 0.01)
    s.peer.expect_nothing()  # 150 ms: the ACK at 50 ms moved the probe to 150 ms
    s.harness.advance(0.01)
    s.peer.expect(ACK, seq=seg(s, 2))
    ack_segments(s, 3)
    s.harness.advance(1.0)
    s.peer.expect_nothing()  # nothing outstanding: no probe, no timer
    s.harness.expect_counter("tcp.tx.tail_loss_probe", 1)


def test_no_probe_during_fast_recovery():
    s = start(14, 10)
    for _ in range(3):
        ack_segments(s, 0)
    s.peer.expect(ACK, seq=seg(s, 10))  # Limited Transmit
    s.peer.expect(ACK, seq=seg(s, 11))
    s.peer.expect(ACK, seq=seg(s, 0))  # fast retransmit
    s.peer.expect_nothing()
    s.harness.advance(0.19)
    s.peer.expect_nothing()  # recovery waits for ACKs or the RTO, not a probe
    s.harness.advance(0.01)
    s.peer.expect(ACK, seq=seg(s, 0))
    s.harness.expect_counter("tcp.tx.tail_loss_probe", 0)


def test_one_segment_in_flight_waits_for_a_delayed_ack_so_the_rto_comes_first():
    s = start(1, 1)  # RFC 8985 §7.2: PTO = 2 * SRTT + 200 ms, later than the RTO
    s.harness.advance(0.2)
    s.peer.expect(ACK, seq=seg(s, 0))
    s.harness.expect_counter("tcp.tx.tail_loss_probe", 0)
    s.harness.expect_counter("tcp.tx.timeout", 1)


def test_probe_off_in_config():
    s = start_with(3, 3, TcpConfig(tail_loss_probe=False), srtt=SRTT)
    s.harness.advance(0.2)
    s.peer.expect(ACK, seq=seg(s, 0))  # straight to the timeout
    s.harness.expect_counter("tcp.tx.tail_loss_probe", 0)
