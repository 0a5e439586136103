"""Lab 8, part 1: opening a connection (RFC 9293 §3.5, §3.10.7.2-3): the three-way
handshake from both sides, simultaneous open, retransmitted SYNs, and what a SYN-SENT or
SYN-RECEIVED connection does with a segment it did not expect."""

from __future__ import annotations

import errno

from lab08_bench import (
    ACK,
    FIN,
    MSS,
    RST,
    SYN,
    active_open,
    established_active,
    listening,
    passive_open,
    seq,
    student_connection_module,
    syn_received,
)

from netstack.stages.tcp.state import TcpState
from netstack.wire.tcp import MssOption


def test_your_connection_uses_your_segment_arrives(variant):
    """connection.py must hand segments to YOUR segment_arrives.py, not the reference's."""
    s = listening(variant)
    module = student_connection_module()

    def uses_the_reference() -> bool:
        if module is None:
            return False  # the reference run: nothing to check
        import importlib

        process = getattr(importlib.import_module(module), "process_segment", None)
        return getattr(process, "__module__", "") == "netstack.stages.tcp.segment_arrives"

    s.expect_true("connection.py's process_segment is not the reference's",
                  lambda: not uses_the_reference(),
                  "connection.py still imports netstack.stages.tcp.segment_arrives: change it "
                  "to `from segment_arrives import process as process_segment`")
    passive_open(variant)


def test_passive_open_answers_syn_with_syn_ack_and_establishes_on_ack(variant):
    """SYN -> SYN-ACK acknowledging ISN + 1; the peer's ACK -> ESTABLISHED, accepted."""
    s = passive_open(variant)
    s.expect_true("the stage counts one established connection",
                  lambda: s.harness.stack.counters["tcp.conn.established"] == 1,
                  "tcp.conn.established is not 1")


def test_data_on_the_handshake_ack_is_delivered(variant):
    """The third segment of the handshake may carry data: it is acknowledged and readable."""
    s = syn_received(variant)
    s.send(ACK, data=b"hello")
    s.listener.accept_queue.popleft()
    s.expect_state(TcpState.ESTABLISHED)
    s.harness.advance(0.2)  # a delayed ACK at most
    s.expect_ack()
    assert s.read() == b"hello", "the application did not read the handshake's data"


def test_syn_received_answers_a_retransmitted_syn_with_the_same_syn_ack(variant):
    """Our SYN-ACK was lost: the peer's SYN again brings the same SYN-ACK again."""
    s = syn_received(variant)
    s.peer.send(SYN, seq=s.peer_isn, options=(MssOption(MSS),))
    s.peer.expect(SYN | ACK, seq=s.our_isn, ack=s.peer_next)
    s.expect_state(TcpState.SYN_RECEIVED)


def test_syn_received_retransmits_its_syn_ack_after_the_initial_rto(variant):
    """No ACK comes: the SYN-ACK leaves again after the initial RTO, not before; the ACK
    of the second one establishes."""
    s = syn_received(variant)
    s.harness.advance(variant.initial_rto * 0.9)
    s.peer.expect_nothing()
    s.harness.advance(variant.initial_rto * 0.1)
    s.peer.expect(SYN | ACK, seq=s.our_isn, ack=s.peer_next)
    s.send(ACK)  # this one arrives: the handshake completes
    s.peer.expect_nothing()
    s.expect_state(TcpState.ESTABLISHED)


def test_syn_received_resets_an_ack_of_something_never_sent(variant):
    """An ACK that does not acknowledge our SYN: a RST at SEG.ACK, the half-open one stays."""
    s = syn_received(variant)
    bad = seq(s.our_next + 1000)
    s.send(ACK, ack=bad)
    s.peer.expect(RST, seq=bad)
    s.expect_state(TcpState.SYN_RECEIVED)


def test_rst_in_syn_received_drops_the_half_open_connection(variant):
    """A RST at RCV.NXT: the half-open connection is gone, nothing answered, and the
    listener still answers a new SYN."""
    s = syn_received(variant)
    s.send(RST | ACK)
    s.peer.expect_nothing()
    s.expect_gone()
    s.peer.send(SYN, seq=seq(s.peer_isn + 5000), options=(MssOption(MSS),))
    s.peer.expect(SYN | ACK, ack=seq(s.peer_isn + 5001))


def test_active_open_sends_syn_and_establishes_on_syn_ack(variant):
    """connect(): SYN; the peer's SYN-ACK -> our ACK of its ISN + 1, ESTABLISHED."""
    established_active(variant)


def test_syn_is_retransmitted_after_the_initial_rto_then_backs_off(variant):
    """No answer: the same SYN after 1 RTO, then after 2 more (exponential backoff)."""
    s = active_open(variant)
    rto = variant.initial_rto
    s.harness.advance(rto * 0.9)
    s.peer.expect_nothing()
    s.harness.advance(rto * 0.1)
    s.peer.expect(SYN, seq=s.our_isn)
    s.harness.advance(2 * rto * 0.9)
    s.peer.expect_nothing()
    s.harness.advance(2 * rto * 0.1)
    s.peer.expect(SYN, seq=s.our_isn)
    s.expect_state(TcpState.SYN_SENT)


def test_syn_retries_exhausted_gives_etimedout(variant):
    """With syn_retries = 2: three SYNs, then the connection gives up with ETIMEDOUT."""
    s = active_open(variant, syn_retries=2)
    rto = variant.initial_rto
    s.harness.advance(rto)
    s.peer.expect(SYN, seq=s.our_isn)
    s.harness.advance(2 * rto)
    s.peer.expect(SYN, seq=s.our_isn)
    s.harness.advance(4 * rto)
    s.peer.expect_nothing()
    s.expect_gone(errno.ETIMEDOUT, check_error=True)


def test_syn_ack_after_a_retransmitted_syn_still_establishes(variant):
    """The first SYN was lost; the SYN-ACK to the second one establishes as usual."""
    s = active_open(variant)
    s.harness.advance(variant.initial_rto)
    s.peer.expect(SYN, seq=s.our_isn)
    s.peer.send(SYN | ACK, seq=s.peer_isn, ack=s.our_next, options=(MssOption(MSS),))
    s.peer_next = seq(s.peer_isn + 1)
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)


def test_syn_sent_resets_a_syn_ack_with_a_bad_ack(variant):
    """SYN-ACK acknowledging something we never sent: RST at SEG.ACK; still SYN-SENT."""
    s = active_open(variant)
    bad = seq(s.our_next + 7)
    s.peer.send(SYN | ACK, seq=s.peer_isn, ack=bad)
    s.peer.expect(RST, seq=bad)
    s.expect_state(TcpState.SYN_SENT)


def test_syn_sent_refused_by_rst_ack(variant):
    """RST with an acceptable ACK: the peer refused us: ECONNREFUSED, nothing answered."""
    s = active_open(variant)
    s.peer.send(RST | ACK, seq=0, ack=s.our_next)
    s.peer.expect_nothing()
    s.expect_gone(errno.ECONNREFUSED, check_error=True)


def test_syn_sent_ignores_rst_without_ack(variant):
    """A RST with no ACK cannot be checked against our SYN: ignored."""
    s = active_open(variant)
    s.peer.send(RST, seq=s.peer_isn)
    s.peer.expect_nothing()
    s.expect_state(TcpState.SYN_SENT)


def test_syn_sent_ignores_rst_with_a_bad_ack(variant):
    """RST + an ACK of something we never sent: ignored, and never answered with a RST."""
    s = active_open(variant)
    s.peer.send(RST | ACK, seq=0, ack=seq(s.our_next + 100))
    s.peer.expect_nothing()
    s.expect_state(TcpState.SYN_SENT)


def test_syn_sent_drops_a_segment_without_syn(variant):
    """A plain ACK of our SYN without the peer's SYN: dropped, still SYN-SENT."""
    s = active_open(variant)
    s.peer.send(ACK, seq=s.peer_isn, ack=s.our_next)
    s.peer.expect_nothing()
    s.expect_state(TcpState.SYN_SENT)


def test_simultaneous_open(variant):
    """Both sides send SYN: we answer the peer's SYN with a SYN-ACK of OUR ISN (SYN-RECEIVED);
    the peer's ACK of our SYN then establishes (RFC 9293 §3.5, figure 8)."""
    s = active_open(variant)
    s.peer.send(SYN, seq=s.peer_isn, options=(MssOption(MSS),))
    s.peer_next = seq(s.peer_isn + 1)
    s.peer.expect(SYN | ACK, seq=s.our_isn, ack=s.peer_next)
    s.expect_state(TcpState.SYN_RECEIVED)
    # The peer, in SYN-RECEIVED too, acknowledges our SYN (the HANDOUT's FAQ says why the
    # tests send an ACK here and not the crossing SYN-ACK of the figure).
    s.send(ACK)
    s.peer.expect_nothing()
    s.expect_state(TcpState.ESTABLISHED)


def test_shutdown_before_the_handshake_sends_fin_once_established(variant):
    """shutdown(SHUT_WR) in SYN-SENT: the FIN waits for the handshake, then follows it."""
    s = active_open(variant)
    s.shutdown_write()
    s.peer.expect_nothing()
    s.peer.send(SYN | ACK, seq=s.peer_isn, ack=s.our_next, options=(MssOption(MSS),))
    s.peer_next = seq(s.peer_isn + 1)
    s.peer.expect(ACK, seq=s.our_next, ack=s.peer_next)
    s.expect_fin()
    s.expect_state(TcpState.FIN_WAIT_1)


def test_close_in_syn_sent_sends_nothing(variant):
    """close() before any answer: the TCB goes, no FIN and no RST (the peer knows nothing)."""
    s = active_open(variant)
    s.close()
    s.peer.expect_nothing()
    s.expect_gone()
    s.harness.advance(10 * variant.initial_rto)
    s.peer.expect_nothing()


def test_fin_on_the_syn_ack_path_closes_the_peer_side(variant):
    """The peer's FIN right after the handshake: our ACK of it, CLOSE-WAIT."""
    s = established_active(variant)
    s.send(FIN | ACK)
    s.expect_ack()
    s.expect_state(TcpState.CLOSE_WAIT)
