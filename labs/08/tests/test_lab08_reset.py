"""Lab 8, part 3: RST and RFC 5961 (RFC 9293 §3.5.2, §3.5.3, §3.10.7.4 first, second, fourth
and fifth steps; RFC 5961 §3, §4, §5, §7): a reset in each synchronized state, blind resets
and SYNs answered with a challenge ACK, the application's abort, and segments for a
connection that does not exist (the RST's two forms)."""

from __future__ import annotations

import errno

import pytest
from lab08_bench import (
    ACK,
    FIN,
    MSS,
    RST,
    SYN,
    SYNCHRONIZED,
    active_open,
    close_wait,
    established_active,
    passive_open,
    seq,
)

from netstack.stages.tcp.state import TcpState
from netstack.testing.tcp import SendSegment, tcp_frame
from netstack.wire.tcp import MssOption

RESET_ERROR = {"established": errno.ECONNRESET, "fin_wait_1": errno.ECONNRESET,
               "fin_wait_2": errno.ECONNRESET, "close_wait": errno.ECONNRESET}


@pytest.mark.parametrize("state", list(SYNCHRONIZED))
def test_exact_rst_closes_the_connection(variant, state):
    """In every synchronized state a RST at exactly RCV.NXT deletes the TCB, answers nothing,
    and (where the application may still use it) reports ECONNRESET."""
    s = SYNCHRONIZED[state](variant)
    s.send(RST)
    s.peer.expect_nothing()
    if state in RESET_ERROR:
        s.expect_gone(RESET_ERROR[state], check_error=True)
    else:
        s.expect_gone()


@pytest.mark.parametrize("where", ["below", "above"])
def test_rst_outside_the_window_is_ignored(variant, where):
    """RFC 5961 §3.2: a RST outside the receive window is dropped silently."""
    s = passive_open(variant)
    offset = -100_000 if where == "below" else 10_000_000
    s.send(RST, seq_offset=offset)
    s.peer.expect_nothing()
    s.expect_state(TcpState.ESTABLISHED)


@pytest.mark.parametrize("offset", [1, 1000])
def test_rst_in_the_window_but_not_exact_gets_a_challenge_ack(variant, offset):
    """RFC 5961 §3.2: a RST inside the window but not at RCV.NXT: a challenge ACK (our
    SND.NXT, ACK of RCV.NXT), and the connection lives on."""
    s = passive_open(variant)
    s.send(RST, seq_offset=offset)
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)


def test_exact_rst_after_a_challenge_ack_resets(variant):
    """The genuine peer answers the challenge ACK with a RST at the acknowledged number."""
    s = passive_open(variant)
    s.send(RST, seq_offset=10)
    s.expect_ack()
    s.send(RST)
    s.peer.expect_nothing()
    s.expect_gone(errno.ECONNRESET, check_error=True)


def test_syn_in_established_gets_a_challenge_ack(variant):
    """RFC 5961 §4.2: a SYN on an established connection (in the window or not) is never
    taken as a new connection nor a reset: a challenge ACK, still ESTABLISHED."""
    s = passive_open(variant)
    s.peer.send(SYN, seq=s.peer_next, options=(MssOption(MSS),))
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)


def test_syn_at_the_old_isn_in_established_gets_an_ack(variant):
    """A stale SYN (the peer's ISN, below the window): an ACK, still ESTABLISHED."""
    s = passive_open(variant)
    s.peer.send(SYN, seq=s.peer_isn, options=(MssOption(MSS),))
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)


def test_syn_in_close_wait_gets_a_challenge_ack(variant):
    """RFC 5961 §4.2 holds in every synchronized state: here CLOSE-WAIT."""
    s = close_wait(variant)
    s.peer.send(SYN, seq=s.peer_next, options=(MssOption(MSS),))
    s.expect_ack()
    s.expect_state(TcpState.CLOSE_WAIT)


def test_ack_of_data_never_sent_is_answered_and_dropped(variant):
    """RFC 5961 §5.2 / RFC 9293: an ACK above SND.NXT: our ACK, and the segment's data is
    not taken."""
    s = passive_open(variant)
    s.peer.send(ACK, seq=s.peer_next, ack=seq(s.our_next + 5000), data=b"nope")
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)
    s.expect_true("nothing is readable", lambda: s.conn.readable == 0,
                  "the data of a segment with an unacceptable ACK was delivered")


def test_segment_without_ack_is_dropped(variant):
    """Fifth step: a segment with no ACK bit (and not a RST or SYN) is dropped."""
    s = passive_open(variant)
    s.peer.send(0, seq=s.peer_next, data=b"no ack bit")
    s.harness.advance(0.5)
    s.peer.expect_nothing()
    s.expect_true("nothing is readable", lambda: s.conn.readable == 0,
                  "data without ACK was delivered")


def test_data_outside_the_window_gets_an_ack_and_is_not_delivered(variant):
    """First step: an unacceptable segment with data: an ACK of RCV.NXT, nothing delivered."""
    s = passive_open(variant)
    s.send(ACK, data=b"old", seq_offset=-1000)
    s.expect_ack()
    s.expect_true("nothing is readable", lambda: s.conn.readable == 0,
                  "data outside the window was delivered")


def test_abort_in_established_sends_rst_at_snd_nxt(variant):
    """abort() (SO_LINGER 0): a RST|ACK at our SND.NXT, the TCB is gone."""
    s = passive_open(variant)
    s.abort()
    s.peer.expect(RST | ACK, seq=s.our_next, ack=s.peer_next)
    s.expect_gone()


def test_abort_in_syn_sent_sends_nothing(variant):
    """abort() before the peer answered: it knows nothing of us, so no RST."""
    s = active_open(variant)
    s.abort()
    s.peer.expect_nothing()
    s.expect_gone()


def test_close_with_unread_data_is_an_abort(variant):
    """close() with bytes still unread: a RST (RFC 2525 §2.17), not a FIN."""
    s = passive_open(variant)
    s.send(ACK, data=b"unread")
    s.close()
    s.peer.expect(RST | ACK, seq=s.our_next, ack=s.peer_next)
    s.expect_gone()


def test_segment_with_ack_after_the_connection_is_gone_gets_rst_at_its_ack(variant):
    """The connection closed (LAST-ACK done): a later ACK gets <SEQ=SEG.ACK><CTL=RST>."""
    s = close_wait(variant)
    s.close()
    s.expect_fin()
    s.send(ACK)
    s.expect_gone()
    stray = seq(s.our_next + 17)
    s.peer.send(ACK, seq=s.peer_next, ack=stray, data=b"late")
    s.peer.expect(RST, seq=stray)


def test_segment_without_ack_to_a_closed_port_gets_rst_ack(variant):
    """No ACK bit: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting SYN and FIN."""
    s = established_active(variant)  # no listener on this port
    s.abort()
    s.peer.expect(RST | ACK, seq=s.our_next)
    s.expect_gone()
    s.peer.send(FIN, seq=s.peer_next, data=b"abc")
    s.peer.expect(RST | ACK, seq=0, ack=seq(s.peer_next + 4))


def test_syn_to_a_port_without_listener_gets_rst_ack(variant):
    """A SYN to a port nobody listens on, next to a live connection: RST|ACK of ISN + 1; the
    live connection is untouched."""
    s = passive_open(variant)
    other = (variant.stack_port % 60000) + 1
    frame = tcp_frame(variant.peer_ip, variant.our_ip, variant.peer_port, other, s.peer_isn,
                      0, SYN, src_mac=variant.peer_mac, dst_mac=variant.our_mac)
    s.harness.step(SendSegment(frame))
    s.peer.expect(RST | ACK, seq=0, ack=seq(s.peer_isn + 1), src_port=other)
    s.expect_state(TcpState.ESTABLISHED)


def test_rst_to_a_closed_connection_is_never_answered(variant):
    """A RST for a connection that is gone: nothing (a RST never answers a RST)."""
    s = passive_open(variant)
    s.abort()
    s.peer.expect(RST | ACK, seq=s.our_next)
    s.send(RST)
    s.send(RST | ACK)
    s.peer.expect_nothing()


def test_fin_in_time_wait_only_brings_an_ack(variant):
    """TIME-WAIT answers a retransmitted FIN with an ACK, never a RST."""
    s = SYNCHRONIZED["time_wait"](variant)
    s.peer.send(FIN | ACK, seq=seq(s.peer_next - 1), ack=s.our_next)
    s.expect_ack()
    s.expect_state(TcpState.TIME_WAIT)
