"""Lab 3, part 1: IPv4 input and output (RFC 791 §3.1, RFC 1122 §3.2.1, §3.3.6).

The tests play the peer on the stack's link. Receiving: a header that fails validation is
dropped and counted `ipv4.drop.<reason>` (the codec names the reason: truncated,
bad_version, bad_ihl, bad_total_length, bad_checksum); a datagram for another host is
dropped (`ipv4.drop.not_for_us`); a martian source is dropped (`ipv4.drop.bad_source`).
Sending: the next hop is the destination when it is on our subnet, else the gateway
(the variant's peer); every datagram gets its own identification.
"""

from __future__ import annotations

from lab03_frames import (
    ETHERNET_HEADER,
    check,
    datagram,
    echo_request,
    pattern,
    receiver,
    with_ip_bytes,
)

from labs.kit import make_harness
from netstack.testing import arp_request, decode, icmp_echo_reply, icmp_echo_request
from netstack.testing.matchers import FrameMatcher
from netstack.wire.ipv4 import PROTO_ICMP


def test_a_valid_datagram_is_counted_and_delivered(variant):
    """A good echo request passes the IPv4 stage (ipv4.rx.packets, ipv4.rx.delivered)."""
    h = receiver(variant)
    h.receive(echo_request(variant))
    h.expect(icmp_echo_reply(dst=variant.peer_ip))
    h.expect_counter("ipv4.rx.packets", 1)
    h.expect_counter("ipv4.rx.delivered", 1)


def test_bad_header_checksum_is_dropped(variant):
    """One flipped bit in the header: the checksum fails, nothing is answered."""
    h = receiver(variant)
    h.receive(with_ip_bytes(echo_request(variant), {8: 63}, fix_checksum=False))  # TTL 64 -> 63
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_checksum", 1)
    h.expect_counter("ipv4.rx.packets", 0)


def test_version_other_than_4_is_dropped(variant):
    """Version 6 in an otherwise valid header (checksum fixed): dropped as bad_version."""
    h = receiver(variant)
    h.receive(with_ip_bytes(echo_request(variant), {0: 0x65}))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_version", 1)


def test_header_length_below_20_bytes_is_dropped(variant):
    """IHL 4 (16 bytes) cannot hold the fixed header: dropped as bad_ihl."""
    h = receiver(variant)
    h.receive(with_ip_bytes(echo_request(variant), {0: 0x44}))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_ihl", 1)


def test_frame_shorter_than_an_ip_header_is_dropped(variant):
    """An IPv4 frame carrying only 12 bytes of IP: dropped as truncated."""
    h = receiver(variant)
    h.receive(echo_request(variant)[: ETHERNET_HEADER + 12])
    h.expect_nothing()
    h.expect_counter("ipv4.drop.truncated", 1)


def test_total_length_beyond_the_frame_is_dropped(variant):
    """Total length says 40 bytes more than the frame holds: dropped as bad_total_length."""
    h = receiver(variant)
    frame = echo_request(variant, data=pattern(24))
    claimed = len(frame) - ETHERNET_HEADER + 40
    h.receive(with_ip_bytes(frame, {2: claimed >> 8, 3: claimed & 0xFF}))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_total_length", 1)


def test_ethernet_padding_after_total_length_is_ignored(variant):
    """Bytes after the total length (Ethernet pads short frames) are not data: the reply
    carries exactly the request's data."""
    h = receiver(variant)
    data = pattern(6)
    h.receive(echo_request(variant, data=data) + bytes(18))
    h.expect(icmp_echo_reply(payload=data))


def test_header_with_options_is_read_by_its_length(variant):
    """A 24-byte header (IHL 6, one NOP option and End padding): the payload starts after
    it, so the echo is answered."""
    h = receiver(variant)
    data = pattern(32, salt=3)
    h.receive(datagram(variant, PROTO_ICMP, _echo_message(data), options=b"\x01\x00\x00\x00"))
    h.expect(icmp_echo_reply(payload=data))


def test_ttl_1_is_accepted_by_a_host(variant):
    """A host delivers a datagram whatever its TTL (only routers decrement it): a request
    arriving with TTL 1 is answered, and the reply starts with the default TTL again."""
    h = receiver(variant)
    h.receive(datagram(variant, PROTO_ICMP, _echo_message(b"ttl"), ttl=1))
    reply = h.expect(icmp_echo_reply(payload=b"ttl"))
    ttl = decode(reply)["ip.ttl"]
    check(ttl == h.stack.config.default_ttl,
          f"the reply's TTL is {ttl}; expected the default TTL {h.stack.config.default_ttl}")


def test_datagram_for_another_host_is_dropped(variant):
    """Our MAC but another host's IP (we are not a router): dropped as not_for_us."""
    h = receiver(variant)
    h.receive(echo_request(variant, dst=variant.other_ip))
    h.receive(echo_request(variant, dst=variant.far_ip))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.not_for_us", 2)


def test_martian_source_is_dropped(variant):
    """A loopback source (127.0.0.1) cannot come from the wire (RFC 1122 §3.2.1.3)."""
    h = receiver(variant)
    h.receive(echo_request(variant, src="127.0.0.1"))
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_source", 1)


def test_subnet_broadcast_is_accepted(variant):
    """A datagram to the subnet's broadcast address is for us too (RFC 1122 §3.3.6): it is
    counted as received, not dropped as not_for_us."""
    h = receiver(variant)
    broadcast = variant.interface.network.broadcast_address
    h.receive(echo_request(variant, dst=broadcast, dst_mac=b"\xff" * 6))
    h.expect_counter("ipv4.drop.not_for_us", 0)
    h.expect_counter("ipv4.rx.packets", 1)


def test_reply_to_an_off_link_host_goes_to_the_gateway(variant):
    """A request from the far host arrives through the gateway; the reply is addressed to
    the far host (IP) but sent to the gateway's MAC."""
    h = receiver(variant)
    h.receive(echo_request(variant, src=variant.far_ip))
    h.expect(FrameMatcher(
        "echo reply to the far host, via the gateway's MAC",
        {"ip.dst": variant.far_ip, "eth.dst": variant.peer_mac, "icmp.type": 0}))


def test_reply_to_an_on_link_host_goes_straight_to_it(variant):
    """A neighbour on our subnet is its own next hop: its MAC, not the gateway's."""
    h = receiver(variant, static_arp={variant.peer_ip: variant.peer_mac,
                                      variant.other_ip: variant.other_mac})
    h.receive(echo_request(variant, src=variant.other_ip, src_mac=variant.other_mac))
    h.expect(FrameMatcher(
        "echo reply to the neighbour, at its own MAC",
        {"ip.dst": variant.other_ip, "eth.dst": variant.other_mac, "icmp.type": 0}))


def test_unknown_gateway_is_resolved_by_arp_for_an_off_link_host(variant):
    """Nothing in the ARP table: sending to the far host asks ARP for the gateway's
    address, never for the far host's."""
    h = make_harness(variant)
    h.call(f"stack pings {variant.far_ip}",
           lambda stack, now: stack.icmp.send_echo(variant.far_ip, 7, 1, b"out", now))
    h.expect(arp_request(target_ip=variant.peer_ip))


def test_unknown_neighbour_is_resolved_by_arp_for_itself(variant):
    """Sending to an on-link host asks ARP for that host."""
    h = make_harness(variant)
    h.call(f"stack pings {variant.other_ip}",
           lambda stack, now: stack.icmp.send_echo(variant.other_ip, 7, 1, b"out", now))
    h.expect(arp_request(target_ip=variant.other_ip))


def test_sent_datagrams_are_well_formed(variant):
    """The stack's own echo request: version 4, our source, the default TTL, a valid
    checksum (the decoder checks it), protocol ICMP, total length matching the data."""
    h = receiver(variant)
    data = pattern(100)
    h.call(f"stack pings {variant.peer_ip}",
           lambda stack, now: stack.icmp.send_echo(variant.peer_ip, 9, 4, data, now))
    sent = h.expect(icmp_echo_request(dst=variant.peer_ip, identifier=9, sequence=4,
                                      payload=data))
    fields = decode(sent)
    check(fields["ip.src"] == variant.our_ip, f"source is {fields['ip.src']}, not ours")
    check(fields["ip.ttl"] == h.stack.config.default_ttl, f"TTL {fields['ip.ttl']}")
    check(fields["eth.src"] == variant.our_mac, "the frame does not come from our MAC")


def test_each_datagram_has_its_own_identification(variant):
    """Two datagrams sent in a row carry different identifications (RFC 6864 §4.2)."""
    h = receiver(variant)
    h.receive(echo_request(variant, sequence=1))
    first = h.expect(icmp_echo_reply(sequence=1))
    h.receive(echo_request(variant, sequence=2))
    second = h.expect(icmp_echo_reply(sequence=2))
    ids = decode(first)["ip.identification"], decode(second)["ip.identification"]
    h.call("compare identifications",
           lambda stack, now: check(ids[0] != ids[1], f"both replies use identification {ids[0]}"))


def test_sending_to_our_own_address_sends_nothing(variant):
    """There is no loopback interface: a datagram to ourselves is dropped, not put on
    the wire (the reference counts ipv4.drop.to_self)."""
    h = receiver(variant)
    h.call("stack pings itself",
           lambda stack, now: stack.icmp.send_echo(variant.our_ip, 7, 1, b"me", now))
    h.expect_nothing()


def _echo_message(data: bytes) -> bytes:
    from netstack.wire import icmp as wire_icmp

    return wire_icmp.build(wire_icmp.IcmpHeader.echo_request(0x4C33, 1), data)
