"""Lab 8: corners of segment acceptance (RFC 9293 §3.10.7.3 and §3.10.7.4).

- the acceptability table's last case: a segment that starts before RCV.NXT but ends
  inside the window is acceptable (its new bytes are kept);
- with a zero receive window no segment is acceptable, but the ACK it carries must still
  be taken (the RFC's "special allowance" for valid ACKs);
- a SYN-ACK may carry data and a FIN: after the handshake, processing goes on at the
  sixth step (the text) and the eighth (the FIN).
"""

from __future__ import annotations

from lab08_bench import ACK, FIN, MSS, SYN, active_open, passive_open, seq

from netstack.stages.tcp.state import TcpState
from netstack.wire.tcp import MssOption


def test_segment_overlapping_the_left_edge_is_acceptable(variant):
    """A retransmission that starts with bytes we have and goes on with new ones: its new
    bytes are delivered, and the ACK covers all of it."""
    s = passive_open(variant)
    first = s.peer_next
    s.send(ACK, data=b"hello")
    s.harness.advance(0.2)  # a delayed ACK at most
    s.expect_ack()
    s.peer.send(ACK, seq=first, ack=s.our_next, data=b"hello, world")
    s.peer_next = seq(first + len(b"hello, world"))
    s.harness.advance(0.2)
    s.expect_ack()
    got = s.read()
    s.expect_true("the application read every byte once", lambda: got == b"hello, world",
                  f"it read {got!r}")


def test_zero_window_still_takes_the_ack_of_an_unacceptable_segment(variant):
    """Our receive window is full: the peer's probe (one byte at RCV.NXT) is not accepted
    and gets an ACK with window 0, but the ACK it carries of our data is taken: nothing of
    ours is left in flight."""
    # A window of one segment; no tail-loss probe of our 4 bytes while the peer holds them.
    s = passive_open(variant, rcvbuf=MSS, tail_loss_probe=False)
    s.write(b"ours")
    s.peer.expect(ACK, seq=s.our_next, ack=s.peer_next, payload=b"ours")
    # The peer fills our window (one segment) without acknowledging "ours" yet.
    s.send(ACK, data=bytes(MSS))
    # Past the delayed ACK (40 ms), short of our RTO: the handshake's RTT sample of 0 s
    # made it the 200 ms minimum, and "ours" must not be retransmitted in this transcript.
    s.harness.advance(0.1)
    s.peer.expect(ACK, seq=seq(s.our_next + 4), ack=s.peer_next, window=0)
    s.our_next = seq(s.our_next + 4)
    # The zero-window probe, acknowledging "ours".
    s.peer.send(ACK, seq=s.peer_next, ack=s.our_next, data=b"?")
    s.peer.expect(ACK, seq=s.our_next, ack=s.peer_next, window=0)
    s.expect_true("our 4 bytes are acknowledged (SND.UNA = SND.NXT)",
                  lambda: s.conn.sender.snd_una == s.conn.sender.snd_max,
                  "they are still in flight: the probe's ACK was ignored")


def test_syn_ack_carrying_data_and_fin(variant):
    """The peer's SYN-ACK brings 5 bytes and a FIN: ESTABLISHED, then the data is delivered
    and the FIN moves us on to CLOSE-WAIT; our ACKs end up covering ISN + 1 + 5 + 1. (An
    ACK of the SYN alone may come first.)"""
    s = active_open(variant)
    s.peer.send(SYN | ACK | FIN, seq=s.peer_isn, ack=s.our_next, data=b"early",
                options=(MssOption(MSS),))
    everything = seq(s.peer_isn + 1 + 5 + 1)
    first = s.peer.expect(ACK, seq=s.our_next)
    if first.ack != everything:
        s.peer_next = everything
        s.harness.advance(0.2)
        s.expect_ack()
    s.expect_state(TcpState.CLOSE_WAIT)
    got = s.read()
    s.expect_true("the application read the SYN-ACK's data", lambda: got == b"early",
                  f"it read {got!r}")
