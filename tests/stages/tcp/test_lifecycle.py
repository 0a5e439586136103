"""Opening and closing: handshakes (active, passive, simultaneous), half-close, simultaneous
close, abort, limits on listeners, retries, options negotiated on the SYNs, wraparound, ICMP."""

import errno
from ipaddress import IPv4Address

from netstack.stages.tcp import TcpConfig, TcpSocketOptions, TcpState
from netstack.wire import icmp as wire_icmp
from netstack.wire.ipv4 import PROTO_TCP, IPv4Header
from netstack.wire.tcp import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_PSH,
    FLAG_RST,
    FLAG_SYN,
    MssOption,
    WindowScaleOption,
)

from .states import PEER_ISN, STACK_ISN, established, listen, syn_sent
from .support import A_IP, B_IP, PEER_PORT, Link, isn_hook, make_peer, two_stacks

ACK, SYN, FIN, RST = FLAG_ACK, FLAG_SYN, FLAG_FIN, FLAG_RST


def connected_pair(config=None, delay=0.005):
    a, b = two_stacks(config)
    link = Link(a, b, delay)
    listener = b.tcp.listen(None, 7, 16)
    client = a.tcp.connect(None, 0, B_IP, 7, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    return a, b, link, client, server


def test_active_and_passive_open_between_two_stacks():
    a, b, link, client, server = connected_pair()
    assert client.state == server.state == TcpState.ESTABLISHED
    assert client.local[1] >= 49152 and server.remote == (A_IP, client.local[1])
    assert a.counters["tcp.conn.established"] == b.counters["tcp.conn.established"] == 1


def test_simultaneous_open():
    a, b = two_stacks()
    link = Link(a, b)
    ca = a.tcp.connect(None, 5000, B_IP, 6000, 0.0)
    cb = b.tcp.connect(None, 6000, A_IP, 5000, 0.0)
    link.run_until(lambda: ca.state == cb.state == TcpState.ESTABLISHED, timeout=5)
    assert a.counters["tcp.conn.simultaneous_open"] == 1
    ca.write_app(b"ping")
    ca.app_did_write(link.now)
    link.run(1)
    assert cb.read_app(10) == b"ping"


def test_half_close_keeps_the_other_direction_open():
    a, b, link, client, server = connected_pair()
    client.shutdown_write(link.now)
    link.run(1)
    assert server.at_eof and server.state == TcpState.CLOSE_WAIT
    assert client.state == TcpState.FIN_WAIT_2
    server.write_app(b"still talking")
    server.app_did_write(link.now)
    link.run(1)
    assert client.read_app(100) == b"still talking"
    server.close(link.now)
    link.run(1)
    assert server.state == TcpState.CLOSED and client.state == TcpState.TIME_WAIT
    link.run(2 * a.tcp.config.msl + 1)
    assert client.state == TcpState.CLOSED
    assert a.tcp.connection_count == b.tcp.connection_count == 0
    assert len(a.timers) == len(b.timers) == 0


def test_simultaneous_close():
    a, b, link, client, server = connected_pair()
    client.close(link.now)
    server.close(link.now)
    link.run(1)
    assert client.state == server.state == TcpState.TIME_WAIT
    link.run(2 * a.tcp.config.msl + 1)
    assert client.state == server.state == TcpState.CLOSED
    assert len(a.timers) == len(b.timers) == 0


def test_abort_sends_rst_and_the_peer_sees_econnreset():
    a, b, link, client, server = connected_pair()
    client.abort(link.now)
    assert client.state == TcpState.CLOSED and a.counters["tcp.tx.rst"] == 1
    link.run(1)
    assert server.state == TcpState.CLOSED and server.error == errno.ECONNRESET


def test_close_with_unread_data_resets():
    s = established()
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, data=b"unread")
    s.conn.close(s.now)
    s.peer.expect(RST | ACK, seq=s.peer_ack)
    assert s.conn.state == TcpState.CLOSED


def test_linger_zero_close_resets():
    s = established()
    s.conn.options.linger_zero = True
    s.conn.close(s.now)
    s.peer.expect(RST | ACK, seq=s.peer_ack)


def test_data_after_close_resets():
    s = established()
    s.conn.close(s.now)
    s.peer.expect(FIN | ACK)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, data=b"too late")
    s.peer.expect(RST | ACK)
    assert s.conn.state == TcpState.CLOSED


def test_syn_queue_is_bounded_and_counts_drops():
    # Without SYN cookies (test_syncookies.py has them), a SYN beyond the queue is dropped.
    s = listen(TcpConfig(syn_queue_limit=4, syncookies=0))
    for port in range(1000, 1010):
        s.peer.port = port
        s.peer.send(SYN, seq=PEER_ISN)
    assert s.tcp.connection_count == 4
    assert len(s.listener.half_open) == 4
    s.harness.expect_counter("tcp.drop.syn_queue_full", 6)
    s.harness.drain()
    # Half-open connections give up after their SYN-ACK retries, silently.
    for _ in range(20):
        s.harness.advance(10)
    assert s.tcp.connection_count == 0 and len(s.harness.stack.timers) == 0


def test_backlog_bounds_the_accept_queue():
    s = listen()
    s.tcp.close_listener(s.listener, s.now)
    s.listener = s.tcp.listen(None, 80, 2)
    for port in range(1000, 1004):
        s.peer.port = port
        s.peer.send(SYN, seq=PEER_ISN)
        if port < 1002:
            s.peer.expect(SYN | ACK)
            s.peer.send(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1)
    s.peer.expect_nothing()
    assert len(s.listener.accept_queue) == 2
    s.harness.expect_counter("tcp.drop.accept_queue_full", 2)


def test_close_listener_resets_unaccepted_connections():
    s = established()
    s.listener.accept_queue.append(s.conn)
    s.tcp.close_listener(s.listener, s.now)
    s.peer.expect(RST | ACK)
    assert s.tcp.connection_count == 0


def test_syn_retries_exhausted_gives_etimedout():
    s = syn_sent(TcpConfig(syn_retries=3, initial_rto=1.0))
    for expected_gap in (1.0, 2.0, 4.0):
        s.harness.advance(expected_gap)
        s.peer.expect(SYN, seq=STACK_ISN)
    s.harness.advance(8.0)
    s.peer.expect_nothing()
    assert s.conn.state == TcpState.CLOSED and s.conn.error == errno.ETIMEDOUT
    assert len(s.harness.stack.timers) == 0


def test_data_retries_exhausted_gives_etimedout():
    s = established(TcpConfig(max_retries=3))
    s.conn.write_app(b"lost")
    s.conn.app_did_write(s.now)
    s.peer.expect(ACK, payload=b"lost")
    for _ in range(3):
        s.harness.advance(s.conn.sender.rto.rto)
        s.peer.expect(ACK, seq=s.peer_ack, payload=b"lost")
    s.harness.advance(s.conn.sender.rto.rto)
    assert s.conn.state == TcpState.CLOSED and s.conn.error == errno.ETIMEDOUT
    s.harness.expect_counter("tcp.tx.retransmits", 3)


def test_mss_is_clamped_to_the_route_mtu():
    h, peer, tcp = make_peer(routes=(("198.51.100.0/24", "192.0.2.1", 1000),))
    conn = tcp.connect(None, 50000, "198.51.100.7", 80, 0.0)
    frame = h.pop_outgoing()
    from netstack.testing import decode_tcp

    seg = decode_tcp(frame)
    assert MssOption(960) in seg.options
    assert conn.our_mss == 960


def test_peer_mss_is_honoured():
    s = syn_sent()
    s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1, options=(MssOption(500),))
    s.peer.expect(ACK)
    s.conn.options.nodelay = True
    s.conn.write_app(b"x" * 1200)
    s.conn.app_did_write(s.now)
    assert [len(s.peer.expect(ACK).payload) for _ in range(3)] == [500, 500, 200]


def test_window_scaling_negotiated_when_both_offer():
    s = syn_sent()
    s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1,
                options=(MssOption(1460), WindowScaleOption(2)), window=1000)
    # Our shift covers the largest buffer autotuning may grow to (4 MB: shift 7).
    s.peer.expect(ACK, window=s.conn.options.rcvbuf >> 7)
    assert s.conn.sender.snd_shift == 2 and s.conn.receiver.window_shift == 7
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1, window=1000)
    assert s.conn.sender.snd_wnd == 4000


def test_window_scaling_off_when_the_peer_does_not_offer():
    s = syn_sent()
    s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1, options=(MssOption(1460),))
    s.peer.expect(ACK, window=65535)
    assert s.conn.sender.snd_shift == 0 and s.conn.receiver.window_shift == 0


def test_passive_open_answers_window_scale_only_if_offered():
    s = listen()
    s.peer.send(SYN, seq=PEER_ISN, options=(MssOption(1460), WindowScaleOption(7)))
    seg = s.peer.expect(SYN | ACK)
    assert WindowScaleOption(7) in seg.options  # covers TcpConfig.rcvbuf_max, 4 MB


def test_sequence_numbers_wrap_around():
    a, b = two_stacks()
    a.tcp.isn_hook = isn_hook(2**32 - 3)
    b.tcp.isn_hook = isn_hook(2**32 - 1000)
    link = Link(a, b)
    listener = b.tcp.listen(None, 7, 4)
    client = a.tcp.connect(None, 0, B_IP, 7, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    data = bytes(range(256)) * 40
    client.write_app(data)
    server.write_app(data)
    client.app_did_write(link.now)
    server.app_did_write(link.now)
    link.run(2)
    assert server.read_app(len(data) + 1) == data
    assert client.read_app(len(data) + 1) == data
    assert client.sender.snd_una.value < 100_000  # it really wrapped


def test_icmp_port_unreachable_refuses_a_syn_sent():
    s = syn_sent()
    tcp_part = s.harness.last_frame[34:]  # the SYN we sent, as the ICMP error would quote it
    quoted = IPv4Header(IPv4Address("192.0.2.2"), s.peer.ip, PROTO_TCP)
    from netstack.stages.icmp import IcmpErrorReport

    report = IcmpErrorReport(s.peer.ip, wire_icmp.TYPE_DEST_UNREACHABLE,
                             wire_icmp.CODE_PORT_UNREACHABLE, 0, quoted, bytes(tcp_part[:8]))
    s.tcp._icmp_error(report, s.now)
    assert s.conn.state == TcpState.CLOSED and s.conn.error == errno.ECONNREFUSED


def test_icmp_host_unreachable_is_soft_when_established():
    s = established()
    quoted = IPv4Header(IPv4Address("192.0.2.2"), s.peer.ip, PROTO_TCP)
    from netstack.stages.icmp import IcmpErrorReport

    payload = (80).to_bytes(2, "big") + PEER_PORT.to_bytes(2, "big") + s.peer_ack.to_bytes(4, "big")
    report = IcmpErrorReport(s.peer.ip, wire_icmp.TYPE_DEST_UNREACHABLE,
                             wire_icmp.CODE_HOST_UNREACHABLE, 0, quoted, payload)
    s.tcp._icmp_error(report, s.now)
    assert s.conn.state == TcpState.ESTABLISHED and s.conn.soft_error == errno.EHOSTUNREACH


def test_many_cycles_leave_nothing_behind():
    a, b = two_stacks(TcpConfig(msl=0.5))
    link = Link(a, b, delay=0.001)
    listener = b.tcp.listen(None, 7, 16)
    baseline_pool = a.pool.available, b.pool.available
    for i in range(50):
        client = a.tcp.connect(None, 0, B_IP, 7, link.now, TcpSocketOptions(nodelay=True))
        link.run_until(lambda: bool(listener.accept_queue))
        server = listener.accept_queue.popleft()
        client.write_app(b"echo %d" % i)
        client.app_did_write(link.now)
        link.run_until(lambda s=server: s.readable > 0)
        server.write_app(server.read_app(100))
        server.app_did_write(link.now)
        link.run_until(lambda c=client: c.readable > 0)
        assert client.read_app(100) == b"echo %d" % i
        client.close(link.now)
        link.run_until(lambda s=server: s.at_eof)
        server.close(link.now)
    link.run(5)
    assert a.tcp.connection_count == b.tcp.connection_count == 0
    assert len(a.timers) == len(b.timers) == 0
    assert (a.pool.available, b.pool.available) == baseline_pool


def _frag_needed(s, seq, mtu):
    from netstack.stages.icmp import IcmpErrorReport

    quoted = IPv4Header(IPv4Address("192.0.2.2"), s.peer.ip, PROTO_TCP)
    payload = (80).to_bytes(2, "big") + PEER_PORT.to_bytes(2, "big") + seq.to_bytes(4, "big")
    return IcmpErrorReport(s.peer.ip, wire_icmp.TYPE_DEST_UNREACHABLE,
                           wire_icmp.CODE_FRAGMENTATION_NEEDED, mtu, quoted, payload)


def test_icmp_fragmentation_needed_lowers_the_mss_and_resends():
    # RFC 1191 §6.3: MTU 1000 on the path -> MSS 960; the dropped segment goes again in pieces.
    s = established()
    s.conn.write_app(bytes(1460))
    s.conn.app_did_write(s.now)
    first = s.peer.expect(ACK | FLAG_PSH, seq=s.peer_ack)
    assert len(first.payload) == 1460
    s.tcp._icmp_error(_frag_needed(s, s.peer_ack, 1000), s.now)
    assert s.conn.sender.mss == 960 and s.conn.soft_error is None
    assert len(s.peer.expect(ACK, seq=s.peer_ack).payload) == 960
    assert len(s.peer.expect(ACK | FLAG_PSH, seq=s.peer_ack + 960).payload) == 500
    assert s.tcp.stack.counters["tcp.rx.path_mtu_lowered"] == 1


def test_icmp_fragmentation_needed_outside_the_flight_is_ignored():
    # RFC 5927 §4.1: an error quoting a sequence number not in flight is dropped and counted.
    s = established()
    s.tcp._icmp_error(_frag_needed(s, s.peer_ack + 50_000, 600), s.now)
    assert s.conn.sender.mss == 1460
    assert s.tcp.stack.counters["tcp.drop.icmp_error_no_connection"] == 1
    s.peer.expect_nothing()
