"""Lab 9, part 2: your congestion control inside a whole stack, sending to a peer.

The stack listens on the variant's port, the peer connects offering the variant's MSS and
no SACK (so loss recovery is NewReno's), with a 65535-byte window, and acknowledges the
SYN-ACK 100 ms later (RTO 300 ms). The application writes 40 segments; the peer's ACKs
(and their absence) drive the sender, which asks your class how much it may send. The
sender itself is the reference: it does Limited Transmit (RFC 3042, a new segment on each
of the first two duplicate ACKs) and passes min(FlightSize, cwnd) as the flight size.
"""

from __future__ import annotations

from lab09_bench import Scene, check_in_transcript, iw, open_connection


def start(variant) -> Scene:
    """Connected; 40 segments written; the initial window of 10 segments has left."""
    s = open_connection(variant)
    s.write(40 * s.mss)
    s.expect_segments(0, 10)
    s.peer.expect_nothing()
    return s


def fast_retransmit(s: Scene) -> None:
    """Segment 0 is lost: two duplicate ACKs (Limited Transmit sends 10 and 11), the third
    makes the sender retransmit 0 (FlightSize 10 segments -> ssthresh 5, cwnd 8)."""
    s.ack(0)
    s.expect_segment(10)
    s.ack(0)
    s.expect_segment(11)
    s.ack(0)
    s.expect_segment(0)
    s.peer.expect_nothing()


def test_the_initial_window_leaves_in_one_burst(variant):
    """RFC 6928: ten segments (the variant's MSS is at most 1460) go out before any ACK."""
    s = start(variant)
    s.expect_cwnd(iw(s.mss))


def test_each_ack_in_slow_start_releases_two_segments(variant):
    """An ACK of one segment: cwnd +1 MSS and one segment less in flight -> two new ones."""
    s = start(variant)
    s.ack_segments(1)
    s.expect_segments(10, 2)
    s.peer.expect_nothing()
    s.expect_cwnd(iw(s.mss) + s.mss)


def test_a_delayed_ack_of_two_segments_releases_four(variant):
    """An ACK of two segments: cwnd +2 MSS (RFC 3465) and two segments less in flight."""
    s = start(variant)
    s.ack_segments(2)
    s.expect_segments(10, 4)
    s.peer.expect_nothing()
    s.expect_cwnd(iw(s.mss) + 2 * s.mss)


def test_a_round_trip_of_acks_doubles_what_is_in_flight(variant):
    """Ten ACKs, one per segment of the first window: twenty segments sent after it."""
    s = start(variant)
    for i in range(1, 11):
        s.ack_segments(i)
        s.expect_segments(8 + 2 * i, 2)
    s.peer.expect_nothing()
    s.expect_cwnd(2 * iw(s.mss))


def test_the_third_duplicate_ack_retransmits_and_halves(variant):
    """Fast retransmit: segment 0 again; ssthresh = 10/2 = 5 MSS, cwnd = 5 + 3 = 8 MSS; the
    trace says why, and TCP_INFO shows the window in segments and the Recovery state."""
    s = start(variant)
    fast_retransmit(s)
    m = s.mss
    s.expect_cwnd(8 * m, 5 * m)
    check_in_transcript(s, "a cwnd trace event with reason fast_retransmit",
                        lambda: None if any(e.reason == "fast_retransmit" and e.cwnd == 8 * m
                                            for e in s.cwnd_events)
                        else f"events: {[(e.cwnd, e.reason) for e in s.cwnd_events]}")
    check_in_transcript(s, "TCP_INFO: snd_cwnd 8, snd_ssthresh 5, ca_state 3 (Recovery)",
                        lambda: None if (s.info().tcpi_snd_cwnd, s.info().tcpi_snd_ssthresh,
                                         s.info().tcpi_ca_state) == (8, 5, 3)
                        else f"got {s.info().tcpi_snd_cwnd}, {s.info().tcpi_snd_ssthresh}, "
                             f"{s.info().tcpi_ca_state}")


def test_further_duplicate_acks_inflate_cwnd_until_new_data_leaves(variant):
    """12 segments are outstanding: duplicate ACKs 4..7 take cwnd to 12 MSS, and the 8th
    (13 MSS) lets segment 12 out."""
    s = start(variant)
    fast_retransmit(s)
    m = s.mss
    for extra in range(1, 5):
        s.ack(0)
        s.peer.expect_nothing()
        s.expect_cwnd(8 * m + extra * m)
    s.ack(0)
    s.expect_segment(12)
    s.expect_cwnd(13 * m, 5 * m)


def test_partial_acks_retransmit_each_hole_at_once(variant):
    """NewReno (RFC 6582): after three further duplicate ACKs (cwnd 11), a partial ACK of
    three segments resends segment 3 at once (cwnd 11 - 3 + 1 = 9), another of two more
    resends segment 5 (cwnd 8), which leaves room for new segment 12."""
    s = start(variant)
    fast_retransmit(s)
    m = s.mss
    for _ in range(3):
        s.ack(0)
    s.peer.expect_nothing()
    s.ack_segments(3)
    s.expect_segment(3)
    s.peer.expect_nothing()
    s.expect_cwnd(9 * m, 5 * m)
    s.ack_segments(5)
    s.expect_segment(5)
    s.expect_segment(12)
    s.peer.expect_nothing()
    s.expect_cwnd(8 * m, 5 * m)


def test_the_full_ack_ends_recovery(variant):
    """Everything sent before the fast retransmit (segments 0..11) acknowledged: recovery
    ends with cwnd 2 MSS (option 1: one segment in flight + 1) or 5 MSS (option 2:
    ssthresh), and the sender goes on with new data."""
    s = start(variant)
    fast_retransmit(s)
    m = s.mss
    s.ack_segments(12)
    s.expect_segment(12)
    check_in_transcript(s, "out of recovery with cwnd 2 or 5 MSS, ssthresh 5 MSS",
                        lambda: None if (s.conn.sender.cc.in_recovery is False
                                         and s.conn.sender.cc.cwnd in (2 * m, 5 * m)
                                         and s.conn.sender.cc.ssthresh == 5 * m)
                        else f"in_recovery={s.conn.sender.cc.in_recovery} "
                             f"cwnd={s.conn.sender.cc.cwnd} ssthresh={s.conn.sender.cc.ssthresh}")
    check_in_transcript(s, "TCP_INFO ca_state 0 (Open)",
                        lambda: None if s.info().tcpi_ca_state == 0
                        else f"ca_state {s.info().tcpi_ca_state}")


def test_a_timeout_resends_one_segment_then_slow_start_restarts(variant):
    """No ACK at all: at RTO (300 ms) segment 0 again, alone (cwnd 1 MSS, ssthresh 5 MSS);
    its ACK brings cwnd to 2 MSS: segments 1 and 2 (go-back-N)."""
    s = start(variant)
    m = s.mss
    s.harness.advance(0.25)
    s.peer.expect_nothing()
    s.harness.advance(0.1)
    s.expect_segment(0)
    s.peer.expect_nothing()
    s.expect_cwnd(m, 5 * m)
    s.ack_segments(1)
    s.expect_segments(1, 2)
    s.peer.expect_nothing()
    s.expect_cwnd(2 * m, 5 * m)
