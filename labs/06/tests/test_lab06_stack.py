"""Lab 6, part 3: your receiver inside a whole stack, against a peer that sends real segments.

The stack (every other layer the reference) listens on the variant's port; the peer connects
from the variant's address and port, with the variant's ISN, offering MSS 1460 and nothing
else (no SACK, timestamps or window scaling: every window below is in bytes). The
transcript shows each segment as tcpdump would."""

from __future__ import annotations

from lab06_bench import MSS, open_connection, wrap_isn

from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH

ACK, FIN, PSH = FLAG_ACK, FLAG_FIN, FLAG_PSH


def test_in_order_data_reaches_the_application_and_is_acked(variant):
    """Two full segments: one immediate ACK for both; the application reads them."""
    s = open_connection(variant)
    s.send(0, MSS)
    s.peer.expect_nothing()  # delayed
    s.send(MSS, MSS)
    s.peer.expect(ACK, ack=s.ack_for(2 * MSS))
    got = s.read(4 * MSS)
    assert got == s.data(0, MSS) + s.data(MSS, MSS), "the application read other bytes"


def test_a_lone_segment_is_acked_when_the_delayed_ack_timer_fires(variant):
    """One small segment: the ACK leaves 40 ms later, not before."""
    s = open_connection(variant)
    s.send(0, 200)
    s.peer.expect_nothing()
    s.harness.advance(0.039)
    s.peer.expect_nothing()
    s.harness.advance(0.001)
    s.peer.expect(ACK, ack=s.ack_for(200))


def test_out_of_order_segments_bring_duplicate_acks_then_one_ack_for_all(variant):
    """Segments 2 and 1 before 0: two duplicate ACKs, then one ACK covering the three."""
    s = open_connection(variant)
    s.send(2 * MSS, MSS)
    s.peer.expect(ACK, ack=s.ack_for(0))
    s.send(MSS, MSS)
    s.peer.expect(ACK, ack=s.ack_for(0))
    s.send(0, MSS)
    s.peer.expect(ACK, ack=s.ack_for(3 * MSS))
    assert s.read(8 * MSS) == b"".join(s.data(i * MSS, MSS) for i in range(3))


def test_a_stream_across_the_sequence_wrap_is_acked_with_wrapped_numbers(variant):
    """The peer's ISN is just short of 2^32: the ACK numbers wrap past 0."""
    s = open_connection(variant, isn=wrap_isn(variant))
    for i in range(0, 4, 2):
        s.send(i * MSS, MSS)
        s.send((i + 1) * MSS, MSS)
        s.peer.expect(ACK, ack=s.ack_for((i + 2) * MSS))
    assert s.read(8 * MSS) == b"".join(s.data(i * MSS, MSS) for i in range(4))


def test_a_full_buffer_shows_a_zero_window_and_a_read_reopens_it(variant):
    """A 4-segment buffer filled: window 0; the application reads it all: a window update."""
    s = open_connection(variant, rcvbuf=4 * MSS)
    s.send(0, MSS)
    s.send(MSS, MSS)
    s.peer.expect(ACK, ack=s.ack_for(2 * MSS), window=2 * MSS)
    s.send(2 * MSS, MSS)
    s.send(3 * MSS, MSS)
    s.peer.expect(ACK, ack=s.ack_for(4 * MSS), window=0)
    s.send(4 * MSS, 1)  # the peer probes the closed window
    s.peer.expect(ACK, ack=s.ack_for(4 * MSS), window=0)
    s.read(4 * MSS)
    s.peer.expect(ACK, ack=s.ack_for(4 * MSS), window=4 * MSS)


def test_a_duplicate_segment_is_acked_at_once(variant):
    """A retransmission of data already acked: a duplicate ACK, nothing delivered twice."""
    s = open_connection(variant)
    s.send(0, 500)
    s.harness.advance(0.04)
    s.peer.expect(ACK, ack=s.ack_for(500))
    s.send(0, 500)
    s.peer.expect(ACK, ack=s.ack_for(500))
    assert s.read(5000) == s.data(0, 500)


def test_the_fin_is_acked_after_the_data_and_the_reader_sees_the_end(variant):
    """Data with the FIN: the ACK covers the FIN; the application reads the data, then EOF."""
    s = open_connection(variant)
    s.send(0, 300, flags=ACK | FIN)
    s.peer.expect(ACK, ack=s.ack_for(301))
    assert s.read(1000) == s.data(0, 300)
    assert s.conn.at_eof, "the connection should be at the end of the stream"


def test_a_fin_out_of_order_waits_for_the_data_before_it(variant):
    """The FIN arrives before a hole is filled: ACKed only once the hole is filled."""
    s = open_connection(variant)
    s.send(MSS, 300, flags=ACK | FIN)
    s.peer.expect(ACK, ack=s.ack_for(0))
    assert not s.conn.at_eof, "the stream cannot end before its missing bytes"
    s.send(0, MSS)
    s.peer.expect(ACK, ack=s.ack_for(MSS + 300 + 1))
    assert s.read(4 * MSS) == s.data(0, MSS) + s.data(MSS, 300)
