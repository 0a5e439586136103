"""The IPv4 stage: validation, local delivery, protocol dispatch, KNI diversion, sending."""

from ipaddress import IPv4Address

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

from netstack.testing import icmp_echo_reply, icmp_unreachable, ipv4_packet
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4

from .common import OUR_IP, OUR_MAC_STR, PEER_IP, PEER_MAC, PEER_MAC_STR, make_harness


def frame(ip_layer, dst_mac=OUR_MAC_STR):
    return bytes(Ether(dst=dst_mac, src=PEER_MAC_STR) / ip_layer)


def ip(**kw):
    kw.setdefault("src", str(PEER_IP))
    kw.setdefault("dst", str(OUR_IP))
    return IP(**kw)


def test_bad_checksum_is_counted():
    h = make_harness(peer_known=True)
    raw = bytearray(frame(ip() / ICMP()))
    raw[14 + 10] ^= 0xFF  # corrupt the header checksum
    h.receive(bytes(raw))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_checksum", 1)


def test_bad_version_and_truncation_are_counted():
    h = make_harness(peer_known=True)
    raw = bytearray(frame(ip() / ICMP()))
    raw[14] = 0x65
    h.receive(bytes(raw))
    h.receive(frame(ip() / ICMP())[: 14 + 12])
    h.expect_counter("ipv4.drop.bad_version", 1)
    h.expect_counter("ipv4.drop.truncated", 1)


def test_datagrams_for_other_addresses_are_not_forwarded():
    h = make_harness(peer_known=True)
    h.receive(frame(ip(dst="198.51.100.7") / ICMP()))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.not_for_us", 1)


def test_martian_sources_are_dropped():
    h = make_harness(peer_known=True)
    for src in ("224.0.0.1", "127.0.0.1", "192.0.2.255", "255.255.255.255"):
        h.receive(frame(ip(src=src) / ICMP()))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_source", 4)


def test_broadcast_destinations_are_local():
    h = make_harness(peer_known=True)
    seen = []

    class Recorder:
        def receive(self, header, payload, frame, now):
            seen.append(header.dst)

    h.stack.ipv4.register_protocol(99, Recorder())
    for dst in ("192.0.2.2", "192.0.2.255", "255.255.255.255"):
        h.receive(frame(ip(dst=dst, proto=99) / b"data", dst_mac="ff:ff:ff:ff:ff:ff"))
    assert seen == [
        IPv4Address("192.0.2.2"),
        IPv4Address("192.0.2.255"),
        IPv4Address("255.255.255.255"),
    ]


def test_registered_handler_gets_header_payload_and_frame():
    h = make_harness(peer_known=True)
    calls = []

    class Recorder:
        def receive(self, header, payload, frame, now):
            calls.append((header.protocol, bytes(payload), bytes(frame), now))

    h.stack.ipv4.register_protocol(wire_ipv4.PROTO_UDP, Recorder())
    raw = frame(ip() / UDP(sport=1000, dport=2000) / b"hi")
    h.advance(2.5)
    h.receive(raw)
    [(proto, payload, got_frame, now)] = calls
    assert proto == 17 and payload[8:] == b"hi" and got_frame == raw and now == 2.5


def test_unknown_protocol_gets_protocol_unreachable_quoting_the_datagram():
    h = make_harness(peer_known=True)
    original = ip(proto=253, id=4242) / (b"ABCDEFGHIJKLMNOP")
    h.receive(frame(original))
    reply = h.expect(icmp_unreachable(wire_icmp.CODE_PROTOCOL_UNREACHABLE, dst=PEER_IP))
    quoted = bytes(IP(reply[14:])[ICMP].payload)
    # RFC 792: the original IP header and the first 64 bits of its data.
    assert quoted == bytes(original)[: 20 + 8]
    h.expect_counter("ipv4.drop.unknown_protocol", 1)


def test_a_protocol_without_a_stage_is_unreachable_but_udp_to_a_closed_port_is_port_unreachable():
    h = make_harness(peer_known=True)
    h.receive(frame(ip(proto=200) / b"12345678"))
    h.expect(icmp_unreachable(wire_icmp.CODE_PROTOCOL_UNREACHABLE))
    h.receive(frame(ip() / UDP(dport=53)))
    h.expect(icmp_unreachable(wire_icmp.CODE_PORT_UNREACHABLE))


def test_with_kni_unhandled_protocols_and_kni_ports_go_to_the_kernel():
    h = make_harness(peer_known=True, kni=True, kni_tcp_ports={22}, kni_udp_ports={5353})
    handled = []

    class Udp:
        def receive(self, header, payload, frame, now):
            handled.append(bytes(payload)[2:4])

    h.stack.ipv4.register_protocol(wire_ipv4.PROTO_UDP, Udp())
    ssh = frame(ip() / TCP(dport=22))
    h.receive(ssh)
    h.expect_kni(ssh)  # TCP has no stage yet: the kernel gets it
    mdns = frame(ip() / UDP(dport=5353))
    h.receive(mdns)
    h.expect_kni(mdns)  # a KNI port, even though UDP has a handler
    h.receive(frame(ip() / UDP(dport=7)))
    h.expect_no_kni()
    assert handled == [b"\x00\x07"]
    gre = frame(ip(proto=47) / b"xxxx")
    h.receive(gre)
    h.expect_kni(gre)
    h.expect_nothing()  # no protocol unreachable when the kernel may know better


def test_outgoing_header_fields():
    h = make_harness(peer_known=True, default_ttl=42)
    h.call("ping", lambda s, now: s.icmp.send_echo(PEER_IP, 1, 1, b"x", now))
    out = h.expect(ipv4_packet(src=OUR_IP, dst=PEER_IP, ttl=42, protocol=1, more_fragments=False))
    assert out[:6] == PEER_MAC
    h.call("ping", lambda s, now: s.icmp.send_echo(PEER_IP, 1, 2, b"x", now))
    second = h.expect(ipv4_packet())
    assert IP(second[14:]).id == (IP(out[14:]).id + 1) % 65536  # per-datagram identification


def test_explicit_ttl_and_dont_fragment():
    h = make_harness(peer_known=True)

    def send(stack, now):
        stack.ipv4.send_payload(PEER_IP, 253, b"payload", now, ttl=1, dont_fragment=True)

    h.call("send proto 253", send)
    h.expect(ipv4_packet(ttl=1, dont_fragment=True, protocol=253, payload=b"payload"))


def test_dont_fragment_too_big_is_dropped_and_counted():
    h = make_harness(peer_known=True)
    h.call(
        "send 2000 bytes DF",
        lambda s, now: s.ipv4.send_payload(PEER_IP, 253, bytes(2000), now, dont_fragment=True),
    )
    h.expect_nothing()
    h.expect_counter("ipv4.drop.needs_fragmentation", 1)


def test_sending_to_ourselves_is_counted_not_sent():
    h = make_harness(peer_known=True)
    h.call("ping self", lambda s, now: s.icmp.send_echo(OUR_IP, 1, 1, b"", now))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.to_self", 1)


def test_broadcast_sends_need_no_arp():
    h = make_harness()
    h.call(
        "ping 192.0.2.255",
        lambda s, now: s.icmp.send_echo(IPv4Address("192.0.2.255"), 1, 1, b"", now),
    )
    out = h.expect(ipv4_packet(dst="192.0.2.255"))
    assert out[:6] == b"\xff" * 6


def test_mbuf_pool_exhaustion_is_counted():
    h = make_harness(peer_known=True, pool_size=2)
    taken = [h.stack.pool.alloc(), h.stack.pool.alloc()]
    h.call("ping", lambda s, now: s.icmp.send_echo(PEER_IP, 1, 1, b"", now))
    h.expect_nothing()
    h.expect_counter("mbuf.drop.alloc_failed", 1)
    for m in taken:
        h.stack.pool.free(m)
    h.receive(frame(ip() / ICMP(id=3, seq=9)))
    h.expect(icmp_echo_reply(sequence=9))
