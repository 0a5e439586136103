"""Lab 6, part 2: the TCP receiver driven alone (RFC 9293 §3.8.6 and §3.10.7.4, RFC 1122
§4.2.3, RFC 5681 §4.2).

The bench's receiver got the peer's SYN (its ISN is the variant's), has an 8-segment
receive buffer (11680 bytes, MSS 1460) and SACK off unless a test says otherwise. Offsets
count the peer's stream from its first data byte; the transcript shows sequence numbers."""

from __future__ import annotations

from lab06_bench import MSS, ReceiverBench, wrap_isn

RCVBUF = 8 * MSS
DELAYED_ACK = 0.04  # TcpConfig's default


def test_an_in_order_segment_is_readable_and_its_ack_is_delayed(variant):
    """One segment: readable at once; its ACK waits for the delayed-ACK timer (40 ms)."""
    b = ReceiverBench(variant)
    b.segment(0, MSS)
    b.expect_no_ack()
    b.check_value("bytes readable", b.readable(), MSS)
    b.advance(DELAYED_ACK - 0.001)
    b.expect_no_ack()
    b.advance(0.001)
    b.expect_ack(MSS, window=RCVBUF - MSS)  # the unread bytes take room from the window
    b.check_value("the data read", b.read(MSS), b.data(0, MSS))


def test_every_second_full_segment_is_acked_at_once(variant):
    """RFC 1122 §4.2.3.2: at least one ACK per two full-sized segments."""
    b = ReceiverBench(variant)
    b.segment(0, MSS)
    b.expect_no_ack()
    b.segment(MSS, MSS)
    b.expect_ack(2 * MSS, window=RCVBUF - 2 * MSS)
    b.advance(DELAYED_ACK)
    b.expect_no_ack()  # that ACK made the delayed one unnecessary


def test_small_segments_are_acked_once_by_the_timer(variant):
    """Three small in-order segments: one delayed ACK covers them all."""
    b = ReceiverBench(variant)
    for i in range(3):
        b.segment(100 * i, 100)
    b.expect_no_ack()
    b.advance(DELAYED_ACK)
    b.expect_ack(300)
    b.advance(1.0)
    b.expect_no_ack()


def test_an_out_of_order_segment_gets_an_immediate_duplicate_ack(variant):
    """RFC 5681 §4.2: data past a hole is acked at once with the old ACK number."""
    b = ReceiverBench(variant)
    b.segment(MSS, MSS)
    b.expect_ack(0)
    b.check_value("bytes readable", b.readable(), 0)
    b.check_value("counter tcp.rx.out_of_order", b.counters.get("tcp.rx.out_of_order", 0), 1)


def test_filling_the_hole_delivers_everything_and_is_acked_at_once(variant):
    """The missing segment arrives: both are readable, in order, and the ACK covers both."""
    b = ReceiverBench(variant)
    b.segment(MSS, MSS)
    b.expect_ack(0)
    b.segment(0, MSS)
    b.expect_ack(2 * MSS)
    b.check_value("the data read", b.read(RCVBUF), b.data(0, 2 * MSS))


def test_several_holes_filled_in_reverse_order(variant):
    """Segments 4, 2 and 0 first, then 3, 1: the stream is whole and in order."""
    b = ReceiverBench(variant)
    for i in (4, 2):
        b.segment(i * 1000, 1000)
        b.expect_ack(0)
    b.segment(0, 1000)
    b.expect_ack(1000)  # fills the first hole only
    b.segment(3000, 1000)
    b.expect_ack(1000)
    b.segment(1000, 1000)
    b.expect_ack(5000)
    b.check_value("the data read", b.read(RCVBUF), b.data(0, 5000))


def test_a_duplicate_segment_gets_its_own_ack_at_once(variant):
    """A retransmission of bytes already received: ACKed at once, delivered once."""
    b = ReceiverBench(variant)
    b.segment(0, MSS)
    b.expect_no_ack()
    b.segment(0, MSS)
    b.expect_ack(MSS)
    b.check_value("bytes readable", b.readable(), MSS)
    b.check_value("counter tcp.rx.duplicate", b.counters.get("tcp.rx.duplicate", 0), 1)
    b.advance(DELAYED_ACK)
    b.expect_no_ack()


def test_a_segment_overlapping_received_bytes_delivers_only_the_new_ones(variant):
    """Bytes 0..1000 arrive, then 500..1500: the stream is 0..1500, each byte once."""
    b = ReceiverBench(variant)
    b.segment(0, 1000)
    b.segment(500, 1000)
    b.check_value("bytes readable", b.readable(), 1500)
    b.check_value("the data read", b.read(RCVBUF), b.data(0, 1500))


def test_overlapping_out_of_order_segments_are_merged(variant):
    """2000..3000, 2500..4000 and 1500..2100 held out of order; 0..1500 fills the hole."""
    b = ReceiverBench(variant)
    for offset, length in ((2000, 1000), (2500, 1500), (1500, 600)):
        b.segment(offset, length)
        b.expect_ack(0)
    b.segment(0, 1500)
    b.expect_ack(4000)
    b.check_value("the data read", b.read(RCVBUF), b.data(0, 4000))


def test_a_segment_reaching_past_the_window_is_trimmed_to_it(variant):
    """The part inside the window is kept; what lies beyond is dropped, ACKed at once."""
    b = ReceiverBench(variant, rcvbuf=4 * MSS)
    b.segment(0, 3 * MSS)
    b.expect_ack(3 * MSS, window=MSS)  # more than two full segments' worth: ACKed at once
    b.segment(3 * MSS, 2 * MSS)  # only one MSS of it fits
    b.expect_ack(4 * MSS, window=0)
    b.check_value("bytes readable", b.readable(), 4 * MSS)
    b.check_value("the data read", b.read(8 * MSS), b.data(0, 4 * MSS))


def test_a_segment_wholly_beyond_the_window_is_dropped_and_acked(variant):
    """Data that starts past the right edge: nothing is kept, the ACK says where we are."""
    b = ReceiverBench(variant, rcvbuf=4 * MSS)
    b.segment(5 * MSS, MSS)
    b.expect_ack(0)
    b.segment(0, MSS)
    b.segment(MSS, MSS)
    b.expect_ack(2 * MSS)
    b.check_value("the data read", b.read(8 * MSS), b.data(0, 2 * MSS))


def test_a_full_buffer_advertises_a_zero_window(variant):
    """The window is what is free of the buffer: full and unread, it is 0."""
    b = ReceiverBench(variant)
    for pair in range(4):
        b.segment(2 * pair * MSS, MSS)
        b.segment((2 * pair + 1) * MSS, MSS)
        b.expect_ack(2 * (pair + 1) * MSS, window=RCVBUF - 2 * (pair + 1) * MSS)
    b.check_value("rcv_wnd", b.receiver.rcv_wnd, 0)


def test_data_into_a_zero_window_is_not_taken(variant):
    """A closed window: a new segment (a probe) is dropped and answered with window 0."""
    b = ReceiverBench(variant, rcvbuf=2 * MSS)
    b.segment(0, MSS)
    b.segment(MSS, MSS)
    b.expect_ack(2 * MSS, window=0)
    b.segment(2 * MSS, 1)  # a zero-window probe
    b.expect_ack(2 * MSS, window=0)
    b.check_value("bytes readable", b.readable(), 2 * MSS)


def test_reading_reopens_the_window_and_a_window_update_is_due(variant):
    """After the application reads a full buffer, the next ACK offers the whole buffer."""
    b = ReceiverBench(variant, rcvbuf=2 * MSS)
    b.segment(0, MSS)
    b.segment(MSS, MSS)
    b.expect_ack(2 * MSS, window=0)
    b.check_value("the data read", b.read(2 * MSS), b.data(0, 2 * MSS))
    b.check_value("window_update_worthwhile()", b.receiver.window_update_worthwhile(), True)
    b.run("the connection sends the window update", lambda: b.out.send_ack(b.now))
    b.expect_ack(2 * MSS, window=2 * MSS)
    b.segment(2 * MSS, MSS)  # the peer may send again
    b.check_value("bytes readable", b.readable(), MSS)


def test_a_small_read_does_not_open_a_silly_window(variant):
    """RFC 1122 §4.2.3.3: reading 100 bytes of a full buffer leaves the window at 0."""
    b = ReceiverBench(variant, rcvbuf=4 * MSS)
    for i in range(4):
        b.segment(i * MSS, MSS)
    b.expect_ack(2 * MSS)
    b.expect_ack(4 * MSS, window=0)
    b.read(100)
    b.run("the next ACK goes out", lambda: b.out.send_ack(b.now))
    b.expect_ack(4 * MSS, window=0)
    b.read(MSS)
    b.run("the next ACK goes out", lambda: b.out.send_ack(b.now))
    b.expect_ack(4 * MSS, window=MSS + 100)


def test_the_right_edge_of_the_window_never_moves_left(variant):
    """RFC 9293 §3.8.6.2.2: ACK + window never decreases from one ACK to the next."""
    b = ReceiverBench(variant, rcvbuf=4 * MSS)
    edges = []
    steps = [(0, MSS), (MSS, MSS), (3 * MSS, MSS), (2 * MSS, MSS)]
    for offset, length in steps:
        b.segment(offset, length)
        b.run("an ACK goes out", lambda: b.out.send_ack(b.now))
        while b.out.sent:
            ack = b.out.sent.popleft()
            edge = (ack.ack - b.irs - 1) % 2**32 + ack.window
            b.log(f"sent      ACK {ack.ack} win={ack.window}: right edge at offset {edge}")
            edges.append(edge)
        if len(b.read(300)) and b.receiver.window_update_worthwhile():
            b.run("a window update", lambda: b.out.send_ack(b.now))
    b.check_value("right edges never decreasing", edges == sorted(edges), True)


def test_a_fin_in_order_is_acked_at_once_and_reported(variant):
    """The FIN takes one sequence number; receive() returns True once it is in order."""
    b = ReceiverBench(variant)
    fin_now = b.segment(0, 100, fin=True)
    b.check_value("receive() said the FIN is in order", fin_now, True)
    b.expect_ack(101)
    b.check_value("fin_received", b.receiver.fin_received, True)
    b.check_value("the data read", b.read(1000), b.data(0, 100))


def test_a_fin_after_a_hole_waits_for_the_hole(variant):
    """A FIN past missing data is not in order until the data before it arrives."""
    b = ReceiverBench(variant)
    fin_now = b.segment(MSS, 100, fin=True)
    b.check_value("receive() said the FIN is in order", fin_now, False)
    b.expect_ack(0)
    b.check_value("fin_received", b.receiver.fin_received, False)
    fin_now = b.segment(0, MSS)
    b.check_value("receive() said the FIN is in order", fin_now, True)
    b.expect_ack(MSS + 100 + 1)
    b.check_value("the data read", b.read(4 * MSS), b.data(0, MSS + 100))


def test_a_retransmitted_fin_gets_a_duplicate_ack(variant):
    """After the FIN, a copy of the last segment is ACKed at once and changes nothing."""
    b = ReceiverBench(variant)
    b.segment(0, 100, fin=True)
    b.expect_ack(101)
    fin_now = b.segment(0, 100, fin=True)
    b.check_value("receive() said the FIN is in order", fin_now, False)
    b.expect_ack(101)
    b.check_value("bytes readable", b.readable(), 100)


def test_reads_take_bytes_in_order_and_leave_the_rest(variant):
    """take(n) gives at most n bytes from the front; the next read goes on from there."""
    b = ReceiverBench(variant)
    b.segment(0, 1000)
    b.check_value("first read", b.read(300), b.data(0, 300))
    b.check_value("second read", b.read(300), b.data(300, 300))
    b.check_value("third read", b.read(3000), b.data(600, 400))
    b.check_value("fourth read", b.read(3000), b"")


def test_a_stream_crossing_2_to_the_32_is_reassembled(variant):
    """The peer's ISN is a few segments short of 2^32: out-of-order data on both sides of
    the wrap is put back in order, and the ACK numbers wrap to small values."""
    b = ReceiverBench(variant, irs=wrap_isn(variant))
    b.segment(3 * MSS, MSS)  # past the wrap
    b.expect_ack(0)
    b.segment(MSS, MSS)
    b.expect_ack(0)
    b.segment(0, MSS)
    b.expect_ack(2 * MSS)
    b.segment(2 * MSS, MSS)
    b.expect_ack(4 * MSS)
    b.check_value("the data read", b.read(RCVBUF), b.data(0, 4 * MSS))


def test_with_sack_an_out_of_order_segment_is_reported_in_a_sack_block(variant):
    """SACK is given (not this lab's subject), but it reads the blocks your receiver keeps."""
    b = ReceiverBench(variant, sack=True)
    b.segment(2 * MSS, MSS)
    b.expect_ack(0, sack=((2 * MSS, 3 * MSS),))
    b.segment(0, MSS)
    b.expect_ack(MSS, sack=((2 * MSS, 3 * MSS),))
    b.segment(MSS, MSS)
    b.expect_ack(3 * MSS)
