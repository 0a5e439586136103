"""Lab 9, part 1: your congestion control alone (CcBench), told what the sender saw.

Every expected value is computed from the MSS with the rules of HANDOUT.md: RFC 6928's
initial window, RFC 3465's byte counting in slow start (L = 2 * SMSS, 1 * SMSS after a
timeout), one MSS per cwnd of acknowledged bytes in congestion avoidance, RFC 5681's
ssthresh = max(FlightSize / 2, 2 * SMSS) and RFC 6582's fast recovery. A hidden variant
changes the MSS (536 to 8960 bytes).
"""

from __future__ import annotations

from lab09_bench import BIG, CcBench, iw


def test_initial_window_follows_rfc_6928(variant):
    """A new connection starts with cwnd = min(10*MSS, max(2*MSS, 14600)), no recovery, and
    ssthresh "arbitrarily high" (RFC 5681 §3.1; here: at least 2**30 bytes)."""
    b = CcBench(variant)
    b.expect(cwnd=iw(b.mss), in_recovery=False)
    b.check("ssthresh >= 2**30 at the start", lambda: b.cc.ssthresh >= BIG, True)


def test_initial_window_for_small_medium_and_jumbo_segments(variant):
    """Each branch of RFC 6928's formula: 10*MSS (536), 14600 (1460, 4000), 2*MSS (8960)."""
    for mss in (536, 1460, 4000, 8960):
        b = CcBench(variant, mss=mss)
        b.expect(cwnd=iw(mss))


def test_slow_start_grows_by_the_bytes_one_ack_covers(variant):
    """Slow start (RFC 3465 §2.2): an ACK of one segment grows cwnd by one segment, and an
    ACK of 100 bytes by 100 bytes, not by one MSS (bytes are counted, not ACKs)."""
    b = CcBench(variant)
    b.ack(b.mss)
    b.expect(cwnd=iw(b.mss) + b.mss, in_recovery=False)
    b.ack(100)
    b.expect(cwnd=iw(b.mss) + b.mss + 100)


def test_slow_start_counts_a_delayed_ack_of_two_segments_as_two(variant):
    """A receiver that ACKs every second segment: each ACK grows cwnd by 2 MSS."""
    b = CcBench(variant)
    b.ack(2 * b.mss)
    b.expect(cwnd=iw(b.mss) + 2 * b.mss)


def test_slow_start_caps_a_stretch_ack_at_two_segments(variant):
    """RFC 3465 §2.2, L = 2*SMSS: an ACK of 5 segments grows cwnd by 2 MSS only."""
    b = CcBench(variant)
    b.ack(5 * b.mss)
    b.expect(cwnd=iw(b.mss) + 2 * b.mss)


def test_slow_start_doubles_cwnd_in_a_round_trip_of_acks_per_segment(variant):
    """cwnd 10 MSS, one ACK per segment of the window: cwnd is 20 MSS after them."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(10 * m, BIG)
    b.acks(10, m)
    b.expect(cwnd=20 * m)


def test_slow_start_doubles_cwnd_with_delayed_acks_too(variant):
    """cwnd 10 MSS, one ACK per two segments: still 20 MSS after the round trip (this is
    why L = 2*SMSS: with L = 1*SMSS it would be only 15)."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(10 * m, BIG)
    b.acks(5, 2 * m)
    b.expect(cwnd=20 * m)


def test_below_ssthresh_is_still_slow_start(variant):
    """cwnd 10 MSS under ssthresh 12 MSS: an ACK of one segment still adds a whole MSS."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(10 * m, 12 * m)
    b.ack(m)
    b.expect(cwnd=11 * m, ssthresh=12 * m)


def test_congestion_avoidance_adds_one_mss_per_window_of_acked_bytes(variant):
    """cwnd = ssthresh = 10 MSS: nine ACKs of one segment change nothing, the tenth (a whole
    cwnd acknowledged) adds one MSS (RFC 5681 §3.1, byte counting)."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(10 * m, 10 * m)
    b.acks(9, m)
    b.expect(cwnd=10 * m)
    b.ack(m)
    b.expect(cwnd=11 * m, ssthresh=10 * m)


def test_congestion_avoidance_carries_extra_bytes_over(variant):
    """RFC 3465 §2.1: what is acked beyond cwnd counts toward the next MSS. ACKs of 3
    segments from cwnd 10 MSS: 12 MSS acked -> 11 MSS with 2 MSS left over, and 9 MSS more
    (11 in all) -> 12 MSS."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(10 * m, 10 * m)
    b.acks(4, 3 * m)
    b.expect(cwnd=11 * m)
    b.acks(3, 3 * m)
    b.expect(cwnd=12 * m)


def test_congestion_avoidance_is_linear_over_round_trips(variant):
    """Three round trips of one ACK per segment: 10 -> 11 -> 12 -> 13 MSS."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(10 * m, 10 * m)
    for segments in (10, 11, 12):
        b.acks(segments, m)
        b.expect(cwnd=(segments + 1) * m)


def test_fast_retransmit_halves_the_flight_and_inflates_by_three(variant):
    """RFC 5681 §3.2 steps 2-3: FlightSize 20 MSS -> ssthresh 10 MSS, cwnd 13 MSS."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(20 * m, BIG)
    b.fast_retransmit(20 * m)
    b.expect(cwnd=13 * m, ssthresh=10 * m, in_recovery=True)


def test_ssthresh_comes_from_the_flight_size_not_cwnd(variant):
    """cwnd 30 MSS but only 12 MSS in flight: ssthresh is 6 MSS (equation 4 uses FlightSize)."""
    b = CcBench(variant)
    m = b.mss
    b.set_window(30 * m, BIG)
    b.fast_retransmit(12 * m)
    b.expect(cwnd=9 * m, ssthresh=6 * m)


def test_ssthresh_is_never_below_two_segments(variant):
    """FlightSize 3 MSS: ssthresh = max(1.5 MSS, 2 MSS) = 2 MSS, cwnd 5 MSS."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(3 * m)
    b.expect(cwnd=5 * m, ssthresh=2 * m, in_recovery=True)


def test_ssthresh_of_an_odd_flight_size_rounds_down(variant):
    """FlightSize 10 MSS + 1 byte: ssthresh is half of it in whole bytes, rounded down."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(10 * m + 1)
    b.expect(ssthresh=(10 * m + 1) // 2, cwnd=(10 * m + 1) // 2 + 3 * m)


def test_early_retransmit_inflates_by_the_duplicate_acks_seen(variant):
    """With Early Retransmit (RFC 5827) the sender may retransmit on the 2nd duplicate ACK:
    cwnd = ssthresh + 2 MSS."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(3 * m, dupacks=2)
    b.expect(cwnd=4 * m, ssthresh=2 * m)


def test_each_further_duplicate_ack_inflates_cwnd_by_one_mss(variant):
    """RFC 5681 §3.2 step 4: in recovery, every further duplicate ACK adds one MSS."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(20 * m)
    b.dupack()
    b.dupack()
    b.expect(cwnd=15 * m, ssthresh=10 * m, in_recovery=True)


def test_a_partial_ack_deflates_by_what_it_acked_then_adds_one_mss(variant):
    """RFC 6582 §3.2 step 3: cwnd 15 MSS, a partial ACK of 4 MSS -> 12 MSS; still in
    recovery, ssthresh unchanged."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(20 * m)
    b.dupack()
    b.dupack()
    b.partial_ack(4 * m)
    b.expect(cwnd=12 * m, ssthresh=10 * m, in_recovery=True)
    b.partial_ack(100)
    b.expect(cwnd=13 * m - 100, in_recovery=True)


def test_the_full_ack_ends_recovery_at_ssthresh(variant):
    """RFC 6582 §3.2 step 3, full acknowledgment with 12 MSS still in flight:
    min(ssthresh, FlightSize + MSS) = ssthresh = 10 MSS, either option."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(20 * m)
    b.dupack()
    b.recovery_end(12 * m)
    b.expect(cwnd=10 * m, ssthresh=10 * m, in_recovery=False)


def test_the_full_ack_with_nothing_in_flight_does_not_burst(variant):
    """Full acknowledgment with nothing in flight: option 1 gives max(0, MSS) + MSS =
    2 MSS; option 2 (ssthresh) is accepted too."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(20 * m)
    b.recovery_end(0)
    b.expect(in_recovery=False, ssthresh=10 * m)
    b.expect_one_of("cwnd", [2 * m, 10 * m], "RFC 6582 option 1 or option 2")


def test_after_recovery_congestion_avoidance_resumes(variant):
    """Out of recovery at cwnd = ssthresh = 10 MSS: a window of ACKs adds one MSS."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(20 * m)
    b.recovery_end(12 * m)
    b.acks(10, m)
    b.expect(cwnd=11 * m, ssthresh=10 * m)


def test_a_timeout_leaves_one_segment_and_halves_the_flight(variant):
    """RFC 5681 §3.1: on a retransmission timeout ssthresh = max(FlightSize/2, 2 MSS) and
    cwnd is the loss window, one MSS."""
    b = CcBench(variant)
    m = b.mss
    b.timeout(20 * m)
    b.expect(cwnd=m, ssthresh=10 * m, in_recovery=False)


def test_a_timeout_during_fast_recovery_ends_it(variant):
    """A timeout while in recovery: out of recovery, cwnd one MSS."""
    b = CcBench(variant)
    m = b.mss
    b.fast_retransmit(20 * m)
    b.timeout(14 * m)
    b.expect(cwnd=m, ssthresh=7 * m, in_recovery=False)


def test_after_a_timeout_slow_start_adds_one_segment_per_ack(variant):
    """RFC 3465 §2.3: after a timeout L = 1*SMSS, so an ACK of 2 segments adds one MSS."""
    b = CcBench(variant)
    m = b.mss
    b.timeout(20 * m)
    b.ack(2 * m)
    b.expect(cwnd=2 * m)
    b.ack(2 * m)
    b.expect(cwnd=3 * m)


def test_after_a_timeout_slow_start_hands_over_to_avoidance_at_ssthresh(variant):
    """Timeout with 8 MSS in flight: ssthresh 4 MSS; three ACKs bring cwnd 1 -> 4 MSS, then
    a whole window of ACKs (4 MSS) adds one MSS more."""
    b = CcBench(variant)
    m = b.mss
    b.timeout(8 * m)
    b.acks(3, m)
    b.expect(cwnd=4 * m, ssthresh=4 * m)
    b.acks(3, m)
    b.expect(cwnd=4 * m)
    b.ack(m)
    b.expect(cwnd=5 * m)
