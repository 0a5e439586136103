"""Every state against SYN, ACK, FIN, RST, data, an out-of-window segment and a duplicate
(RFC 9293 §3.10.7), grouped by state as smoltcp's tests are."""

import errno

import pytest

from netstack.stages.tcp import TcpState
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH, FLAG_RST, FLAG_SYN, MssOption

from .states import PEER_ISN, SETUPS, STACK_ISN, Scene, listen, syn_received, syn_sent

ACK, SYN, FIN, RST = FLAG_ACK, FLAG_SYN, FLAG_FIN, FLAG_RST
SYNCHRONIZED = [
    TcpState.ESTABLISHED,
    TcpState.FIN_WAIT_1,
    TcpState.FIN_WAIT_2,
    TcpState.CLOSE_WAIT,
    TcpState.CLOSING,
    TcpState.LAST_ACK,
    TcpState.TIME_WAIT,
]
OUR_FIN_UNACKED = {TcpState.FIN_WAIT_1, TcpState.CLOSING, TcpState.LAST_ACK}
PEER_FIN_RECEIVED = {TcpState.CLOSE_WAIT, TcpState.CLOSING, TcpState.LAST_ACK, TcpState.TIME_WAIT}


def current_ack(s: Scene, state: TcpState) -> int:
    """An ACK that acknowledges nothing new (our FIN stays unacknowledged where it is)."""
    return s.peer_ack - 1 if state in OUR_FIN_UNACKED else s.peer_ack


# --- CLOSED: no connection, no listener (RFC 9293 §3.10.7.1) --------------------------------


class TestClosed:
    def test_syn_gets_rst_ack(self):
        s = SETUPS[TcpState.CLOSED]()
        s.peer.send(SYN, seq=PEER_ISN)
        s.peer.expect(RST | ACK, seq=0, ack=PEER_ISN + 1)
        s.harness.expect_counter("tcp.drop.no_socket", 1)

    def test_ack_gets_rst_at_its_ack(self):
        s = SETUPS[TcpState.CLOSED]()
        s.peer.send(ACK, seq=PEER_ISN, ack=777)
        s.peer.expect(RST, seq=777)

    def test_fin_and_data_are_acknowledged_by_the_rst(self):
        s = SETUPS[TcpState.CLOSED]()
        s.peer.send(FIN, seq=PEER_ISN, data=b"abc")
        s.peer.expect(RST | ACK, seq=0, ack=PEER_ISN + 4)

    def test_rst_is_never_answered(self):
        s = SETUPS[TcpState.CLOSED]()
        s.peer.send(RST, seq=PEER_ISN)
        s.peer.send(RST | ACK, seq=PEER_ISN, ack=5)
        s.peer.expect_nothing()

    def test_bad_checksum_is_a_counted_drop(self):
        s = SETUPS[TcpState.CLOSED]()
        s.peer.send(SYN, seq=PEER_ISN, bad_checksum=True)
        s.peer.expect_nothing()
        s.harness.expect_counter("tcp.drop.bad_checksum", 1)

    def test_bad_data_offset_is_a_counted_drop(self):
        s = SETUPS[TcpState.CLOSED]()
        frame = bytearray(s.peer.frame(SYN, seq=PEER_ISN))
        tcp_start = 14 + 20
        frame[tcp_start + 12] = 0xF0  # data offset 15 words: longer than the segment
        # The checksum no longer matters: the offset is checked first.
        s.harness.receive(bytes(frame))
        s.peer.expect_nothing()
        s.harness.expect_counter("tcp.drop.bad_data_offset", 1)


# --- LISTEN (RFC 9293 §3.10.7.2) -------------------------------------------------------------


class TestListen:
    def test_syn_gets_syn_ack_with_our_options(self):
        s = listen()
        s.peer.send(SYN, seq=PEER_ISN, options=(MssOption(1460),))
        seg = s.peer.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)
        assert seg.options == (MssOption(1460),)  # no window scale: the peer sent none

    def test_ack_gets_rst(self):
        s = listen()
        s.peer.send(ACK, seq=PEER_ISN, ack=4242)
        s.peer.expect(RST, seq=4242)
        assert s.tcp.connection_count == 0

    def test_rst_is_ignored(self):
        s = listen()
        s.peer.send(RST, seq=PEER_ISN)
        s.peer.expect_nothing()
        s.harness.expect_counter("tcp.drop.rst_to_listener", 1)

    def test_fin_without_syn_is_dropped(self):
        s = listen()
        s.peer.send(FIN, seq=PEER_ISN)
        s.peer.expect_nothing()
        s.harness.expect_counter("tcp.drop.not_syn", 1)

    def test_data_before_the_handshake_is_dropped(self):
        s = listen()
        s.peer.send(FLAG_PSH, seq=PEER_ISN, data=b"GET / HTTP/1.0\r\n")
        s.peer.expect_nothing()
        assert s.tcp.connection_count == 0

    def test_syn_with_every_flag_set_is_ignored(self):
        s = listen()
        s.peer.send(0xFF, seq=PEER_ISN, ack=1, data=b"x")
        s.peer.expect_nothing()
        assert s.tcp.connection_count == 0

    def test_syn_fin_is_dropped(self):
        s = listen()
        s.peer.send(SYN | FIN, seq=PEER_ISN)
        s.peer.expect_nothing()
        s.harness.expect_counter("tcp.drop.syn_fin", 1)

    def test_duplicate_syn_gets_the_same_syn_ack_and_one_connection(self):
        s = listen()
        s.peer.send(SYN, seq=PEER_ISN)
        s.peer.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)
        s.peer.send(SYN, seq=PEER_ISN)
        s.peer.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)
        assert s.tcp.connection_count == 1

    def test_data_on_a_syn_is_not_acknowledged(self):
        s = listen()
        s.peer.send(SYN, seq=PEER_ISN, data=b"early")
        s.peer.expect(SYN | ACK, ack=PEER_ISN + 1)


# --- SYN-SENT (RFC 9293 §3.10.7.3) -----------------------------------------------------------


class TestSynSent:
    def test_syn_ack_establishes(self):
        s = syn_sent()
        s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1, options=(MssOption(1000),))
        s.peer.expect(ACK, seq=STACK_ISN + 1, ack=PEER_ISN + 1)
        assert s.conn.state == TcpState.ESTABLISHED
        assert s.conn.sender.mss == 1000

    def test_syn_alone_is_a_simultaneous_open(self):
        s = syn_sent()
        s.peer.send(SYN, seq=PEER_ISN)
        s.peer.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)
        assert s.conn.state == TcpState.SYN_RECEIVED

    def test_ack_for_something_else_gets_rst(self):
        s = syn_sent()
        s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 77)
        s.peer.expect(RST, seq=STACK_ISN + 77)
        assert s.conn.state == TcpState.SYN_SENT

    def test_rst_with_acceptable_ack_refuses(self):
        s = syn_sent()
        s.peer.send(RST | ACK, seq=0, ack=STACK_ISN + 1)
        s.peer.expect_nothing()
        assert s.conn.state == TcpState.CLOSED
        assert s.conn.error == errno.ECONNREFUSED
        assert s.tcp.connection_count == 0

    def test_rst_without_ack_is_ignored(self):
        s = syn_sent()
        s.peer.send(RST, seq=PEER_ISN)
        s.peer.expect_nothing()
        assert s.conn.state == TcpState.SYN_SENT

    def test_fin_or_data_without_syn_is_dropped(self):
        s = syn_sent()
        s.peer.send(FIN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1)
        s.peer.send(ACK, seq=PEER_ISN, ack=STACK_ISN + 1, data=b"data")
        s.peer.expect_nothing()
        assert s.conn.state == TcpState.SYN_SENT

    def test_duplicate_syn_ack_after_establishing_gets_an_ack(self):
        s = syn_sent()
        s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1)
        s.peer.expect(ACK, ack=PEER_ISN + 1)
        s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1)
        s.peer.expect(ACK, ack=PEER_ISN + 1)
        assert s.conn.state == TcpState.ESTABLISHED

    def test_syn_ack_with_data_delivers_it(self):
        s = syn_sent()
        s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1, data=b"banner")
        s.peer.expect(ACK, ack=PEER_ISN + 1)
        assert s.conn.read_app(100) == b"banner"


# --- SYN-RECEIVED ---------------------------------------------------------------------------


class TestSynReceived:
    def test_retransmitted_syn_gets_syn_ack_again(self):
        s = syn_received()
        s.peer.send(SYN, seq=PEER_ISN)
        s.peer.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)

    def test_other_syn_in_window_returns_to_listen(self):
        s = syn_received()
        s.peer.send(SYN, seq=PEER_ISN + 1)
        s.peer.expect_nothing()
        assert s.tcp.connection_count == 0
        assert s.listener.state == TcpState.LISTEN

    def test_unacceptable_ack_gets_rst(self):
        s = syn_received()
        s.peer.send(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 50)
        s.peer.expect(RST, seq=STACK_ISN + 50)
        assert s.conn.state == TcpState.SYN_RECEIVED

    def test_fin_with_the_ack_establishes_then_closes_the_peer_side(self):
        s = syn_received()
        s.peer.send(FIN | ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1)
        s.peer.expect(ACK, ack=PEER_ISN + 2)
        assert s.conn.state == TcpState.CLOSE_WAIT
        assert s.listener.accept_queue[0] is s.conn

    def test_exact_rst_forgets_the_half_open_connection(self):
        s = syn_received()
        s.peer.send(RST, seq=PEER_ISN + 1)
        s.peer.expect_nothing()
        assert s.tcp.connection_count == 0
        assert not s.listener.accept_queue and not s.listener.half_open

    def test_data_with_the_ack_is_delivered(self):
        s = syn_received()
        s.peer.send(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1, data=b"hello")
        assert s.conn.state == TcpState.ESTABLISHED
        assert s.conn.read_app(10) == b"hello"

    def test_out_of_window_segment_gets_an_ack(self):
        s = syn_received()
        s.peer.send(ACK, seq=PEER_ISN + 10**6, ack=STACK_ISN + 1, data=b"x")
        s.peer.expect(ACK, seq=STACK_ISN + 1, ack=PEER_ISN + 1)
        assert s.conn.state == TcpState.SYN_RECEIVED


# --- the synchronized states (RFC 9293 §3.10.7.4) ---------------------------------------------


@pytest.mark.parametrize("state", SYNCHRONIZED, ids=str)
class TestSynchronized:
    def test_syn_in_window_gets_a_challenge_ack(self, state):
        s = SETUPS[state]()
        s.peer.send(SYN, seq=s.peer_seq)
        s.peer.expect(ACK, seq=s.peer_ack, ack=s.peer_seq)
        assert s.conn.state == state
        s.harness.expect_counter("tcp.tx.challenge_ack", 1)

    def test_exact_rst_closes(self, state):
        s = SETUPS[state]()
        s.peer.send(RST, seq=s.peer_seq)
        s.peer.expect_nothing()
        assert s.conn.state == TcpState.CLOSED
        expected = None if state in (TcpState.CLOSING, TcpState.LAST_ACK, TcpState.TIME_WAIT) \
            else errno.ECONNRESET
        assert s.conn.error == expected
        assert s.tcp.connection_count == 0
        assert len(s.harness.stack.timers) == 0

    def test_rst_in_window_but_not_exact_gets_a_challenge_ack(self, state):
        s = SETUPS[state]()
        s.peer.send(RST, seq=s.peer_seq + 100)
        s.peer.expect(ACK, ack=s.peer_seq)
        assert s.conn.state == state

    def test_rst_outside_the_window_is_dropped_silently(self, state):
        s = SETUPS[state]()
        s.peer.send(RST, seq=s.peer_seq + 10**7)
        s.peer.expect_nothing()
        assert s.conn.state == state

    def test_duplicate_ack_changes_nothing(self, state):
        s = SETUPS[state]()
        s.peer.send(ACK, seq=s.peer_seq, ack=current_ack(s, state))
        s.peer.expect_nothing()
        assert s.conn.state == state

    def test_ack_of_unsent_data_is_answered_and_dropped(self, state):
        s = SETUPS[state]()
        s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack + 1000)
        s.peer.expect(ACK, ack=s.peer_seq)
        assert s.conn.state == state
        s.harness.expect_counter("tcp.drop.ack_unsent", 1)

    def test_fin(self, state):
        s = SETUPS[state]()
        if state in PEER_FIN_RECEIVED:
            # A retransmission of the peer's FIN: acknowledged again, nothing changes.
            s.peer.send(FIN | ACK, seq=s.peer_seq - 1, ack=current_ack(s, state))
            s.peer.expect(ACK, ack=s.peer_seq)
            assert s.conn.state == state
            return
        s.peer.send(FIN | ACK, seq=s.peer_seq, ack=current_ack(s, state))
        s.peer.expect(ACK, ack=s.peer_seq + 1)
        after = {
            TcpState.ESTABLISHED: TcpState.CLOSE_WAIT,
            TcpState.FIN_WAIT_1: TcpState.CLOSING,
            TcpState.FIN_WAIT_2: TcpState.TIME_WAIT,
        }
        assert s.conn.state == after[state]
        assert s.conn.at_eof

    def test_data(self, state):
        s = SETUPS[state]()
        s.peer.send(ACK, seq=s.peer_seq, ack=current_ack(s, state), data=b"hello")
        if state in PEER_FIN_RECEIVED:
            # Data after the peer's FIN cannot be: it is ignored and acknowledged.
            s.peer.expect(ACK, ack=s.peer_seq)
            assert s.conn.readable == 0
        else:
            s.peer.expect_nothing()  # the ACK is delayed
            assert s.conn.read_app(100) == b"hello"
            s.harness.advance(s.tcp.config.delayed_ack)
            s.peer.expect(ACK, ack=s.peer_seq + 5)
        assert s.conn.state == state

    def test_out_of_window_segment_gets_an_ack(self, state):
        s = SETUPS[state]()
        s.peer.send(ACK, seq=s.peer_seq + 10**7, ack=current_ack(s, state), data=b"far")
        s.peer.expect(ACK, ack=s.peer_seq)
        assert s.conn.state == state
        assert s.conn.readable == 0

    def test_duplicate_segment_gets_an_ack(self, state):
        s = SETUPS[state]()
        s.peer.send(ACK, seq=s.peer_seq - 1, ack=current_ack(s, state), data=b"z")
        s.peer.expect(ACK, ack=s.peer_seq)
        assert s.conn.state == state


class TestClosingStatesFinish:
    def test_closing_goes_to_time_wait_when_our_fin_is_acked(self):
        s = SETUPS[TcpState.CLOSING]()
        s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
        s.peer.expect_nothing()
        assert s.conn.state == TcpState.TIME_WAIT

    def test_last_ack_closes_when_our_fin_is_acked(self):
        s = SETUPS[TcpState.LAST_ACK]()
        s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
        s.peer.expect_nothing()
        assert s.conn.state == TcpState.CLOSED
        assert s.tcp.connection_count == 0
        assert len(s.harness.stack.timers) == 0

    def test_time_wait_lasts_two_msl(self):
        s = SETUPS[TcpState.TIME_WAIT]()
        msl = s.tcp.config.msl
        s.harness.advance(2 * msl - 0.1)
        assert s.conn.state == TcpState.TIME_WAIT
        s.harness.advance(0.2)
        assert s.conn.state == TcpState.CLOSED
        assert s.tcp.connection_count == 0
        assert len(s.harness.stack.timers) == 0

    def test_a_retransmitted_fin_restarts_time_wait(self):
        s = SETUPS[TcpState.TIME_WAIT]()
        msl = s.tcp.config.msl
        s.harness.advance(msl)
        s.peer.send(FIN | ACK, seq=s.peer_seq - 1, ack=s.peer_ack)
        s.peer.expect(ACK, ack=s.peer_seq)
        s.harness.advance(2 * msl - 0.1)
        assert s.conn.state == TcpState.TIME_WAIT
        s.harness.advance(0.2)
        assert s.conn.state == TcpState.CLOSED

    def test_a_new_syn_reopens_a_time_wait_four_tuple(self):
        s = SETUPS[TcpState.TIME_WAIT]()
        s.peer.send(SYN, seq=s.peer_seq + 100_000)
        s.peer.expect(SYN | ACK, ack=s.peer_seq + 100_001)
        (conn,) = s.tcp.connections()
        assert conn is not s.conn and conn.state == TcpState.SYN_RECEIVED
