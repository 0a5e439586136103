"""Data transfer: delayed ACKs, Nagle, reassembly, the window, zero-window probes,
keepalive, retransmission (timeout and fast), and RFC 5961's challenge ACKs."""

import errno

from netstack.stages.tcp import TcpConfig, TcpState
from netstack.wire.tcp import FLAG_ACK, FLAG_RST, FLAG_SYN

from .states import established

ACK, RST, SYN = FLAG_ACK, FLAG_RST, FLAG_SYN
MSS = 1460


def send_data(s, data, offset=0, ack=None):
    s.peer.send(ACK, seq=s.peer_seq + offset, ack=s.peer_ack if ack is None else ack, data=data)


# --- delayed ACK (RFC 1122 §4.2.3.2) ----------------------------------------------------------


def test_delayed_ack_waits_at_most_the_configured_time():
    s = established(TcpConfig(delayed_ack=0.2))
    send_data(s, b"a" * 100)
    s.peer.expect_nothing()
    s.harness.advance(0.19)
    s.peer.expect_nothing()
    s.harness.advance(0.01)
    s.peer.expect(ACK, ack=s.peer_seq + 100)


def test_every_second_full_sized_segment_is_acked_at_once():
    s = established(TcpConfig(delayed_ack=0.2))
    send_data(s, b"a" * MSS)
    s.peer.expect_nothing()
    send_data(s, b"b" * MSS, offset=MSS)
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS)


def test_data_we_send_carries_the_pending_ack():
    s = established(TcpConfig(delayed_ack=0.2))
    send_data(s, b"question")
    s.conn.write_app(b"answer")
    s.conn.app_did_write(s.now)
    s.peer.expect(ACK, ack=s.peer_seq + 8, payload=b"answer")
    s.peer.send(ACK, seq=s.peer_seq + 8, ack=s.peer_ack + 6)
    s.harness.advance(0.3)
    s.peer.expect_nothing()


# --- out of order (RFC 5681 §4.2, RFC 9293 §3.10.7.4) ------------------------------------------


def test_out_of_order_segments_get_immediate_duplicate_acks_and_are_reassembled():
    s = established()
    send_data(s, b"CCCC", offset=8)
    s.peer.expect(ACK, ack=s.peer_seq)
    send_data(s, b"BBBB", offset=4)
    s.peer.expect(ACK, ack=s.peer_seq)
    assert s.conn.readable == 0
    send_data(s, b"AAAA")
    s.peer.expect(ACK, ack=s.peer_seq + 12)  # the hole is filled: ACK at once
    assert s.conn.read_app(100) == b"AAAABBBBCCCC"


def test_overlapping_retransmissions_keep_the_bytes_received_first():
    s = established()
    send_data(s, b"wxyz", offset=4)  # out of order
    send_data(s, b"12345678", offset=2)  # overlaps it with other bytes
    send_data(s, b"ab")
    s.harness.drain()
    assert s.conn.read_app(100) == b"ab12wxyz78"
    send_data(s, b"QQQQQQQQQQ")  # all old: nothing changes
    assert s.conn.read_app(100) == b""


def test_data_beyond_the_window_is_trimmed():
    s = established(TcpConfig(rcvbuf=1000, window_scaling=False))
    send_data(s, b"x" * 1400)
    assert s.conn.readable == 1000
    s.peer.expect(ACK, ack=s.peer_seq + 1000, window=0)


# --- the receive window -------------------------------------------------------------------------


def test_window_is_free_buffer_space_and_reopens_after_a_read():
    s = established(TcpConfig(rcvbuf=4 * MSS, window_scaling=False))
    for i in range(4):
        send_data(s, b"d" * MSS, offset=i * MSS)
    s.harness.drain()
    s.harness.advance(1)
    s.harness.drain()
    assert s.conn.receiver.rcv_wnd == 0
    send_data(s, b"z", offset=4 * MSS)  # a probe into the zero window
    s.peer.expect(ACK, ack=s.peer_seq + 4 * MSS, window=0)
    s.conn.read_app(100)  # too little to be worth a window update (receiver SWS)
    s.conn.app_did_read(s.now)
    s.peer.expect_nothing()
    s.conn.read_app(10 * MSS)
    s.conn.app_did_read(s.now)
    s.peer.expect(ACK, ack=s.peer_seq + 4 * MSS, window=4 * MSS)


def test_a_read_leaving_the_window_more_than_half_open_is_announced_by_the_next_ack():
    # RFC 1122 §4.2.3.3 says how far the window may open, not that each opening must be
    # announced; like Linux, a read sends no ACK of its own while the peer still has more
    # than half the largest window to send into. Its next data brings the ACK that does.
    s = established(TcpConfig(rcvbuf=8 * MSS, window_scaling=False))
    send_data(s, b"a" * MSS)
    send_data(s, b"b" * MSS, offset=MSS)
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS, window=6 * MSS)
    assert s.conn.read_app(2 * MSS) == b"a" * MSS + b"b" * MSS
    s.conn.app_did_read(s.now)
    s.peer.expect_nothing()
    send_data(s, b"c" * MSS, offset=2 * MSS)
    send_data(s, b"d" * MSS, offset=3 * MSS)
    s.peer.expect(ACK, ack=s.peer_seq + 4 * MSS, window=6 * MSS)  # the read's 2 MSS


def test_a_read_that_doubles_a_window_down_to_half_is_announced_at_once():
    s = established(TcpConfig(rcvbuf=8 * MSS, window_scaling=False))
    for i in range(4):
        send_data(s, b"d" * MSS, offset=i * MSS)
    s.peer.expect(ACK, ack=s.peer_seq + 2 * MSS, window=6 * MSS)
    s.peer.expect(ACK, ack=s.peer_seq + 4 * MSS, window=4 * MSS)  # half the buffer
    s.conn.read_app(MSS)  # the window would grow to 5 MSS: not yet twice the 4 it is
    s.conn.app_did_read(s.now)
    s.peer.expect_nothing()
    s.conn.read_app(3 * MSS)
    s.conn.app_did_read(s.now)
    s.peer.expect(ACK, ack=s.peer_seq + 4 * MSS, window=8 * MSS)


def test_right_edge_never_moves_left():
    s = established(TcpConfig(rcvbuf=8 * MSS, window_scaling=False))
    edges = []
    for i in range(6):
        send_data(s, b"d" * 1000, offset=i * 1000)
        edges.append(s.conn.receiver.rcv_adv)
        s.harness.drain()
    assert all(b >= a for a, b in zip(edges, edges[1:], strict=False))


# --- Nagle (RFC 9293 §3.7.4) ---------------------------------------------------------------------


def test_nagle_holds_small_segments_while_data_is_unacknowledged():
    s = established()
    s.conn.write_app(b"a")
    s.conn.app_did_write(s.now)
    s.peer.expect(ACK, payload=b"a")
    s.conn.write_app(b"b")
    s.conn.app_did_write(s.now)
    s.conn.write_app(b"c")
    s.conn.app_did_write(s.now)
    s.peer.expect_nothing()
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack + 1)
    s.peer.expect(ACK, seq=s.peer_ack + 1, payload=b"bc")


def test_nodelay_sends_at_once():
    s = established()
    s.conn.options.nodelay = True
    for byte in (b"a", b"b", b"c"):
        s.conn.write_app(byte)
        s.conn.app_did_write(s.now)
        s.peer.expect(ACK, payload=byte)


# --- zero window and persist (RFC 9293 §3.8.6.1) -----------------------------------------------


def test_zero_window_is_probed_with_backoff_until_it_opens():
    s = established()
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, window=0)
    s.conn.write_app(b"waiting data")
    s.conn.app_did_write(s.now)
    s.peer.expect_nothing()
    times = []
    start = s.now
    for _ in range(400):
        s.harness.advance(0.05)
        frames = s.harness.drain()
        if frames:
            times.append(round(s.now - start, 2))
            # The peer answers every probe: still no room.
            s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, window=0)
            s.harness.drain()
    assert len(times) >= 4
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(later >= earlier for earlier, later in zip(gaps, gaps[1:], strict=False))
    assert s.conn.state == TcpState.ESTABLISHED  # a peer that answers is never dropped
    assert s.harness.stack.counters["tcp.tx.window_probe"] >= 4
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, window=65535)
    seg = s.peer.expect(ACK)
    assert seg.payload.endswith(b"data")


# --- keepalive (RFC 1122 §4.2.3.6) ---------------------------------------------------------------


def test_keepalive_probes_and_gives_up_with_etimedout():
    s = established()
    o = s.conn.options
    o.keepalive, o.keepalive_idle, o.keepalive_interval, o.keepalive_count = True, 10.0, 2.0, 3
    s.conn.options_changed(s.now)
    s.harness.advance(9.9)
    s.peer.expect_nothing()
    s.harness.advance(0.1)
    s.peer.expect(ACK, seq=s.peer_ack - 1, ack=s.peer_seq, payload=b"")
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)  # the peer is alive
    s.harness.advance(2.0)
    s.peer.expect_nothing()
    s.harness.advance(8.0)
    for _ in range(3):
        s.peer.expect(ACK, seq=s.peer_ack - 1)
        s.harness.advance(2.0)
    s.peer.expect(RST | ACK)
    assert s.conn.state == TcpState.CLOSED and s.conn.error == errno.ETIMEDOUT


# --- retransmission (RFC 6298) and fast retransmit (RFC 5681, RFC 6582) --------------------------


def test_timeout_retransmits_with_backoff_and_karn():
    s = established()
    rto = s.conn.sender.rto
    assert rto.rto == 0.2  # the handshake's RTT sample was 0: the minimum RTO applies
    s.conn.write_app(b"lost")
    s.conn.app_did_write(s.now)
    s.peer.expect(ACK, payload=b"lost")
    s.harness.advance(0.2)
    s.peer.expect(ACK, seq=s.peer_ack, payload=b"lost")
    assert rto.rto == 0.4
    s.harness.advance(0.4)
    s.peer.expect(ACK, seq=s.peer_ack, payload=b"lost")
    assert rto.rto == 0.8
    srtt = rto.srtt
    s.harness.advance(0.1)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack + 4)
    assert rto.srtt == srtt and rto.rto == 0.8  # Karn: no sample from a retransmission
    s.conn.write_app(b"fresh")
    s.conn.app_did_write(s.now)
    s.peer.expect(ACK, payload=b"fresh")
    s.harness.advance(0.05)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack + 9)
    assert rto.srtt != srtt and rto.rto == 0.2  # a valid sample ends the backoff


def test_fast_retransmit_and_recovery():
    s = established()
    s.conn.options.nodelay = True
    s.conn.write_app(b"".join(bytes([65 + i]) * MSS for i in range(8)))
    s.conn.app_did_write(s.now)
    segments = [s.peer.expect(ACK) for _ in range(8)]
    assert [seg.seq for seg in segments] == [s.peer_ack + i * MSS for i in range(8)]
    cc = s.conn.sender.cc
    # Segment 0 is lost: segments 1, 2 and 3 each bring a duplicate ACK.
    for _ in range(3):
        s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
    seg = s.peer.expect(ACK, seq=s.peer_ack)
    assert seg.payload == b"A" * MSS
    assert cc.in_recovery and cc.ssthresh == max(8 * MSS // 2, 2 * MSS)
    s.harness.expect_counter("tcp.tx.fast_retransmit", 1)
    # The retransmission fills the hole: everything is acknowledged, recovery ends.
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack + 8 * MSS)
    assert not cc.in_recovery and cc.cwnd <= cc.ssthresh


def test_partial_ack_retransmits_the_next_hole():
    s = established()
    s.conn.options.nodelay = True
    s.conn.write_app(b"x" * 6 * MSS)
    s.conn.app_did_write(s.now)
    s.harness.drain()
    for _ in range(3):
        s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack)
    s.peer.expect(ACK, seq=s.peer_ack)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack + 2 * MSS)  # segment 2 was lost too
    s.peer.expect(ACK, seq=s.peer_ack + 2 * MSS)
    assert s.conn.sender.cc.in_recovery


# --- RFC 5961 ---------------------------------------------------------------------------------------


def test_challenge_acks_are_rate_limited():
    s = established(TcpConfig(challenge_ack_limit=5))
    for i in range(20):
        s.peer.send(RST, seq=s.peer_seq + 1 + i)
    assert len(s.harness.drain()) == 5
    s.harness.expect_counter("tcp.drop.challenge_ack_limited", 15)
    s.harness.advance(1.0)
    s.peer.send(SYN, seq=s.peer_seq)
    s.peer.expect(ACK, ack=s.peer_seq)
    assert s.conn.state == TcpState.ESTABLISHED


def test_ack_too_old_gets_a_challenge_ack_and_is_dropped():
    s = established()
    old = s.peer_ack - 10**6
    s.peer.send(ACK, seq=s.peer_seq, ack=old, data=b"spoofed")
    s.peer.expect(ACK, ack=s.peer_seq)
    assert s.conn.readable == 0
    s.harness.expect_counter("tcp.drop.ack_too_old", 1)


def test_rst_flood_does_not_break_the_connection():
    s = established()
    for i in range(2000):
        s.peer.send(RST, seq=s.peer_seq + 1 + 37 * i)
    s.harness.drain()
    assert s.conn.state == TcpState.ESTABLISHED
    send_data(s, b"still here")
    assert s.conn.read_app(100) == b"still here"
