"""Lab 3, part 2: ICMP (RFC 792, RFC 1122 §3.2.2): echo, errors, and when not to send them.

Echo requests are answered with the same identifier, sequence and data. Errors quote the
offending IP header and the first 8 bytes of its payload. No error is ever sent about an
ICMP error, a broadcast (IP or Ethernet), a source that is not one host, or a non-initial
fragment (RFC 1122 §3.2.2), and errors are rate-limited by a token bucket
(StackConfig.icmp_error_rate per second, icmp_error_burst at once).

Implementation-defined, and accepted either way: an echo request to a broadcast address
may be ignored (the reference, Linux's default) or answered from our own address.
"""

from __future__ import annotations

import pytest
from lab03_frames import (
    BROADCAST_MAC,
    PROTO_TEST,
    check,
    closed_port,
    datagram,
    echo_request,
    pattern,
    quote_of,
    receiver,
    udp_to,
)

from netstack.testing import (
    decode,
    describe_frame,
    icmp_echo_frame,
    icmp_echo_reply,
    icmp_unreachable,
)
from netstack.testing.matchers import FrameMatcher
from netstack.wire import icmp as wire_icmp
from netstack.wire.ipv4 import IPv4Header

PORT_UNREACHABLE = wire_icmp.CODE_PORT_UNREACHABLE
PROTOCOL_UNREACHABLE = wire_icmp.CODE_PROTOCOL_UNREACHABLE


def rate_and_burst(variant) -> tuple[float, int]:
    """10 errors/s with a burst of 10 publicly (the defaults); a hidden variant picks
    others, so a bucket with hard-coded numbers fails there."""
    if variant.public:
        return 10.0, 10
    return variant.rng.choice([2.0, 5.0, 20.0]), variant.rng.choice([3, 5, 8])


# --- echo ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 56, 1472])
def test_echo_request_is_answered_with_the_same_data(variant, size):
    """Identifier, sequence and every data byte come back; 1472 bytes fills a 1500-byte
    MTU exactly."""
    h = receiver(variant)
    data = pattern(size, salt=size)
    h.receive(echo_request(variant, sequence=size + 1, data=data, identifier=0x1234))
    h.expect(icmp_echo_reply(dst=variant.peer_ip, identifier=0x1234, sequence=size + 1,
                             payload=data))
    h.expect_counter("icmp.rx.echo_request", 1)
    h.expect_counter("icmp.tx.echo_reply", 1)


def test_echo_reply_comes_from_the_address_pinged(variant):
    """The reply's source is the request's destination (our address), its destination
    the requester, at the requester's MAC."""
    h = receiver(variant)
    h.receive(echo_request(variant))
    reply = h.expect(icmp_echo_reply(dst=variant.peer_ip))
    fields = decode(reply)
    check(fields["ip.src"] == variant.our_ip, f"reply from {fields['ip.src']}")
    check(fields["eth.dst"] == variant.peer_mac, "reply not sent to the requester's MAC")


def test_many_echo_requests_each_get_their_reply(variant):
    """Echo replies are not rate-limited: a burst of requests beyond the error burst is
    answered in full, in order."""
    rate, burst = rate_and_burst(variant)
    h = receiver(variant, icmp_error_rate=rate, icmp_error_burst=burst)
    for sequence in range(1, burst + 4):
        h.receive(echo_request(variant, sequence=sequence))
        h.expect(icmp_echo_reply(sequence=sequence))


def test_bad_icmp_checksum_is_dropped(variant):
    """One wrong data byte: the ICMP checksum fails, no reply (icmp.drop.bad_checksum)."""
    h = receiver(variant)
    frame = bytearray(echo_request(variant, data=pattern(20)))
    frame[-1] ^= 0x40
    h.receive(bytes(frame))
    h.expect_nothing()
    h.expect_counter("icmp.drop.bad_checksum", 1)


def test_echo_reply_received_is_not_answered(variant):
    """An echo reply nobody asked for is not a request: nothing is sent back."""
    h = receiver(variant)
    h.receive(icmp_echo_frame(variant.our_mac, variant.peer_mac, variant.peer_ip,
                              variant.our_ip, 5, 5, b"pong", reply=True))
    h.expect_nothing()
    h.expect_counter("icmp.rx.echo_reply", 1)


def test_echo_to_a_broadcast_address_is_ignored_or_answered_from_us(variant):
    """Echo to the subnet broadcast and to 255.255.255.255: ignoring it (the reference)
    or answering from our unicast address are both allowed (RFC 1122 §3.2.2.6); a reply
    from a broadcast source never is."""
    h = receiver(variant)
    for dst in (variant.interface.network.broadcast_address, "255.255.255.255"):
        h.receive(echo_request(variant, dst=dst, dst_mac=BROADCAST_MAC))

    def look(stack, now):
        for frame in h.drain():
            fields = decode(frame)
            check(fields.get("icmp.type") == wire_icmp.TYPE_ECHO_REPLY
                  and fields.get("ip.src") == variant.our_ip,
                  f"unexpected answer to a broadcast echo: {describe_frame(frame)}")

    h.call("nothing, or echo replies from our own address", look)


# --- errors we send -------------------------------------------------------------------------


def test_udp_to_a_closed_port_earns_port_unreachable(variant):
    """UDP to a port nobody listens on: destination unreachable, code 3, to the sender."""
    h = receiver(variant)
    h.receive(udp_to(variant, closed_port(variant)))
    h.expect(icmp_unreachable(PORT_UNREACHABLE, dst=variant.peer_ip))
    h.expect_counter("icmp.tx.dest_unreachable", 1)


def test_port_unreachable_quotes_the_ip_header_and_8_bytes(variant):
    """The error's data is the offending datagram's IP header and the first 8 bytes of
    its payload (the UDP header), byte for byte (RFC 792)."""
    h = receiver(variant)
    offending = udp_to(variant, closed_port(variant), data=pattern(200),
                       identification=variant.rng.randrange(1, 0x10000))
    h.receive(offending)
    h.expect(FrameMatcher(
        "port unreachable quoting the IP header + 8 bytes",
        {"icmp.type": wire_icmp.TYPE_DEST_UNREACHABLE, "icmp.code": PORT_UNREACHABLE,
         "payload": quote_of(offending)}))


def test_unknown_protocol_earns_protocol_unreachable(variant):
    """A protocol nobody handles: protocol unreachable (code 2), quoting the datagram;
    counted ipv4.drop.unknown_protocol."""
    h = receiver(variant)
    offending = datagram(variant, PROTO_TEST, pattern(40))
    h.receive(offending)
    h.expect(FrameMatcher(
        "protocol unreachable quoting the IP header + 8 bytes",
        {"icmp.type": wire_icmp.TYPE_DEST_UNREACHABLE, "icmp.code": PROTOCOL_UNREACHABLE,
         "ip.dst": variant.peer_ip, "payload": quote_of(offending)}))
    h.expect_counter("ipv4.drop.unknown_protocol", 1)


def test_short_payload_is_quoted_whole(variant):
    """A payload shorter than 8 bytes is quoted as it is, nothing invented after it."""
    h = receiver(variant)
    offending = datagram(variant, PROTO_TEST, b"abc")
    h.receive(offending)
    h.expect(FrameMatcher(
        "protocol unreachable quoting 20 + 3 bytes",
        {"icmp.code": PROTOCOL_UNREACHABLE, "payload": quote_of(offending)}))


def test_no_error_about_a_broadcast_datagram(variant):
    """UDP to a closed port at the subnet broadcast, or at our IP inside an Ethernet
    broadcast: no port unreachable (RFC 1122 §3.2.2)."""
    h = receiver(variant)
    broadcast = variant.interface.network.broadcast_address
    h.receive(udp_to(variant, closed_port(variant), dst=broadcast, dst_mac=BROADCAST_MAC))
    h.receive(udp_to(variant, closed_port(variant), dst_mac=BROADCAST_MAC))
    h.receive(datagram(variant, PROTO_TEST, b"12345678", dst=broadcast, dst_mac=BROADCAST_MAC))
    h.expect_nothing()


def test_no_error_about_an_icmp_error(variant):
    """Asked to report an ICMP error (a port unreachable about some datagram), the stack
    sends nothing: errors about errors could loop forever."""
    h = receiver(variant)
    error = wire_icmp.build(wire_icmp.IcmpHeader(wire_icmp.TYPE_DEST_UNREACHABLE,
                                                 PORT_UNREACHABLE, 0), pattern(28))
    header = IPv4Header(variant.peer_ip, variant.our_ip, 1)
    h.call("icmp.send_unreachable(port, about an ICMP error)",
           lambda stack, now: stack.icmp.send_unreachable(PORT_UNREACHABLE, header, error, now))
    h.expect_nothing()
    h.expect_counter("icmp.drop.error_about_error", 1)


def test_error_about_an_echo_request_is_allowed(variant):
    """ICMP queries are not errors: an unreachable about an echo request is sent."""
    h = receiver(variant)
    query = wire_icmp.build(wire_icmp.IcmpHeader.echo_request(1, 1), b"data")
    header = IPv4Header(variant.peer_ip, variant.our_ip, 1)
    h.call("icmp.send_unreachable(port, about an echo request)",
           lambda stack, now: stack.icmp.send_unreachable(PORT_UNREACHABLE, header, query, now))
    h.expect(icmp_unreachable(PORT_UNREACHABLE, dst=variant.peer_ip))


def test_no_error_about_a_non_initial_fragment(variant):
    """Only fragment zero holds the transport header: no error about a later fragment."""
    h = receiver(variant)
    header = IPv4Header(variant.peer_ip, variant.our_ip, PROTO_TEST, fragment_offset=16)
    h.call("icmp.send_unreachable(protocol, about a fragment at offset 16)",
           lambda stack, now: stack.icmp.send_unreachable(PROTOCOL_UNREACHABLE, header,
                                                          b"12345678", now))
    h.expect_nothing()
    h.expect_counter("icmp.drop.error_about_fragment", 1)


# --- the rate limit ------------------------------------------------------------------------


def test_errors_beyond_the_burst_are_rate_limited(variant):
    """burst + 3 closed-port datagrams at once: exactly `burst` errors, 3 counted
    icmp.drop.rate_limited."""
    rate, burst = rate_and_burst(variant)
    h = receiver(variant, icmp_error_rate=rate, icmp_error_burst=burst)
    for _ in range(burst + 3):
        h.receive(udp_to(variant, closed_port(variant)))
    for _ in range(burst):
        h.expect(icmp_unreachable(PORT_UNREACHABLE))
    h.expect_nothing()
    h.expect_counter("icmp.drop.rate_limited", 3)


def test_the_rate_refills_one_error_per_interval(variant):
    """After the burst is spent, 1/rate seconds later one more error may go, not two."""
    rate, burst = rate_and_burst(variant)
    h = receiver(variant, icmp_error_rate=rate, icmp_error_burst=burst)
    for _ in range(burst):
        h.receive(udp_to(variant, closed_port(variant)))
        h.expect(icmp_unreachable(PORT_UNREACHABLE))
    h.advance(0.5 / rate)
    h.receive(udp_to(variant, closed_port(variant)))
    h.expect_nothing()
    h.advance(0.6 / rate)
    h.receive(udp_to(variant, closed_port(variant)))
    h.expect(icmp_unreachable(PORT_UNREACHABLE))
    h.receive(udp_to(variant, closed_port(variant)))
    h.expect_nothing()


def test_a_long_pause_refills_the_burst_but_no_more(variant):
    """After a long quiet time the bucket is full again: `burst` errors, then silence."""
    rate, burst = rate_and_burst(variant)
    h = receiver(variant, icmp_error_rate=rate, icmp_error_burst=burst)
    for _ in range(burst + 1):
        h.receive(udp_to(variant, closed_port(variant)))
    h.drain()
    h.advance(100 * burst / rate)
    for _ in range(burst + 2):
        h.receive(udp_to(variant, closed_port(variant)))
    for _ in range(burst):
        h.expect(icmp_unreachable(PORT_UNREACHABLE))
    h.expect_nothing()


def test_echo_replies_do_not_spend_error_tokens(variant):
    """Answering pings does not use up the error budget: after many echoes, a full burst
    of errors still goes out."""
    rate, burst = rate_and_burst(variant)
    h = receiver(variant, icmp_error_rate=rate, icmp_error_burst=burst)
    for sequence in range(1, burst + 2):
        h.receive(echo_request(variant, sequence=sequence))
        h.expect(icmp_echo_reply(sequence=sequence))
    for _ in range(burst):
        h.receive(udp_to(variant, closed_port(variant)))
        h.expect(icmp_unreachable(PORT_UNREACHABLE))
