"""SYN cookies at the listener (RFC 4987 §3.6; listener.py, syncookie.py): with its SYN
queue full (or always, syncookies=2) a listener answers a SYN with a cookie SYN-ACK and
keeps nothing; the ACK that brings a valid cookie back becomes an ESTABLISHED connection
with the SYN's options; a wrong or stale cookie is rejected with a RST."""

import dataclasses
from ipaddress import IPv4Address

from netstack.stages.tcp import TcpConfig, TcpState
from netstack.stages.tcp.syncookie import COUNTER_PERIOD, MSS_TABLE
from netstack.testing.tcp import TcpSegment
from netstack.wire.tcp import (
    FLAG_ACK,
    FLAG_RST,
    FLAG_SYN,
    NOP,
    SACK_PERMITTED,
    MssOption,
    SackOption,
    TcpOption,
    TimestampOption,
    WindowScaleOption,
)

from .states import PEER_ISN, STACK_ISN, Scene, listen
from .support import B_IP, Link, two_stacks

ACK, SYN, RST = FLAG_ACK, FLAG_SYN, FLAG_RST
PEER_TSVAL = 700_000
FULL_OFFER = (MssOption(1400), SACK_PERMITTED, TimestampOption(PEER_TSVAL, 0), NOP,
              WindowScaleOption(7))


def counter(s: Scene, name: str) -> int:
    return s.harness.stack.counters[name] if name in s.harness.stack.counters else 0


def fill_syn_queue(s: Scene) -> None:
    """Half-open connections from other ports until the SYN queue is full."""
    for port in range(1000, 1000 + s.tcp.config.syn_queue_limit):
        s.peer.port = port
        s.peer.send(SYN, seq=PEER_ISN)
        s.peer.expect(SYN | ACK, seq=STACK_ISN)  # a real one: the fixed test ISN
    s.peer.port = 40000


def timestamp_of(segment: TcpSegment) -> TimestampOption:
    return next(o for o in segment.options if isinstance(o, TimestampOption))


def cookie_handshake(s: Scene, offer: tuple[TcpOption, ...] = FULL_OFFER) -> TcpSegment:
    """The peer's SYN, answered with a cookie (its ISS is not the test's fixed ISN)."""
    s.peer.send(SYN, seq=PEER_ISN, options=offer)
    syn_ack = s.peer.expect(SYN | ACK, ack=PEER_ISN + 1)
    assert syn_ack.seq != STACK_ISN, "a half-open connection answered, not a cookie"
    return syn_ack


def ack_options(syn_ack: TcpSegment, tsval: int = PEER_TSVAL + 1) -> tuple[TcpOption, ...]:
    return (NOP, NOP, TimestampOption(tsval, timestamp_of(syn_ack).tsval))


def test_a_full_syn_queue_answers_with_a_cookie_and_keeps_nothing():
    s = listen(TcpConfig(syn_queue_limit=2))
    fill_syn_queue(s)
    timers_before = len(s.harness.stack.timers)
    cookie_handshake(s)
    assert s.tcp.connection_count == 2 and len(s.listener.half_open) == 2
    assert len(s.harness.stack.timers) == timers_before, "a cookie arms no timer"
    assert counter(s, "tcp.syncookies.sent") == 1
    assert counter(s, "tcp.drop.syn_queue_full") == 0
    assert counter(s, "tcp.conn.passive_open") == 2


def test_the_cookie_syn_ack_offers_what_the_syn_offered():
    s = listen(TcpConfig(syncookies=2))
    syn_ack = cookie_handshake(s)
    kinds = [type(o) for o in syn_ack.options]
    assert MssOption in kinds and WindowScaleOption in kinds and TimestampOption in kinds
    assert SACK_PERMITTED in syn_ack.options
    ts = timestamp_of(syn_ack)
    assert ts.tsecr == PEER_TSVAL
    assert ts.tsval & 0xF == 7 and ts.tsval & 0x10, "wscale 7 and SACK ride in the TSval"


def test_a_retransmitted_syn_gets_the_same_cookie():
    s = listen(TcpConfig(syncookies=2))
    first = cookie_handshake(s)
    s.peer.advance(1.0)
    again = cookie_handshake(s)
    assert again.seq == first.seq
    assert s.tcp.connection_count == 0


def test_the_returning_ack_establishes_with_the_syns_options_and_keeps_its_data():
    s = listen(TcpConfig(syn_queue_limit=1))
    fill_syn_queue(s)
    syn_ack = cookie_handshake(s)
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=syn_ack.seq + 1, data=b"hello", window=100,
                options=ack_options(syn_ack))
    assert counter(s, "tcp.syncookies.validated") == 1
    conn = s.listener.accept_queue.popleft()
    assert conn.state == TcpState.ESTABLISHED and conn.remote[1] == 40000
    assert conn.read_app(100) == b"hello"
    # The options came back: MSS 1400 (less the timestamps), wscale 7 both ways, SACK.
    assert conn.sender.mss == 1400 - 12
    assert conn.sender.snd_shift == 7 and conn.receiver.window_shift is not None
    assert conn.sender.snd_wnd == 100 << 7, "the ACK's window was scaled by the peer's shift"
    assert conn.sender.sack_enabled and conn.timestamps.enabled
    # ... and are used: segments of the recovered MSS, and SACK blocks for a hole.
    conn.write_app(b"x" * 3000)
    conn.app_did_write(s.now)
    first = s.peer.expect(ACK, seq=syn_ack.seq + 1, ack=PEER_ISN + 6)
    assert len(first.payload) == 1388
    s.harness.drain()
    s.peer.send(ACK, seq=PEER_ISN + 6 + 100, ack=syn_ack.seq + 1, data=b"later",
                options=ack_options(syn_ack, PEER_TSVAL + 2))
    dup = s.peer.expect(ACK, ack=PEER_ISN + 6)
    sack = next(o for o in dup.options if isinstance(o, SackOption))
    assert sack.blocks == ((PEER_ISN + 106, PEER_ISN + 111),)


def test_without_timestamps_the_cookie_carries_only_the_mss():
    s = listen(TcpConfig(syncookies=2))
    offer = (MssOption(1300), NOP, WindowScaleOption(7), NOP, NOP, SACK_PERMITTED)
    syn_ack = cookie_handshake(s, offer)
    assert syn_ack.options == (MssOption(1460),), "no wscale or SACK offered: no room"
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=syn_ack.seq + 1)
    conn = s.listener.accept_queue.popleft()
    assert conn.state == TcpState.ESTABLISHED
    assert conn.sender.mss == 1300
    assert conn.sender.snd_shift == 0 and not conn.sender.sack_enabled
    assert not conn.timestamps.enabled


def test_a_syn_without_mss_comes_back_with_the_default():
    s = listen(TcpConfig(syncookies=2))
    syn_ack = cookie_handshake(s, ())
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=syn_ack.seq + 1)
    assert s.listener.accept_queue[0].sender.mss == 536 == MSS_TABLE[1]


def test_a_wrong_cookie_is_rejected_counted_and_reset():
    s = listen(TcpConfig(syncookies=2))
    syn_ack = cookie_handshake(s)
    wrong = syn_ack.seq + 1 + 12345
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=wrong, options=ack_options(syn_ack))
    s.peer.expect(RST, seq=wrong)
    assert counter(s, "tcp.syncookies.rejected") == 1
    assert counter(s, "tcp.syncookies.validated") == 0
    assert s.tcp.connection_count == 0 and not s.listener.accept_queue


def test_an_ack_from_another_port_cannot_use_the_cookie():
    s = listen(TcpConfig(syncookies=2))
    syn_ack = cookie_handshake(s)
    s.peer.port = 40001
    # No timestamps: only the cookie's MAC can tell (our TSval clock differs per port).
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=syn_ack.seq + 1)
    s.peer.expect(RST, seq=syn_ack.seq + 1)
    assert counter(s, "tcp.syncookies.rejected") == 1 and s.tcp.connection_count == 0


def test_a_stale_cookie_is_rejected_counted_and_reset():
    s = listen(TcpConfig(syncookies=2))
    old = cookie_handshake(s)
    s.peer.advance(3 * COUNTER_PERIOD + 10)  # past MAX_AGE periods
    s.peer.port = 40001
    cookie_handshake(s)  # the listener is still sending cookies: ACKs are checked
    s.peer.port = 40000
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=old.seq + 1, options=ack_options(old))
    s.peer.expect(RST, seq=old.seq + 1)
    assert counter(s, "tcp.syncookies.rejected") == 1 and s.tcp.connection_count == 0


def test_a_cookie_ack_with_a_tsecr_from_the_future_is_rejected():
    s = listen(TcpConfig(syncookies=2))
    syn_ack = cookie_handshake(s)
    future = (timestamp_of(syn_ack).tsval + 10_000_000) & ~0x3F | 0x1F  # same option bits
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=syn_ack.seq + 1,
                options=(NOP, NOP, TimestampOption(PEER_TSVAL + 1, future)))
    s.peer.expect(RST)
    assert counter(s, "tcp.syncookies.rejected") == 1


def test_a_full_accept_queue_drops_the_cookie_ack_until_there_is_room():
    s = listen(TcpConfig(syncookies=2))
    s.tcp.close_listener(s.listener, s.now)
    s.listener = s.tcp.listen(None, 80, 1)
    first = cookie_handshake(s)
    s.peer.port = 40001
    second = cookie_handshake(s)
    s.peer.port = 40000
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=first.seq + 1, options=ack_options(first))
    s.peer.port = 40001
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=second.seq + 1, data=b"hi",
                options=ack_options(second))
    s.peer.expect_nothing()  # dropped, no RST: the peer will send it again
    assert counter(s, "tcp.drop.accept_queue_full") == 1
    assert len(s.listener.accept_queue) == 1 and s.tcp.connection_count == 1
    s.listener.accept_queue.popleft()
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=second.seq + 1, data=b"hi",
                options=ack_options(second))  # the retransmission
    conn = s.listener.accept_queue.popleft()
    assert conn.read_app(10) == b"hi" and counter(s, "tcp.syncookies.validated") == 2


def test_syncookies_0_drops_the_syn_as_before():
    s = listen(TcpConfig(syn_queue_limit=1, syncookies=0))
    fill_syn_queue(s)
    s.peer.send(SYN, seq=PEER_ISN, options=FULL_OFFER)
    s.peer.expect_nothing()
    assert counter(s, "tcp.drop.syn_queue_full") == 1
    assert counter(s, "tcp.syncookies.sent") == 0
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=12345)  # never a cookie: a stray ACK
    s.peer.expect(RST, seq=12345)
    assert counter(s, "tcp.drop.ack_to_listener") == 1
    assert counter(s, "tcp.syncookies.rejected") == 0


def test_syncookies_2_answers_with_a_cookie_even_with_an_empty_queue():
    s = listen(TcpConfig(syncookies=2))
    cookie_handshake(s)
    assert not s.listener.half_open and s.tcp.connection_count == 0
    assert counter(s, "tcp.syncookies.sent") == 1


def test_a_stray_ack_while_no_cookie_is_out_is_not_counted_as_a_forgery():
    s = listen()  # syncookies=1, queue not full: no cookie sent
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=777)
    s.peer.expect(RST, seq=777)
    assert counter(s, "tcp.drop.ack_to_listener") == 1
    assert counter(s, "tcp.syncookies.rejected") == 0


def test_cookies_follow_the_tunable_at_run_time():
    s = listen(TcpConfig(syncookies=0))
    s.tcp.config = dataclasses.replace(s.tcp.config, syncookies=2)  # what `sysctl -w` does
    cookie_handshake(s)
    assert counter(s, "tcp.syncookies.sent") == 1


def test_cookie_connections_from_many_peers_each_establish():
    s = listen(TcpConfig(syncookies=2))
    for i in range(5):
        s.peer.ip = IPv4Address(f"198.51.100.{10 + i}")
        syn_ack = cookie_handshake(s)
        s.peer.send(ACK, seq=PEER_ISN + 1, ack=syn_ack.seq + 1, options=ack_options(syn_ack))
    assert len(s.listener.accept_queue) == 5
    assert {c.remote[0] for c in s.listener.accept_queue} == {
        IPv4Address(f"198.51.100.{10 + i}") for i in range(5)}


def test_a_connection_made_from_a_cookie_carries_a_bulk_transfer_both_ways():
    a, b = two_stacks(TcpConfig(syncookies=2))
    link = Link(a, b)
    listener = b.tcp.listen(None, 80, 4)
    client = a.tcp.connect(None, 0, B_IP, 80, link.now)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    assert b.counters["tcp.syncookies.validated"] == 1 and not listener.half_open
    payload = bytes(range(256)) * 1024  # 256 KB: the window must scale past 64 KB
    got = {client: bytearray(), server: bytearray()}
    left = {client: memoryview(payload), server: memoryview(payload)}

    def moved() -> bool:
        for conn, peer in ((client, server), (server, client)):
            n = conn.write_app(left[conn])
            left[conn] = left[conn][n:]
            if n:
                conn.app_did_write(link.now)
            got[peer] += peer.read_app(1 << 20)
            peer.app_did_read(link.now)
        return len(got[client]) == len(got[server]) == len(payload)

    link.run_until(moved, timeout=30)
    assert got[server] == payload and got[client] == payload
    assert server.sender.snd_shift > 0 and server.receiver.window_shift > 0
