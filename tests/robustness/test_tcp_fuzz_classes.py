"""The bug classes TCP-Fuzz (Zou et al., USENIX ATC '21) found in user-space stacks, as
transcript tests: each asserts what the RFCs ask for, and the counter of any drop.

What netstack does where the RFCs leave a choice:
  - A malformed option (length 0 or 1, or running past the data offset) makes the whole
    segment malformed: it is dropped and counted (tcp.drop.bad_option), never half-read.
    RFC 9293 MUST-7 only asks that an illegal option length be handled without crashing
    (it suggests resetting the connection). Linux stops parsing the options at the bad
    one and processes the segment with those it read; we are stricter, and a peer
    sending such options loses the segment, not the connection.
  - Two timestamp options in one segment: the first one counts (as for every option,
    stages/tcp/options.py), the second is ignored. Linux keeps the last one instead.
  - A SYN-ACK whose TSecr echoes no TSval of ours is refused with a RST, as Linux does
    (PAWSActiveRejected); a TSecr of 0 is let through, as Linux does.
"""

from __future__ import annotations

import struct

import pytest

from netstack.checksum import internet_checksum, pseudo_header_sum_ints
from netstack.errors import MalformedPacket
from netstack.stages.tcp import TcpConfig, TcpState
from netstack.testing import icmp_echo_frame, icmp_echo_reply
from netstack.testing.frames import ipv4_frame
from netstack.testing.tcp import TcpPeer
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire.ethernet import ETHERTYPE_IPV4, EthernetHeader
from netstack.wire.ethernet import build as build_ethernet
from netstack.wire.tcp import (
    FLAG_ACK,
    FLAG_RST,
    FLAG_SYN,
    NOP,
    MssOption,
    TimestampOption,
    parse_options,
)
from tests.api.tcp_fixtures import connection, tcp_hosts  # noqa: F401 - the socket pair
from tests.stages.common import OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, make_harness
from tests.stages.tcp.options_peer import PEER_TSVAL, open_connection, timestamp_of
from tests.stages.tcp.states import PEER_ISN, STACK_ISN, established, listen, syn_sent

ACK, SYN, RST = FLAG_ACK, FLAG_SYN, FLAG_RST
KIND_EXPERIMENTAL = 253  # RFC 4727: an option kind for experiments, unknown to the stack


def raw_segment(peer: TcpPeer, flags: int, seq: int, ack: int, options: bytes,
                data: bytes = b"", data_offset: int | None = None) -> bytes:
    """A frame whose TCP option bytes are exactly `options` (zero-padded to a word), the
    data offset as given (default: it covers the options), and a correct checksum."""
    options += bytes(-len(options) % 4)
    words = (20 + len(options)) // 4 if data_offset is None else data_offset
    header = struct.pack("!HHIIHHHH", peer.port, peer.stack_port, seq, ack,
                         (words << 12) | flags, 65535, 0, 0)
    segment = bytearray(header + options + data)
    pseudo = pseudo_header_sum_ints(int(peer.ip), int(peer.stack_ip), wire_ipv4.PROTO_TCP,
                                    len(segment))
    segment[16:18] = internet_checksum(segment, pseudo).to_bytes(2, "big")
    ip = wire_ipv4.IPv4Header(peer.ip, peer.stack_ip, wire_ipv4.PROTO_TCP)
    return ipv4_frame(peer.stack_mac, peer.mac, ip, bytes(segment))


# --- options of length 0 and 1 -----------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1])
def test_a_syn_with_an_option_of_length_0_or_1_is_dropped_and_counted(length):
    s = listen()
    bad = bytes([KIND_EXPERIMENTAL, length]) + bytes(2)
    s.harness.receive(raw_segment(s.peer, SYN, PEER_ISN, 0, bad))
    s.peer.expect_nothing()
    assert s.tcp.connection_count == 0
    s.harness.expect_counter("tcp.drop.bad_option", 1)
    # The listener is none the worse: a well-formed SYN is answered.
    s.peer.send(SYN, seq=PEER_ISN, options=(MssOption(1460),))
    s.peer.expect(SYN | ACK, ack=PEER_ISN + 1)


@pytest.mark.parametrize("length", [0, 1])
def test_data_with_an_option_of_length_0_or_1_is_not_delivered(length):
    s = established()
    bad = bytes([NOP.kind, KIND_EXPERIMENTAL, length, NOP.kind])
    s.harness.receive(raw_segment(s.peer, ACK, s.peer_seq, s.peer_ack, bad, b"evil"))
    s.peer.expect_nothing()
    s.harness.expect_counter("tcp.drop.bad_option", 1)
    assert s.conn.state == TcpState.ESTABLISHED and s.conn.read_app(100) == b""
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack, data=b"good")
    assert s.conn.read_app(100) == b"good"


def test_option_parsing_ends_on_every_length_byte():
    # A parser that advanced by the length byte alone would never leave a zero length.
    for kind in (2, 3, 4, 5, 8, KIND_EXPERIMENTAL):
        for length in range(256):
            area = bytes([kind, length]) + bytes(38)
            try:
                parse_options(area)
            except MalformedPacket as exc:
                assert exc.reason == "bad_option"


# --- options running past the header -----------------------------------------------------


def test_an_option_running_past_the_data_offset_is_dropped_and_counted():
    s = established()
    # The data offset says 24 bytes: NOP NOP, then a timestamp option (10 bytes) whose
    # last 8 bytes would be the segment's data.
    frame = raw_segment(s.peer, ACK, s.peer_seq, s.peer_ack,
                        bytes([NOP.kind, NOP.kind, 8, 10]), data=bytes(8) + b"data")
    s.harness.receive(frame)
    # An option whose length byte is not in the header at all (MSS as the last byte).
    s.harness.receive(raw_segment(s.peer, ACK, s.peer_seq, s.peer_ack,
                                  bytes([NOP.kind, NOP.kind, NOP.kind, 2]), b"data"))
    s.peer.expect_nothing()
    s.harness.expect_counter("tcp.drop.bad_option", 2)
    assert s.conn.read_app(100) == b""


@pytest.mark.parametrize("words", [0, 4, 15])
def test_a_data_offset_below_the_header_or_beyond_the_segment_is_dropped(words):
    s = established()
    s.harness.receive(raw_segment(s.peer, ACK, s.peer_seq, s.peer_ack, b"", b"data",
                                  data_offset=words))
    s.peer.expect_nothing()
    s.harness.expect_counter("tcp.drop.bad_data_offset", 1)
    assert s.conn.state == TcpState.ESTABLISHED and s.conn.read_app(100) == b""


# --- duplicate timestamp options ---------------------------------------------------------


def two_timestamps(first: int, second: int, echo: int) -> tuple:
    return (NOP, NOP, TimestampOption(first, echo), NOP, NOP, TimestampOption(second, echo))


def test_with_two_timestamp_options_the_first_one_counts():
    p, _ = open_connection(ts=True, sack=False)
    p.tsval += 10
    p.send(ACK)  # TS.Recent is PEER_TSVAL + 10
    # An old first timestamp: PAWS drops the segment (RFC 7323 §5.3 R1), whatever follows.
    p.send(ACK, data=b"old", options=two_timestamps(PEER_TSVAL + 5, PEER_TSVAL + 50, p.echo))
    ack = p.expect(ACK, ack=p.seq)
    assert timestamp_of(ack).tsecr == PEER_TSVAL + 10
    assert p.counter("tcp.rx.paws_drop") == 1 and p.conn.read_app(100) == b""
    # A current first timestamp: accepted, and the first is the one echoed.
    p.send(ACK, data=b"new", options=two_timestamps(PEER_TSVAL + 20, PEER_TSVAL + 5, p.echo))
    p.scene.peer_seq += 3
    p.advance(0.2)  # the delayed ACK
    ack = p.expect(ACK, ack=p.seq)
    assert timestamp_of(ack).tsecr == PEER_TSVAL + 20
    assert p.conn.read_app(100) == b"new" and p.counter("tcp.rx.paws_drop") == 1


# --- a bad ECR on a SYN-ACK ----------------------------------------------------------------


def syn_ack_with_echo(s, tsecr: int) -> None:
    s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1,
                options=(MssOption(1460), NOP, NOP, TimestampOption(PEER_TSVAL, tsecr)))


@pytest.mark.parametrize("offset", [+100_000, -100_000], ids=["future", "before_our_syn"])
def test_a_syn_ack_echoing_no_tsval_of_ours_is_refused_with_a_reset(offset):
    s = syn_sent()
    our_tsval = s.conn.timestamps.clock(s.now)  # what our SYN carried
    s.harness.advance(0.05)
    syn_ack_with_echo(s, (our_tsval + offset) & 0xFFFFFFFF)
    s.peer.expect(RST, seq=STACK_ISN + 1)  # RFC 9293: a RST's seq is the segment's ACK
    assert s.conn.state == TcpState.SYN_SENT
    s.harness.expect_counter("tcp.drop.syn_ack_bad_tsecr", 1)
    # The genuine SYN-ACK, echoing our SYN, opens the connection.
    syn_ack_with_echo(s, our_tsval)
    s.peer.expect(ACK, seq=STACK_ISN + 1, ack=PEER_ISN + 1)
    assert s.conn.state == TcpState.ESTABLISHED and s.conn.timestamps.enabled


def test_a_syn_ack_echoing_zero_or_without_timestamps_is_accepted():
    s = syn_sent()
    syn_ack_with_echo(s, 0)  # as Linux: a peer may not echo at all
    s.peer.expect(ACK, ack=PEER_ISN + 1)
    assert s.conn.state == TcpState.ESTABLISHED
    s = syn_sent(TcpConfig(timestamps=False))  # we offered none: TSecr means nothing
    syn_ack_with_echo(s, 12345)
    s.peer.expect(ACK, ack=PEER_ISN + 1)
    assert s.conn.state == TcpState.ESTABLISHED and not s.conn.timestamps.enabled
    assert s.harness.stack.counters["tcp.drop.syn_ack_bad_tsecr"] == 0


# --- a zero-length write -------------------------------------------------------------------


def test_a_zero_length_write_returns_0_and_sends_nothing():
    s = established()
    sent = s.harness.stack.counters["tcp.tx.segments"]
    assert s.conn.write_app(b"") == 0
    s.harness.call("app_did_write", lambda stack, now: s.conn.app_did_write(now))
    s.peer.expect_nothing()
    assert s.harness.stack.counters["tcp.tx.segments"] == sent
    assert s.conn.write_app(b"x") == 1  # and the connection writes as before
    s.conn.app_did_write(s.now)
    s.peer.expect(ACK, seq=s.peer_ack, payload=b"x")


def test_a_zero_length_socket_send_returns_0(connection):  # noqa: F811 (the fixture)
    assert connection.client.send(b"") == 0
    assert connection.client.sendall(b"") is None
    connection.client.sendall(b"after")
    assert connection.server.recv(100) == b"after"


# --- RFC 5961 §5: the ACK check --------------------------------------------------------


def established_with_window(window: int, config: TcpConfig | None = None):
    """ESTABLISHED, the peer's window (so MAX.SND.WND) `window`, unscaled."""
    s = listen(config)
    s.peer.send(SYN, seq=PEER_ISN, window=window, options=(MssOption(1460),))
    s.peer.expect(SYN | ACK, ack=PEER_ISN + 1)
    s.peer.send(ACK, seq=PEER_ISN + 1, ack=STACK_ISN + 1, window=window)
    s.conn = s.listener.accept_queue.popleft()
    s.peer_seq, s.peer_ack = PEER_ISN + 1, STACK_ISN + 1
    return s


def test_an_ack_older_than_the_max_window_gets_a_challenge_ack_and_is_dropped():
    s = established_with_window(1000)
    too_old = s.peer_ack - 1001  # below SND.UNA - MAX.SND.WND
    s.peer.send(ACK, seq=s.peer_seq, ack=too_old, window=1000, data=b"blind")
    s.peer.expect(ACK, seq=s.peer_ack, ack=s.peer_seq)  # the challenge: our true numbers
    assert s.conn.read_app(100) == b""
    s.harness.expect_counter("tcp.drop.ack_too_old", 1)
    s.harness.expect_counter("tcp.tx.challenge_ack", 1)
    # Old but within MAX.SND.WND: acceptable (a duplicate), the data is taken.
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack - 1000, window=1000, data=b"fine")
    assert s.conn.read_app(100) == b"fine"


def test_an_ack_of_data_never_sent_is_answered_and_dropped():
    s = established_with_window(1000)
    s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack + 1, window=1000, data=b"blind")
    s.peer.expect(ACK, seq=s.peer_ack, ack=s.peer_seq)
    assert s.conn.read_app(100) == b""
    s.harness.expect_counter("tcp.drop.ack_unsent", 1)
    assert s.conn.sender.snd_una.value == STACK_ISN + 1  # nothing taken as acknowledged


def test_challenge_acks_are_rate_limited():
    s = established_with_window(1000, TcpConfig(challenge_ack_limit=2))
    for _ in range(5):
        s.peer.send(ACK, seq=s.peer_seq, ack=s.peer_ack - 5000, window=1000, data=b"x")
    assert len(s.harness.drain()) == 2  # RFC 5961 §7
    s.harness.expect_counter("tcp.drop.ack_too_old", 5)
    s.harness.expect_counter("tcp.drop.challenge_ack_limited", 3)


# --- unvalidated IP version and header length ----------------------------------------------


def echo_request() -> bytes:
    """An ICMP echo request from the peer, as an IPv4 datagram (no Ethernet header)."""
    return icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 7, 1, b"ping")[14:]


def with_header(datagram: bytes, ver_ihl: int | None = None, total_len: int | None = None,
                cut: int | None = None) -> bytes:
    """The datagram with its first byte and/or total length replaced, the header checksum
    made right again (so only the field under test is wrong), cut to `cut` bytes, framed."""
    raw = bytearray(datagram)
    if ver_ihl is not None:
        raw[0] = ver_ihl
    if total_len is not None:
        raw[2:4] = total_len.to_bytes(2, "big")
    header_len = min((raw[0] & 0x0F) * 4, len(raw)) or 20
    raw[10:12] = b"\x00\x00"
    raw[10:12] = internet_checksum(raw[:header_len]).to_bytes(2, "big")
    if cut is not None:
        raw = raw[:cut]
    return build_ethernet(EthernetHeader(OUR_MAC, PEER_MAC, ETHERTYPE_IPV4), bytes(raw))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ver_ihl": 0x65}, "bad_version"),  # version 6 in an IPv4 frame
        ({"ver_ihl": 0x05}, "bad_version"),  # version 0
        ({"ver_ihl": 0x44}, "bad_ihl"),  # a 16-byte header
        ({"ver_ihl": 0x40}, "bad_ihl"),  # IHL 0
        ({"ver_ihl": 0x4F, "cut": 40}, "truncated"),  # a 60-byte header in 40 bytes
        ({"total_len": 200}, "bad_total_length"),  # beyond the frame
        ({"total_len": 12}, "bad_total_length"),  # below the header
    ],
    ids=["v6", "v0", "ihl4", "ihl0", "ihl_beyond", "total_beyond", "total_below"],
)
def test_a_bad_ip_version_or_header_length_is_dropped_and_counted(change, reason):
    h = make_harness(peer_known=True)
    h.receive(with_header(echo_request(), **change))
    h.expect_nothing()
    h.expect_counter(f"ipv4.drop.{reason}", 1)
    assert h.stack.counters["icmp.rx.echo_request"] == 0
    h.receive(with_header(echo_request()))  # the same datagram, fields intact: answered
    h.expect(icmp_echo_reply(dst=PEER_IP))
