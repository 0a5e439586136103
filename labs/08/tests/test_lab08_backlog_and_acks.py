"""Lab 8: the listen backlog as the stack implements it, and RFC 5961 §5.2's lower edge.

Both live in your `_ack` (segment_arrives.py):
- a handshake whose final ACK finds the listener's accept queue full is left half-open
  (Linux's default, tcp_abort_on_overflow = 0): nothing is sent, the connection stays in
  SYN-RECEIVED, and the SYN-ACK's retransmission gives the peer a second chance once the
  application has accepted;
- an ACK is acceptable from SND.UNA - MAX.SND.WND to SND.NXT (both ends included); one
  older than that is a blind attacker's guess: a challenge ACK, and the segment (its data,
  its FIN) is dropped.
"""

from __future__ import annotations

from lab08_bench import ACK, FIN, MSS, SYN, Scene, make_scene, passive_open, seq

from labs.kit import Variant
from netstack.stages.tcp.state import TcpState
from netstack.testing import TcpPeer
from netstack.wire.tcp import MssOption

PEER_WINDOW = 65535  # every segment TcpPeer sends offers this window: MAX.SND.WND


def second_port(variant: Variant) -> int:
    """A second peer port on the same peer host, next to the variant's."""
    return variant.peer_port + 1 if variant.peer_port < 65535 else variant.peer_port - 1


def other_isn(variant: Variant) -> int:
    return seq(variant.peer_isn + 100_000)


def backlog_one_with_two_handshakes(variant: Variant) -> tuple[Scene, TcpPeer, int]:
    """A listener with backlog 1 and two peers' SYNs, each answered with a SYN-ACK while
    the accept queue was still empty (the listener itself ignores SYNs once it is full);
    then the first peer's ACK fills the queue. Returns the scene, the second peer and the
    stack's ISN toward it."""
    s = make_scene(variant)
    s.listener = s.tcp.listen(None, variant.stack_port, 1)
    other = TcpPeer(s.harness, variant.stack_port, second_port(variant), variant.peer_ip,
                    variant.peer_mac)
    s.peer.send(SYN, seq=s.peer_isn, options=(MssOption(MSS),))
    first = s.peer.expect(SYN | ACK, ack=seq(s.peer_isn + 1))
    other.send(SYN, seq=other_isn(variant), options=(MssOption(MSS),))
    second = other.expect(SYN | ACK, ack=seq(other_isn(variant) + 1))
    s.peer.send(ACK, seq=seq(s.peer_isn + 1), ack=seq(first.seq + 1))
    s.peer.expect_nothing()
    s.expect_true("the accept queue holds the first connection",
                  lambda: len(s.listener.accept_queue) == 1,
                  f"it holds {len(s.listener.accept_queue)}")
    return s, other, second.seq


def half_open_to(s: Scene, port: int):
    found = [c for c in s.tcp.connections() if c.remote[1] == port]
    return found[0] if found else None


def test_full_accept_queue_leaves_the_final_ack_unanswered(variant):
    """Backlog 1, one connection waiting for accept(): a second handshake's ACK is dropped
    silently (no RST), and that connection stays half-open in SYN-RECEIVED."""
    s, other, isn = backlog_one_with_two_handshakes(variant)
    other.send(ACK, seq=seq(other_isn(variant) + 1), ack=seq(isn + 1))
    other.expect_nothing()
    s.expect_true("the accept queue still holds only the first connection",
                  lambda: len(s.listener.accept_queue) == 1,
                  f"it holds {len(s.listener.accept_queue)}: the backlog of 1 was exceeded")
    s.expect_true("the second connection is still half-open (SYN-RECEIVED)",
                  lambda: (c := half_open_to(s, other.port)) is not None
                  and c.state == TcpState.SYN_RECEIVED,
                  "it is gone or in another state")


def test_half_open_connection_completes_once_the_queue_has_room(variant):
    """After accept() made room, the SYN-ACK's retransmission (one initial RTO after the
    first) brings the peer's ACK again, which now establishes and queues the connection."""
    s, other, isn = backlog_one_with_two_handshakes(variant)
    other.send(ACK, seq=seq(other_isn(variant) + 1), ack=seq(isn + 1))
    other.expect_nothing()
    s.harness.call("the application accepts the first connection",
                   lambda stack, now: s.listener.accept_queue.popleft())
    s.harness.advance(variant.initial_rto)
    other.expect(SYN | ACK, seq=isn, ack=seq(other_isn(variant) + 1))
    other.send(ACK, seq=seq(other_isn(variant) + 1), ack=seq(isn + 1))
    other.expect_nothing()
    s.expect_true("the second connection is ESTABLISHED and waits in the accept queue",
                  lambda: len(s.listener.accept_queue) == 1
                  and s.listener.accept_queue[0].remote[1] == other.port
                  and s.listener.accept_queue[0].state == TcpState.ESTABLISHED,
                  "it is not in the accept queue, or not ESTABLISHED")


def test_ack_older_than_max_snd_wnd_gets_a_challenge_ack(variant):
    """RFC 5961 §5.2: data whose ACK is below SND.UNA - MAX.SND.WND: a challenge ACK (of
    RCV.NXT, not of the data), and the data is not delivered."""
    s = passive_open(variant)
    too_old = seq(s.our_next - PEER_WINDOW - 1)
    s.peer.send(ACK, seq=s.peer_next, ack=too_old, data=b"blind")
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)
    got = s.read()
    s.expect_true("nothing was delivered to the application", lambda: got == b"",
                  f"it read {got!r}")


def test_ack_at_the_lower_edge_is_still_acceptable(variant):
    """RFC 5961 §5.2's range includes its lower end: an ACK of exactly SND.UNA - MAX.SND.WND
    is an old duplicate, not an attack; its data is acknowledged and delivered."""
    s = passive_open(variant)
    edge = seq(s.our_next - PEER_WINDOW)
    s.send(ACK, data=b"late but fine", ack=edge)
    s.harness.advance(0.2)  # a delayed ACK at most
    s.expect_ack()
    got = s.read()
    s.expect_true("the data was delivered", lambda: got == b"late but fine", f"it read {got!r}")


def test_fin_with_a_too_old_ack_is_not_processed(variant):
    """A FIN riding on an ACK below the acceptable range is dropped with it: a challenge
    ACK, and the connection stays ESTABLISHED (no CLOSE-WAIT, no end of file)."""
    s = passive_open(variant)
    too_old = seq(s.our_next - PEER_WINDOW - 1)
    s.peer.send(FIN | ACK, seq=s.peer_next, ack=too_old)
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)
    s.expect_true("the application has not seen end of file",
                  lambda: not s.conn.receiver.fin_received,
                  "the receiver took the FIN")
