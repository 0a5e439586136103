"""Lab 7, part 3: your sender and RTO estimator inside a whole stack, against a peer.

The stack (every other layer the reference) listens on the variant's port with its ISN
fixed (the bench's); the peer connects from the variant's address and port, offering MSS
1460 and nothing else, and acknowledges the SYN-ACK 100 ms later: SRTT 100 ms, RTO 300 ms."""

from __future__ import annotations

from lab07_bench import MSS, open_connection, wrap_isn

RTO = 0.3


def test_written_data_leaves_in_mss_segments(variant):
    """4000 bytes written: two full segments, then (Nagle) the rest once they are acked."""
    s = open_connection(variant)
    s.write(bytes(range(256)) * 15 + bytes(160))
    s.expect(0, MSS)
    s.expect(MSS, MSS)
    s.peer.expect_nothing()
    s.ack(2 * MSS)
    s.expect(2 * MSS, 4000 - 2 * MSS)


def test_a_lost_segment_is_retransmitted_at_rto_and_then_at_twice_rto(variant):
    """No ACK comes: the segment again after 300 ms, then after 600 ms more."""
    s = open_connection(variant)
    s.write(b"x" * 500)
    s.expect(0, 500)
    s.harness.advance(RTO - 0.02)  # (the stack's timer wheel ticks every few ms)
    s.peer.expect_nothing()
    s.harness.advance(0.04)
    s.expect(0, 500)
    s.harness.advance(2 * RTO - 0.05)
    s.peer.expect_nothing()
    s.harness.advance(0.1)
    s.expect(0, 500)
    s.ack(500)
    s.harness.advance(10.0)
    s.peer.expect_nothing()


def test_the_fin_is_retransmitted_until_acknowledged(variant):
    """Data and FIN with the sequence numbers crossing 2^32: the FIN is resent on timeout."""
    s = open_connection(variant, iss=wrap_isn(variant))
    s.write(b"y" * 2 * MSS)
    s.expect(0, MSS)
    s.expect(MSS, MSS)
    s.ack(2 * MSS)
    s.shutdown()
    s.expect(2 * MSS, 0, fin=True)
    s.harness.advance(1.0)
    s.expect(2 * MSS, 0, fin=True)
    s.ack(2 * MSS, fin=True)
    s.harness.advance(10.0)
    s.peer.expect_nothing()


def test_a_zero_window_is_probed_by_the_stack(variant):
    """The peer's window is 0 after the handshake: a one-byte probe after RTO."""
    s = open_connection(variant, window=0)
    s.write(b"z" * 100)
    s.peer.expect_nothing()
    s.harness.advance(RTO + 0.02)
    s.expect(0, 1)
    s.ack(1, window=MSS)
    s.expect(1, 99)
