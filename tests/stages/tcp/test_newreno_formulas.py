"""NewReno (congestion.py's Reno) against RFC 5681 §3 and RFC 6582 §3.2, on a fake clock.

Each round trip acknowledges one window, one MSS per ACK, the way an ACK clock would."""

from netstack.stages.tcp.congestion import Reno, initial_window

MSS = 1000


def ack_one_window(cc, now=0.0):
    for _ in range(cc.cwnd // MSS):
        cc.on_ack(MSS, now)


def test_slow_start_doubles_the_window_every_round_trip():
    # RFC 5681 §3.1: cwnd += min(N, SMSS) per ACK, so each window's ACKs double it.
    cc = Reno(MSS)
    window = initial_window(MSS)
    assert cc.cwnd == window == 10 * MSS
    for round_trip in range(5):
        ack_one_window(cc, now=round_trip * 0.1)
        window *= 2
        assert cc.cwnd == window


def test_slow_start_counts_at_most_two_mss_per_ack():
    cc = Reno(MSS)
    start = cc.cwnd
    cc.on_ack(MSS // 2, 0.0)  # RFC 3465 §2.1: the bytes acknowledged, not the ACK
    assert cc.cwnd == start + MSS // 2
    cc.on_ack(4 * MSS, 0.0)  # a stretch ACK: §2.2's limit L = 2 * SMSS
    assert cc.cwnd == start + MSS // 2 + 2 * MSS


def test_slow_start_doubles_the_window_when_every_second_segment_is_acked():
    # A receiver delaying its ACKs (RFC 1122 §4.2.3.2) sends one per two segments: with
    # L = 2 * SMSS cwnd still doubles per round trip (with L = 1 * SMSS, 1.5 times).
    cc = Reno(MSS)
    window = cc.cwnd
    for _ in range(5):
        for _ in range(cc.cwnd // (2 * MSS)):
            cc.on_ack(2 * MSS, 0.0)
        window *= 2
        assert cc.cwnd == window


def test_slow_start_after_a_timeout_counts_one_mss_per_ack():
    # RFC 3465 §2.3: after a retransmission timeout an ACK may cover segments the receiver
    # already held; L = 1 * SMSS keeps it from releasing a burst, until ssthresh.
    cc = Reno(MSS)
    cc.on_retransmit_timeout(40 * MSS, 1.0)
    assert cc.cwnd == MSS and cc.ssthresh == 20 * MSS
    cc.on_ack(4 * MSS, 1.1)
    assert cc.cwnd == 2 * MSS
    while cc.cwnd < cc.ssthresh:
        cc.on_ack(MSS, 1.2)
    cc.on_fast_retransmit(3, 40 * MSS, 2.0)  # a later loss, repaired without a timeout
    cc.on_recovery_end(2 * MSS, 2.1)
    assert cc.cwnd == 3 * MSS < cc.ssthresh
    cc.on_ack(4 * MSS, 2.2)
    assert cc.cwnd == 5 * MSS  # slow start counts two MSS per ACK again


def test_congestion_avoidance_adds_one_mss_per_round_trip():
    # RFC 5681 §3.1 equation 3: cwnd += SMSS * SMSS / cwnd per ACK, i.e. about one SMSS
    # per RTT; with byte counting exactly one per window of acknowledged bytes.
    cc = Reno(MSS)
    cc.cwnd = cc.ssthresh = 20 * MSS
    for round_trip in range(1, 11):
        ack_one_window(cc)
        assert cc.cwnd == (20 + round_trip) * MSS


def test_three_duplicate_acks_halve_the_flight():
    # RFC 5681 §3.2 step 2: ssthresh = max(FlightSize / 2, 2 * SMSS); step 3: cwnd =
    # ssthresh + 3 * SMSS; step 4: one more SMSS per further duplicate ACK.
    cc = Reno(MSS)
    cc.cwnd = 40 * MSS
    cc.on_fast_retransmit(3, 30 * MSS, 0.0)  # FlightSize is not cwnd: it is what is out
    assert cc.ssthresh == 15 * MSS
    assert cc.cwnd == 18 * MSS and cc.in_recovery
    for extra in range(1, 4):
        cc.on_dupack(0.0)
        assert cc.cwnd == (18 + extra) * MSS


def test_halving_never_goes_below_two_segments():
    cc = Reno(MSS)
    cc.on_fast_retransmit(3, 3 * MSS, 0.0)
    assert cc.ssthresh == 2 * MSS  # not 1500: max(FlightSize / 2, 2 * SMSS)
    assert cc.cwnd == 5 * MSS


def test_partial_ack_deflates_by_the_amount_acked_plus_one_mss():
    # RFC 6582 §3.2 step 3 (partial ACK): deflate cwnd by the new data acknowledged, add
    # back one SMSS (the retransmission of the next hole), stay in recovery.
    cc = Reno(MSS)
    cc.on_fast_retransmit(3, 20 * MSS, 0.0)
    assert cc.cwnd == 13 * MSS
    cc.on_partial_ack(4 * MSS, 0.1)
    assert cc.cwnd == (13 - 4 + 1) * MSS and cc.in_recovery
    cc.on_partial_ack(MSS, 0.2)
    assert cc.cwnd == 10 * MSS and cc.in_recovery
    cc.on_partial_ack(30 * MSS, 0.3)
    assert cc.cwnd == MSS  # never below one segment


def test_full_ack_ends_recovery_at_min_of_ssthresh_and_flight_plus_one():
    # RFC 6582 §3.2 step 3 (full ACK), option 1: cwnd = min(ssthresh, max(FlightSize,
    # SMSS) + SMSS), and recovery ends.
    cc = Reno(MSS)
    cc.on_fast_retransmit(3, 20 * MSS, 0.0)
    cc.on_dupack(0.0)
    cc.on_recovery_end(15 * MSS, 0.2)
    assert cc.cwnd == 10 * MSS and not cc.in_recovery  # ssthresh is the smaller
    cc.on_fast_retransmit(3, 20 * MSS, 1.0)
    cc.on_recovery_end(4 * MSS, 1.2)
    assert cc.cwnd == 5 * MSS  # FlightSize + SMSS is the smaller
    # Then congestion avoidance: one MSS per window again.
    cc.cwnd = cc.ssthresh
    ack_one_window(cc)
    assert cc.cwnd == cc.ssthresh + MSS


def test_timeout_sets_a_loss_window_of_one_segment():
    # RFC 5681 §3.1 equation 4 and the loss window: cwnd = 1 SMSS; then slow start again.
    cc = Reno(MSS)
    cc.on_fast_retransmit(3, 20 * MSS, 0.0)
    cc.on_retransmit_timeout(16 * MSS, 1.0)
    assert cc.cwnd == MSS and cc.ssthresh == 8 * MSS and not cc.in_recovery
    for expected in (2, 4, 8):
        ack_one_window(cc)
        assert cc.cwnd == expected * MSS
    ack_one_window(cc)
    assert cc.cwnd == 9 * MSS  # at ssthresh: avoidance's one MSS per round trip
