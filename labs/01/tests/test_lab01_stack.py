"""Lab 1, part 4: your three units inside a whole stack (every other layer is netstack's).

The harness plays the peer (the variant's peer_ip / peer_mac) on a virtual wire: it feeds
frames to the stack and decodes what the stack sends with netstack's own codecs. Every
frame the stack sends here went through your Ethernet write_header and your IPv4 codec, and
every checksum in it was computed by your internet_checksum; every frame it receives is
read by your parse functions. The tests check the replies' checksums again with their own
oracle, and count what the stack drops (`ExpectCounter`: the counter the stage bumps with
the reason your parse gave).
"""

from __future__ import annotations

from lab01_bench import ETHERTYPE_IPV4, TPID_8021Q, eth_header, ip_header, oracle_sum

from labs.kit import make_harness
from netstack.testing import decode, icmp_echo_reply
from netstack.testing.frames import TranscriptMismatch, arp_frame
from netstack.testing.matchers import arp_reply
from netstack.wire import arp as wire_arp
from netstack.wire import icmp as wire_icmp

ICMP = 1


def stack(variant):
    """A stack that knows the peer's MAC (no ARP before its replies)."""
    return make_harness(variant, peer_known=True)


def echo_request(variant, identifier: int, sequence: int, data: bytes, **ip) -> bytes:
    """A ping from the peer to the stack, built by the tests' own encoders (the ICMP
    message by netstack's wire code, which lab 1 does not replace)."""
    message = wire_icmp.build(wire_icmp.IcmpHeader.echo_request(identifier, sequence), data)
    fields = dict(protocol=ICMP, identification=variant.rng.randrange(0x10000),
                  total_len=20 + len(message))
    fields.update(ip)
    return (eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4)
            + ip_header(variant.peer_ip, variant.our_ip, **fields) + message)


def checksums_hold(h, reply: bytes) -> None:
    """The reply's IPv4 header and ICMP message each sum to 0xffff (the oracle's word)."""
    def look(stack, now):
        ip_start = 14
        header_len = (reply[ip_start] & 0x0F) * 4
        total = int.from_bytes(reply[ip_start + 2:ip_start + 4], "big")
        header = reply[ip_start:ip_start + header_len]
        message = reply[ip_start + header_len:ip_start + total]
        if oracle_sum(header) != 0xFFFF:
            raise TranscriptMismatch(f"the reply's IPv4 header sums to {oracle_sum(header):#06x},"
                                     f" not 0xffff: its checksum field is wrong ({header.hex()})")
        if oracle_sum(message) != 0xFFFF:
            raise TranscriptMismatch(f"the reply's ICMP message sums to {oracle_sum(message):#06x}"
                                     ", not 0xffff: its checksum field is wrong")
    h.call("the reply's IPv4 and ICMP checksums verify (the tests' own sum)", look)


def test_a_ping_is_answered_with_correct_checksums(variant):
    """An echo request from the peer gets an echo reply to the peer, same identifier,
    sequence and data, with an IPv4 header and an ICMP message that both check."""
    h = stack(variant)
    ident = variant.rng.randrange(0x10000)
    data = variant.rng.randbytes(56)
    h.receive(echo_request(variant, ident, 1, data), "echo request seq 1, 56 bytes")
    reply = h.expect(icmp_echo_reply(dst=variant.peer_ip, identifier=ident, sequence=1,
                                     payload=data))
    h.call("the reply comes from our MAC and IP, to the peer's MAC", lambda s, now: _check_addresses(
        variant, reply))
    checksums_hold(h, reply)


def _check_addresses(variant, reply: bytes) -> None:
    got = decode(reply)
    wanted = {"eth.src": variant.our_mac, "eth.dst": variant.peer_mac, "eth.type": 0x0800,
              "ip.src": variant.our_ip, "ip.dst": variant.peer_ip}
    for name, value in wanted.items():
        if got.get(name) != value:
            raise TranscriptMismatch(f"{name} is {got.get(name)!r}, wanted {value!r}")


def test_pings_of_odd_and_even_sizes_are_answered(variant):
    """ICMP sums cover the data too: odd lengths pad a zero byte, long ones carry often."""
    h = stack(variant)
    ident = variant.rng.randrange(0x10000)
    for sequence, size in enumerate((0, 1, 7, 64, 1001, 1472), start=1):
        data = variant.rng.randbytes(size)
        h.receive(echo_request(variant, ident, sequence, data), f"echo request, {size} bytes")
        reply = h.expect(icmp_echo_reply(identifier=ident, sequence=sequence, payload=data))
        checksums_hold(h, reply)


def test_a_padded_minimum_frame_is_answered(variant):
    """A 42-byte ping padded to Ethernet's 60 bytes: the padding is not IPv4 payload (the
    total length says where the datagram ends), so the ICMP checksum still verifies."""
    h = stack(variant)
    frame = echo_request(variant, 7, 3, b"") + bytes(18)
    h.receive(frame, "echo request with no data, padded to 60 bytes")
    reply = h.expect(icmp_echo_reply(identifier=7, sequence=3, payload=b""))
    checksums_hold(h, reply)


def test_a_bad_ip_checksum_is_dropped_and_counted(variant):
    """A datagram whose header checksum is off by one gets no reply and is counted as
    ipv4.drop.bad_checksum; the next, correct one is answered."""
    h = stack(variant)
    good = echo_request(variant, 9, 1, b"hello")
    checksum = int.from_bytes(good[24:26], "big")
    bad = good[:24] + ((checksum + 1) & 0xFFFF).to_bytes(2, "big") + good[26:]
    h.receive(bad, "echo request, IPv4 checksum one too high")
    h.expect_nothing()
    h.expect_counter("ipv4.drop.bad_checksum", 1)
    h.receive(good, "the same request with the right checksum")
    h.expect(icmp_echo_reply(identifier=9, sequence=1, payload=b"hello"))


def test_a_bad_icmp_checksum_is_dropped_and_counted(variant):
    """The ICMP stage checks the message's checksum with your internet_checksum: a request
    with one data byte changed after summing is counted as icmp.drop.bad_checksum."""
    h = stack(variant)
    good = echo_request(variant, 9, 2, b"hello")
    bad = good[:-1] + bytes([good[-1] ^ 0x01])
    h.receive(bad, "echo request, a data byte changed after its ICMP checksum")
    h.expect_nothing()
    h.expect_counter("icmp.drop.bad_checksum", 1)


def test_malformed_ipv4_headers_are_counted_by_reason(variant):
    """Each bad header is dropped, silently, under ipv4.drop.<the reason your parse gave>."""
    h = stack(variant)
    eth = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4)
    cases = [
        ("bad_version", ip_header(variant.peer_ip, variant.our_ip, version=6) + bytes(26)),
        ("bad_ihl", ip_header(variant.peer_ip, variant.our_ip, ihl=3) + bytes(26)),
        ("bad_total_length", ip_header(variant.peer_ip, variant.our_ip, total_len=200)
         + bytes(26)),
        ("truncated", ip_header(variant.peer_ip, variant.our_ip)[:19]),
    ]
    for reason, datagram in cases:
        h.receive(eth + datagram, f"a datagram that is {reason}")
        h.expect_nothing()
        h.expect_counter(f"ipv4.drop.{reason}", 1)


def test_malformed_ethernet_frames_are_counted_by_reason(variant):
    """A frame too short for a header is eth.drop.truncated; an 802.3 length in the type
    field is eth.drop.not_ethernet_ii; a tagged frame parses, and the stage (which serves
    the untagged LAN only) counts it as eth.drop.vlan."""
    h = stack(variant)
    full = echo_request(variant, 1, 1, b"x")
    h.receive(full[:13], "13 bytes")
    h.expect_nothing()
    h.expect_counter("eth.drop.truncated", 1)
    h.receive(eth_header(variant.our_mac, variant.peer_mac, 46) + bytes(46),
              "type field 0x002e (an 802.3 length)")
    h.expect_nothing()
    h.expect_counter("eth.drop.not_ethernet_ii", 1)
    tagged = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4, ((TPID_8021Q, 10),))
    h.receive(tagged + full[14:], "the ping in an 802.1Q tag, VLAN 10")
    h.expect_nothing()
    h.expect_counter("eth.drop.vlan", 1)


def test_frames_for_another_mac_are_not_answered(variant):
    """The destination your parse reads decides: a ping to another MAC is not ours
    (eth.drop.not_for_us)."""
    h = stack(variant)
    frame = variant.other_mac + echo_request(variant, 1, 1, b"x")[6:]
    h.receive(frame, "a ping sent to another MAC")
    h.expect_nothing()
    h.expect_counter("eth.drop.not_for_us", 1)


def test_the_stack_answers_arp_from_its_own_mac(variant):
    """An ARP request for our address (a broadcast frame): the reply's Ethernet header,
    written by your write_header, has our MAC as source and the ARP ethertype."""
    h = make_harness(variant)
    h.receive(arp_frame(wire_arp.OP_REQUEST, variant.peer_mac, variant.peer_ip, variant.our_ip),
              "who-has our IP, tell the peer")
    reply = h.expect(arp_reply(variant.our_ip, variant.our_mac, variant.peer_ip,
                               variant.peer_mac))
    h.call("the reply's Ethernet header: dst peer, src ours, type 0x0806",
           lambda s, now: _check_arp_header(variant, reply))


def _check_arp_header(variant, reply: bytes) -> None:
    wanted = variant.peer_mac + variant.our_mac + b"\x08\x06"
    if reply[:14] != wanted:
        raise TranscriptMismatch(f"the header is {reply[:14].hex()}, wanted {wanted.hex()}")
