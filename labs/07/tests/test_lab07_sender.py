"""Lab 7, part 2: the TCP sender driven alone (RFC 9293 §3.7-§3.8, RFC 6298 §3 and §5).

The bench's sender is established: MSS 1460, the peer offers 65535 bytes, cwnd is the
initial window of 10 segments (the reference's congestion control), and the SYN-ACK gave
one RTT sample of 100 ms (SRTT 100 ms, RTTVAR 50 ms: RTO 300 ms) unless a test says the
handshake was not timed (then the RTO is the variant's initial one). Offsets count our
stream from its first byte; the transcript shows sequence numbers. Tail loss probes are off
(not this lab's subject)."""

from __future__ import annotations

from lab07_bench import MSS, SenderBench, wrap_isn

RTO = 0.3  # after the handshake's 100 ms sample


def test_a_write_is_cut_into_full_segments_and_nagle_holds_the_small_tail(variant):
    """3000 bytes: two full segments; the 80-byte rest waits while data is unacknowledged."""
    b = SenderBench(variant)
    b.write(3000)
    b.expect(0, MSS)
    b.expect(MSS, MSS)
    b.expect_nothing()
    b.ack(2 * MSS)
    b.expect(2 * MSS, 80, psh=True)  # the end of what was written carries PSH
    b.expect_nothing()


def test_without_nagle_the_small_tail_goes_at_once(variant):
    """TCP_NODELAY: the 80-byte tail follows the full segments at once."""
    b = SenderBench(variant, nodelay=True)
    b.write(3000)
    b.expect(0, MSS)
    b.expect(MSS, MSS)
    b.expect(2 * MSS, 80, psh=True)
    b.expect_nothing()


def test_a_small_write_with_nothing_in_flight_goes_at_once(variant):
    """Nagle only holds a small segment while data is unacknowledged."""
    b = SenderBench(variant)
    b.write(10)
    b.expect(0, 10, psh=True)
    b.write(10)
    b.expect_nothing()  # the first 10 bytes are not acknowledged yet
    b.ack(10)
    b.expect(10, 10, psh=True)


def test_a_large_write_is_sent_as_mss_segments(variant):
    """10 000 bytes: six segments of 1460 and one of 1240."""
    b = SenderBench(variant, nodelay=True)
    b.write(10000)
    for i in range(6):
        b.expect(i * MSS, MSS)
    b.expect(6 * MSS, 10000 - 6 * MSS, psh=True)
    b.expect_nothing()


def test_the_congestion_window_limits_the_first_flight(variant):
    """15 segments written: only cwnd's 10 go before an ACK."""
    b = SenderBench(variant, nodelay=True)
    b.write(15 * MSS)
    for i in range(10):
        b.expect(i * MSS, MSS)
    b.expect_nothing()


def test_the_peers_window_limits_what_is_sent(variant):
    """The peer offers two segments: two go out, then one more for each acknowledged."""
    b = SenderBench(variant, window=2 * MSS, nodelay=True)
    b.write(4 * MSS)
    b.expect(0, MSS)
    b.expect(MSS, MSS)
    b.expect_nothing()
    b.ack(MSS, window=2 * MSS)
    b.expect(2 * MSS, MSS)
    b.expect_nothing()


def test_a_larger_window_in_an_ack_releases_more_data(variant):
    """The window the peer offers grows from one to three segments: two more go out."""
    b = SenderBench(variant, window=MSS, nodelay=True)
    b.write(4 * MSS)
    b.expect(0, MSS)
    b.expect_nothing()
    b.ack(MSS, window=3 * MSS)
    b.expect(MSS, MSS)
    b.expect(2 * MSS, MSS)
    b.expect(3 * MSS, MSS)
    b.expect_nothing()


def test_acknowledged_bytes_leave_the_send_buffer(variant):
    """An ACK frees what it covers, and the connection is told how much."""
    b = SenderBench(variant, nodelay=True)
    b.write(3 * MSS)
    for i in range(3):
        b.expect(i * MSS, MSS)
    b.ack(MSS)
    b.check_value("bytes left in the send buffer", len(b.stream.data), 2 * MSS)
    b.check_value("room freed, as told to the connection", b.host.freed, [MSS])
    b.check_value("snd_una", b.sender.snd_una.value, b.seq(MSS))


def test_a_partial_ack_frees_part_of_a_segment(variant):
    """An ACK in the middle of a segment: that many bytes leave the buffer."""
    b = SenderBench(variant, nodelay=True)
    b.write(2 * MSS)
    b.expect(0, MSS)
    b.expect(MSS, MSS)
    b.ack(500)
    b.check_value("bytes left in the send buffer", len(b.stream.data), 2 * MSS - 500)
    b.check_value("snd_una", b.sender.snd_una.value, b.seq(500))


def test_the_timer_retransmits_the_oldest_segment_and_doubles_the_rto(variant):
    """RFC 6298 §5.4-5.6: after RTO (300 ms), the first unacknowledged segment again."""
    b = SenderBench(variant, nodelay=True)
    b.write(2 * MSS)
    b.expect(0, MSS)
    b.expect(MSS, MSS)
    b.expect_after(RTO, 0, MSS)  # go-back-N from snd_una: cwnd is now one segment
    b.expect_nothing()
    b.check_value("rto", b.rto.rto, 2 * RTO, 1e-6)
    b.check_value("counter tcp.tx.timeout", b.counter("tcp.tx.timeout"), 1)
    b.check_value("counter tcp.tx.retransmits", b.counter("tcp.tx.retransmits"), 1)


def test_repeated_timeouts_back_off_exponentially(variant):
    """No ACK at all: the same segment at RTO, then 2 RTO later, then 4 RTO later."""
    b = SenderBench(variant, nodelay=True)
    b.write(MSS)
    b.expect(0, MSS)
    for wait in (RTO, 2 * RTO, 4 * RTO):
        b.expect_after(wait, 0, MSS)
    b.check_value("rto", b.rto.rto, 8 * RTO, 1e-6)


def test_without_an_rtt_sample_the_first_timeout_is_the_initial_rto(variant):
    """The handshake was not timed: the first retransmission waits the initial RTO (the
    variant's), the next twice that."""
    b = SenderBench(variant, nodelay=True, rtt=None)
    initial = variant.initial_rto
    b.write(MSS)
    b.expect(0, MSS)
    b.expect_after(initial, 0, MSS)
    b.expect_after(2 * initial, 0, MSS)


def test_acknowledging_everything_stops_the_timer(variant):
    """RFC 6298 §5.2: nothing outstanding, no retransmission ever."""
    b = SenderBench(variant, nodelay=True)
    b.write(MSS)
    b.expect(0, MSS)
    b.ack(MSS)
    b.advance(10.0)
    b.expect_nothing()
    b.check_value("counter tcp.tx.timeout", b.counter("tcp.tx.timeout"), 0)


def test_an_ack_of_new_data_restarts_the_timer(variant):
    """RFC 6298 §5.3: the timer runs a full RTO from the last ACK that advanced snd_una."""
    b = SenderBench(variant, nodelay=True)
    b.write(2 * MSS)
    b.expect(0, MSS)
    b.expect(MSS, MSS)
    b.advance(0.2)
    b.ack(MSS)  # this ACK also gives a 200 ms sample: the RTO becomes 0.3625 s
    rto = 0.1125 + 4 * 0.0625
    b.check_value("rto after the 200 ms sample", b.rto.rto, rto, 1e-6)
    b.expect_after(rto, MSS, MSS)  # a full RTO from the ACK, past the first deadline


def test_an_ack_of_the_timed_segment_gives_an_exact_rtt_sample(variant):
    """One segment timed: its ACK after 250 ms moves SRTT and RTTVAR by RFC 6298 §2.3."""
    b = SenderBench(variant, nodelay=True)
    b.write(MSS)
    b.expect(0, MSS)
    b.advance(0.25)
    b.ack(MSS)
    rttvar = 0.75 * 0.05 + 0.25 * abs(0.1 - 0.25)
    srtt = 0.875 * 0.1 + 0.125 * 0.25
    b.check_value("srtt", b.rto.srtt, srtt, 1e-6)
    b.check_value("rttvar", b.rto.rttvar, rttvar, 1e-6)
    b.check_value("rto", b.rto.rto, srtt + 4 * rttvar, 1e-6)


def test_karn_no_sample_from_a_retransmitted_segment(variant):
    """RFC 6298 §3: the ACK of a retransmitted segment is ambiguous: SRTT stays."""
    b = SenderBench(variant, nodelay=True)
    b.write(MSS)
    b.expect(0, MSS)
    b.expect_after(RTO, 0, MSS)
    b.advance(0.05)
    b.ack(MSS)
    b.check_value("srtt (the handshake's sample only)", b.rto.srtt, 0.1, 1e-6)


def test_after_karn_the_next_new_segment_is_timed_again(variant):
    """After the ambiguous ACK, a segment sent once gives a sample again."""
    b = SenderBench(variant, nodelay=True)
    b.write(MSS)
    b.expect(0, MSS)
    b.expect_after(RTO, 0, MSS)
    b.ack(MSS)
    b.write(MSS)
    b.expect(MSS, MSS)
    b.advance(0.2)
    b.ack(2 * MSS)
    b.check_value("srtt", b.rto.srtt, 0.875 * 0.1 + 0.125 * 0.2, 1e-6)


def test_a_closed_window_is_probed_when_the_persist_timer_fires(variant):
    """RFC 9293 §3.8.6.1: the peer offers 0: one byte goes after RTO, as a probe."""
    b = SenderBench(variant, window=0, nodelay=True)
    b.write(100)
    b.expect_nothing()
    b.expect_after(RTO, 0, 1)
    b.check_value("counter tcp.tx.window_probe", b.counter("tcp.tx.window_probe"), 1)
    b.ack(1, window=MSS)  # the peer took it, and has room again
    b.expect(1, 99, psh=True)
    b.expect_nothing()


def test_unanswered_window_probes_back_off(variant):
    """The probe is unanswered (or refused with window 0): later probes at doubling
    intervals, the same byte each time."""
    b = SenderBench(variant, window=0, nodelay=True)
    b.write(100)
    b.expect_after(RTO, 0, 1)
    b.expect_after(2 * RTO, 0, 1)
    b.expect_after(4 * RTO, 0, 1)


def test_the_fin_rides_on_the_last_data_segment(variant):
    """Data then close: the last segment carries the FIN; its ACK covers the FIN."""
    b = SenderBench(variant, nodelay=True)
    b.stream.data += b.data(0, 500)
    b.written = 500
    b.close()
    b.expect(0, 500, fin=True)
    b.expect_nothing()
    b.ack(500, fin=True)
    b.check_value("fin_acked", b.sender.fin_acked, True)


def test_a_fin_alone_is_sent_and_retransmitted_on_timeout(variant):
    """Everything acknowledged, then close: a bare FIN, sent again after RTO."""
    b = SenderBench(variant, nodelay=True)
    b.write(100)
    b.expect(0, 100)
    b.advance(0.1)
    b.ack(100)  # another 100 ms sample: RTTVAR 37.5 ms, so the RTO is 250 ms
    b.close()
    b.expect(100, 0, fin=True)
    b.expect_after(0.1 + 4 * 0.0375, 100, 0, fin=True)
    b.ack(100, fin=True)
    b.check_value("fin_acked", b.sender.fin_acked, True)
    b.advance(5.0)
    b.expect_nothing()


def test_sequence_numbers_wrap_past_2_to_the_32(variant):
    """Our ISN is a few segments short of 2^32: segments and ACKs cross the wrap."""
    b = SenderBench(variant, iss=wrap_isn(variant), nodelay=True)
    b.write(4 * MSS)
    for i in range(4):
        b.expect(i * MSS, MSS)
    b.ack(2 * MSS)
    b.check_value("bytes left in the send buffer", len(b.stream.data), 2 * MSS)
    b.ack(4 * MSS)
    b.check_value("bytes left in the send buffer", len(b.stream.data), 0)
    b.advance(10.0)
    b.expect_nothing()


def test_the_sender_gives_up_after_the_retry_limit(variant):
    """The connection allows two retransmissions: the third expiry ends it."""
    b = SenderBench(variant, nodelay=True)
    b.host.limit = 2
    b.write(MSS)
    b.expect(0, MSS)
    b.expect_after(RTO, 0, MSS)
    b.expect_after(2 * RTO, 0, MSS)
    b.check_value("the connection was told to give up", b.host.gave_up_at, None)
    b.advance(4 * RTO + 0.001)
    b.expect_nothing()
    b.check_value("the connection was told to give up at", b.host.gave_up_at, b.now, 1e-9)


def test_nothing_is_sent_when_the_connection_does_not_allow_it(variant):
    """sending_allowed() False (e.g. before ESTABLISHED): nothing goes out."""
    b = SenderBench(variant, nodelay=True)
    b.host.allowed = False
    b.write(MSS)
    b.expect_nothing()
