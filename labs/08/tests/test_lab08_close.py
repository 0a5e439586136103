"""Lab 8, part 2: closing (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth step): from each side,
at the same time, half-closed, and TIME-WAIT (its length, a retransmitted FIN inside it, and
a new connection on the same ports after it)."""

from __future__ import annotations

from lab08_bench import (
    ACK,
    FIN,
    MSL,
    MSS,
    SYN,
    close_wait,
    closing,
    fin_wait_1,
    fin_wait_2,
    last_ack,
    passive_open,
    seq,
    time_wait,
)

from netstack.stages.tcp.state import TcpState
from netstack.wire.tcp import MssOption


def test_close_from_our_side_goes_fin_wait_1_then_fin_wait_2(variant):
    """close(): our FIN (FIN-WAIT-1); the peer's ACK of it: FIN-WAIT-2, nothing sent."""
    s = passive_open(variant)
    s.close()
    s.expect_fin()
    s.expect_state(TcpState.FIN_WAIT_1)
    s.send(ACK)
    s.peer.expect_nothing()
    s.expect_state(TcpState.FIN_WAIT_2)


def test_peer_fin_in_fin_wait_2_is_acked_and_enters_time_wait(variant):
    """FIN-WAIT-2 + the peer's FIN: our ACK of it, TIME-WAIT."""
    time_wait(variant)


def test_fin_that_also_acks_our_fin_goes_straight_to_time_wait(variant):
    """FIN-WAIT-1 + a FIN that acknowledges our FIN: TIME-WAIT at once."""
    s = fin_wait_1(variant)
    s.send(FIN | ACK)
    s.expect_ack()
    s.expect_state(TcpState.TIME_WAIT)


def test_close_from_the_peer_side_goes_close_wait_then_last_ack(variant):
    """The peer's FIN: our ACK, CLOSE-WAIT, the application sees end of file; close(): our
    FIN, LAST-ACK; its ACK: the connection is gone (no TIME-WAIT on this side)."""
    s = close_wait(variant)
    s.expect_true("the application sees end of file", lambda: s.conn.at_eof,
                  "at_eof is False after the peer's FIN")
    s.close()
    s.expect_fin()
    s.expect_state(TcpState.LAST_ACK)
    s.send(ACK)
    s.peer.expect_nothing()
    s.expect_gone()


def test_last_ack_retransmits_its_fin_until_acked(variant):
    """LAST-ACK and no ACK: the FIN leaves again after the RTO."""
    s = last_ack(variant)
    s.harness.advance(variant.initial_rto * 1.01)
    s.peer.expect(FIN | ACK, seq=seq(s.our_next - 1), ack=s.peer_next)
    s.send(ACK)
    s.expect_gone()


def test_simultaneous_close_goes_through_closing_to_time_wait(variant):
    """Both FINs cross: CLOSING; the ACK of our FIN: TIME-WAIT (RFC 9293 §3.6, figure 13)."""
    s = closing(variant)
    s.send(ACK)
    s.peer.expect_nothing()
    s.expect_state(TcpState.TIME_WAIT)


def test_fin_wait_1_keeps_retransmitting_its_fin(variant):
    """FIN-WAIT-1 and no ACK: the FIN again after one RTO."""
    s = fin_wait_1(variant)
    s.harness.advance(variant.initial_rto * 1.01)
    s.peer.expect(FIN | ACK, seq=seq(s.our_next - 1), ack=s.peer_next)
    s.expect_state(TcpState.FIN_WAIT_1)


def test_half_close_we_keep_sending_after_the_peer_fin(variant):
    """The peer shut its side (CLOSE-WAIT): our data still flows, then our FIN."""
    s = close_wait(variant)
    s.write(b"late reply")
    s.peer.expect(ACK, seq=s.our_next, ack=s.peer_next, payload=b"late reply")
    s.our_next = seq(s.our_next + 10)
    s.send(ACK)
    s.close()
    s.expect_fin()
    s.send(ACK)
    s.expect_gone()


def test_half_close_we_keep_receiving_after_our_fin(variant):
    """We shut our side (FIN-WAIT-2): the peer's data still arrives and is acknowledged,
    then its FIN ends the connection (TIME-WAIT)."""
    s = fin_wait_2(variant)
    for chunk in (b"more", b"data", b"after your FIN"):
        s.send(ACK, data=chunk)
    s.harness.advance(0.5)
    s.expect_ack()
    assert s.read() == b"moredataafter your FIN", "the data after our FIN was not delivered"
    s.send(FIN | ACK)
    s.expect_ack()
    s.expect_state(TcpState.TIME_WAIT)


def test_fin_with_data_delivers_the_data_then_eof(variant):
    """A FIN carrying the last bytes: one ACK covering bytes and FIN; data, then EOF."""
    s = passive_open(variant)
    s.send(FIN | ACK, data=b"bye")
    s.expect_ack()
    s.expect_state(TcpState.CLOSE_WAIT)
    assert s.read() == b"bye", "the FIN's data did not reach the application"


def test_out_of_order_fin_waits_for_the_missing_bytes(variant):
    """A FIN (with data) after a hole is not processed: a duplicate ACK, still ESTABLISHED;
    the missing bytes arrive: one ACK covering all of it and the FIN, CLOSE-WAIT."""
    s = passive_open(variant)
    s.peer.send(FIN | ACK, seq=seq(s.peer_next + 4), ack=s.our_next, data=b"efgh")
    s.expect_ack()  # a duplicate ACK: the data before it is missing
    s.expect_state(TcpState.ESTABLISHED)
    s.send(ACK, data=b"abcd")
    s.peer_next = seq(s.peer_next + 5)  # the bytes and the FIN held back are now in order
    s.expect_ack()
    s.expect_state(TcpState.CLOSE_WAIT)
    assert s.read() == b"abcdefgh", "the bytes around the hole were not delivered in order"


def test_time_wait_lasts_two_msl(variant):
    """TIME-WAIT holds the connection for 2 x MSL (MSL is 5 s in these tests), then it is
    gone."""
    s = time_wait(variant)
    s.harness.advance(2 * MSL - 0.01)
    s.expect_state(TcpState.TIME_WAIT)
    s.harness.advance(0.01)
    s.expect_gone()


def test_time_wait_acks_a_retransmitted_fin_and_restarts(variant):
    """Our last ACK was lost: the peer's FIN again gets our ACK again, and TIME-WAIT starts
    over from then."""
    s = time_wait(variant)
    s.harness.advance(MSL)
    s.peer.send(FIN | ACK, seq=seq(s.peer_next - 1), ack=s.our_next)
    s.expect_ack()
    s.harness.advance(2 * MSL - 0.01)
    s.expect_state(TcpState.TIME_WAIT)
    s.harness.advance(0.01)
    s.expect_gone()


def test_port_pair_is_reusable_after_time_wait(variant):
    """After TIME-WAIT the same peer port connects again: a fresh SYN-ACK."""
    s = time_wait(variant)
    s.harness.advance(2 * MSL)
    s.expect_gone()
    new_isn = seq(s.peer_isn + 100_000)
    s.peer.send(SYN, seq=new_isn, options=(MssOption(MSS),))
    s.peer.expect(SYN | ACK, ack=seq(new_isn + 1))


def test_new_syn_above_rcv_nxt_ends_time_wait_early(variant):
    """A SYN whose ISN is above the old connection's RCV.NXT ends TIME-WAIT at once (RFC
    1122 §4.2.2.13): the listener answers with a SYN-ACK."""
    s = time_wait(variant)
    new_isn = seq(s.peer_next + 100_000)
    s.peer.send(SYN, seq=new_isn, options=(MssOption(MSS),))
    s.peer.expect(SYN | ACK, ack=seq(new_isn + 1))
    s.expect_gone()


def test_orphaned_fin_wait_2_times_out(variant):
    """Orphaned FIN-WAIT-2 (the application closed): the connection still ends after the
    FIN-WAIT-2 timeout, without waiting forever for the peer's FIN."""
    s = passive_open(variant, fin_wait_2_timeout=3.0)
    s.close()
    s.expect_fin()
    s.send(ACK)
    s.expect_state(TcpState.FIN_WAIT_2)
    s.harness.advance(3.0)
    s.expect_gone()
