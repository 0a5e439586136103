"""ICMP: echo, the errors we send and the ones we must not, rate limiting, the ping client."""

from ipaddress import IPv4Address

from scapy.layers.inet import ICMP, IP, UDP, IPerror, UDPerror, fragment
from scapy.layers.l2 import Ether

from netstack.stages.rate_limit import TokenBucket
from netstack.testing import icmp_echo_frame, icmp_echo_reply, icmp_echo_request, icmp_unreachable
from netstack.wire import icmp as wire_icmp
from netstack.wire.ipv4 import IPv4Header

from .common import OUR_IP, OUR_MAC, OUR_MAC_STR, PEER_IP, PEER_MAC, PEER_MAC_STR, make_harness


def frame(ip_layer, dst_mac=OUR_MAC_STR):
    return bytes(Ether(dst=dst_mac, src=PEER_MAC_STR) / ip_layer)


def test_echo_reply_copies_identifier_sequence_and_data():
    h = make_harness(peer_known=True)
    data = bytes(range(56))
    h.receive(icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 0x1234, 7, data))
    reply = h.expect(icmp_echo_reply(dst=PEER_IP, identifier=0x1234, sequence=7, payload=data))
    parsed = Ether(reply)
    assert parsed[IP].src == str(OUR_IP) and parsed[ICMP].type == 0
    assert parsed[ICMP].chksum == ICMP(bytes(parsed[ICMP]))[ICMP].chksum  # scapy agrees
    h.expect_counter("icmp.rx.echo_request", 1)
    h.expect_counter("icmp.tx.echo_reply", 1)


def test_4000_byte_ping_arrives_and_leaves_as_fragments():
    h = make_harness(peer_known=True)
    data = bytes(i % 256 for i in range(4000))
    request = IP(src=str(PEER_IP), dst=str(OUR_IP), id=9) / ICMP(id=1, seq=1) / data
    for piece in fragment(request, 1480):
        h.receive(frame(piece))
    reply = h.expect_reassembled(icmp_echo_reply(sequence=1, payload=data))
    assert len(reply) == 14 + 20 + 8 + 4000


def test_bad_icmp_checksum_is_counted():
    h = make_harness(peer_known=True)
    raw = bytearray(icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 1, 1, b"abcd"))
    raw[-1] ^= 1
    h.receive(bytes(raw))
    h.expect_nothing()
    h.expect_counter("icmp.drop.bad_checksum", 1)


def test_echo_to_broadcast_is_ignored():
    h = make_harness(peer_known=True)
    for dst in ("192.0.2.255", "255.255.255.255"):
        h.receive(frame(IP(src=str(PEER_IP), dst=dst) / ICMP(), dst_mac="ff:ff:ff:ff:ff:ff"))
    h.expect_nothing()
    h.expect_counter("icmp.drop.broadcast_echo", 2)


def test_no_error_about_an_icmp_error():
    h = make_harness(peer_known=True)
    h.receive(frame(IP(src=str(PEER_IP), dst=str(OUR_IP), proto=253) / b"12345678"))
    error = h.expect(icmp_unreachable(wire_icmp.CODE_PROTOCOL_UNREACHABLE))
    header, payload = IPv4Header(PEER_IP, OUR_IP, 1), error[14 + 20 :]
    assert h.stack.icmp.send_unreachable(3, header, payload, 0.0) is False
    h.expect_nothing()
    h.expect_counter("icmp.drop.error_about_error", 1)


def test_no_error_about_broadcasts_bad_sources_or_later_fragments():
    h = make_harness(peer_known=True)
    # Unknown protocol to the subnet broadcast, and in a link-layer broadcast frame.
    h.receive(frame(IP(src=str(PEER_IP), dst="192.0.2.255", proto=253) / (b"x" * 8)))
    h.receive(
        frame(
            IP(src=str(PEER_IP), dst=str(OUR_IP), proto=253) / (b"x" * 8),
            dst_mac="ff:ff:ff:ff:ff:ff",
        )
    )
    # From 0.0.0.0 (a host that does not know its address yet).
    h.receive(frame(IP(src="0.0.0.0", dst=str(OUR_IP), proto=253) / (b"x" * 8)))
    h.expect_nothing()
    h.expect_counter("icmp.drop.error_to_broadcast", 2)
    h.expect_counter("icmp.drop.error_bad_source", 1)
    later = IPv4Header(PEER_IP, OUR_IP, 17, fragment_offset=8)
    assert h.stack.icmp.send_unreachable(3, later, bytes(8), 0.0) is False
    h.expect_counter("icmp.drop.error_about_fragment", 1)


def test_port_unreachable_for_other_stages_quotes_header_and_8_bytes():
    h = make_harness(peer_known=True)
    original = IP(src=str(PEER_IP), dst=str(OUR_IP), id=31) / UDP(sport=4000, dport=9) / (b"q" * 30)
    raw = bytes(original)
    header = IPv4Header(PEER_IP, OUR_IP, 17, identification=31)
    h.call(
        "udp: no socket on port 9",
        lambda s, now: s.icmp.send_unreachable(
            wire_icmp.CODE_PORT_UNREACHABLE, header, raw[20:], now
        ),
    )
    error = Ether(h.expect(icmp_unreachable(wire_icmp.CODE_PORT_UNREACHABLE, dst=PEER_IP)))
    assert bytes(error[IPerror])[:28] == raw[:28]
    assert error[UDPerror].dport == 9


def test_error_rate_limit():
    h = make_harness(peer_known=True, icmp_error_rate=1.0, icmp_error_burst=3)
    bad = frame(IP(src=str(PEER_IP), dst=str(OUR_IP), proto=253) / (b"x" * 8))
    for _ in range(5):
        h.receive(bad)
    assert len(h.drain()) == 3
    h.expect_counter("icmp.drop.rate_limited", 2)
    h.advance(1.0)
    h.receive(bad)
    h.expect(icmp_unreachable(wire_icmp.CODE_PROTOCOL_UNREACHABLE))
    h.receive(bad)
    h.expect_nothing()
    # Echo replies are not errors: never rate-limited.
    for seq in range(10):
        h.receive(icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 1, seq))
    assert len(h.drain()) == 10


def test_token_bucket():
    bucket = TokenBucket(rate=2.0, burst=2)
    assert [bucket.allow(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.allow(0.4) is False
    assert bucket.allow(0.5) is True  # 0.5 s at 2/s refilled one token
    assert bucket.allow(100.0) and bucket.allow(100.0) and not bucket.allow(100.0)


def test_ping_client_sends_and_hears_replies():
    h = make_harness(peer_known=True)
    heard = []
    h.stack.icmp.add_echo_listener(
        0x42, lambda src, seq, data, now: heard.append((src, seq, data, now))
    )
    h.call("ping seq 1", lambda s, now: s.icmp.send_echo(PEER_IP, 0x42, 1, b"abc", now))
    h.expect(icmp_echo_request(dst=PEER_IP, identifier=0x42, sequence=1, payload=b"abc"))
    h.advance(0.25)
    h.receive(icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 0x42, 1, b"abc", reply=True))
    assert heard == [(PEER_IP, 1, b"abc", 0.25)]
    h.receive(icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 0x43, 1, b"", reply=True))
    h.expect_counter("icmp.drop.no_listener", 1)
    h.stack.icmp.remove_echo_listener(0x42)
    h.receive(icmp_echo_frame(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 0x42, 2, b"", reply=True))
    h.expect_counter("icmp.drop.no_listener", 2)
    assert len(heard) == 1


def test_error_listeners_hear_about_our_datagrams():
    h = make_harness(peer_known=True)
    reports = []
    h.stack.icmp.add_error_listener(lambda report, now: reports.append(report))
    ours = IP(src=str(OUR_IP), dst="198.51.100.9", id=5) / UDP(sport=5000, dport=53) / b"query"
    error = IP(src=str(PEER_IP), dst=str(OUR_IP)) / ICMP(type=3, code=1) / bytes(ours)[:28]
    h.receive(frame(error))
    [report] = reports
    assert report.reporter == PEER_IP and (report.type, report.code) == (3, 1)
    assert report.quoted_header.dst == IPv4Address("198.51.100.9")
    assert report.quoted_header.identification == 5
    assert report.quoted_payload[:4] == bytes(ours[UDP])[:4]
    h.expect_nothing()
    h.expect_counter("icmp.rx.dest_unreachable", 1)
