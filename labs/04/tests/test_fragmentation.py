"""Lab 4, part 1: cutting a datagram to fit the MTU (RFC 791 §3.2, "Fragmentation").

Where to cut is the sender's choice: RFC 791 asks only that every piece fit the MTU, that
every piece but the last carry a multiple of 8 bytes, and that the offsets, MF flags and
identification let the receiver put the bytes back. So these tests check those invariants
(lab04_frames.fragments_sent) and that the pieces reassemble to what was sent, never exact
cut points: filling each piece to the MTU (the reference) and sharing the bytes evenly
between the pieces (tests/units/alternatives/fragmentation_balanced.py) both pass.

Two kinds of step: the stack sending (ipv4.send_payload, icmp.send_echo), whose frames are
checked on the wire, and calls of your `fragment` function itself (`stack.units.
fragmentation.fragment`), for the cases the stack never asks for.
"""

from __future__ import annotations

import pytest
from lab04_frames import PROTO_TEST, check, fragments_sent, pattern

from labs.kit import make_harness
from netstack.testing import icmp_echo_request, ipv4_packet, join_fragments
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire.ipv4 import IPv4Header

ETHERNET_MTU = 1500
SECURITY = bytes([130, 11]) + bytes(9)  # option 130 (security): the copied bit is set
RECORD_ROUTE = bytes([7, 7, 4]) + bytes(4)  # option 7 (record route): not copied


def sender(variant, mtu: int = ETHERNET_MTU):
    """A harness whose stack knows the peer's MAC (no ARP first) on a link of `mtu`."""
    return make_harness(variant, peer_known=True, mtu=mtu)


def send(h, variant, payload: bytes, dont_fragment: bool = False) -> None:
    h.call(f"send {len(payload)} bytes of protocol {PROTO_TEST} to the peer"
           + (" with DF" if dont_fragment else ""),
           lambda s, now: s.ipv4.send_payload(variant.peer_ip, PROTO_TEST, payload, now,
                                              dont_fragment=dont_fragment))


def expect_datagram(h, mtu: int, payload: bytes) -> IPv4Header:
    """Collect what the stack sent (as a transcript step), check it is a valid
    fragmentation of `payload` for `mtu`, and return the first fragment's header."""
    result = {}

    def collect(stack, now):
        sent = h.drain()
        first, whole = fragments_sent(sent, mtu)
        check(whole == payload, f"the {len(sent)} fragments reassemble to {len(whole)} bytes "
              f"that differ from the {len(payload)} bytes sent")
        result["first"], result["count"] = first, len(sent)

    h.call(f"the frames sent are a valid fragmentation for MTU {mtu} of what was sent", collect)
    return result["first"]


def fragment(h, header: IPv4Header, payload: bytes, mtu: int) -> list[tuple[IPv4Header, bytes]]:
    """Call the fragmentation unit directly, as a transcript step."""
    out = []
    h.call(f"fragment({len(payload)} bytes, mtu={mtu})",
           lambda s, now: out.extend((p, bytes(d)) for p, d in
                                     s.units.fragmentation.fragment(header, payload, mtu)))
    return out


def header_for(variant, **fields) -> IPv4Header:
    return IPv4Header(variant.our_ip, variant.peer_ip, PROTO_TEST, identification=0x1234,
                      **fields)


def check_pieces(pieces, header: IPv4Header, payload: bytes, mtu: int) -> None:
    """The invariants on the unit's own result (offsets are bytes in IPv4Header)."""
    rebuilt = b""
    for number, (p, data) in enumerate(pieces, 1):
        last = number == len(pieces)
        check(p.header_len + len(data) <= mtu,
              f"piece {number} is {p.header_len + len(data)} bytes, over the MTU {mtu}")
        check(p.fragment_offset == header.fragment_offset + len(rebuilt),
              f"piece {number} has offset {p.fragment_offset}, expected "
              f"{header.fragment_offset + len(rebuilt)}")
        check(p.identification == header.identification and p.protocol == header.protocol
              and p.src == header.src and p.dst == header.dst and p.ttl == header.ttl,
              f"piece {number} changed the identification, protocol, TTL or addresses")
        if not last:
            check(p.more_fragments, f"piece {number} is not the last but has MF clear")
            check(len(data) % 8 == 0 and data, f"piece {number} carries {len(data)} bytes, "
                  "not a positive multiple of 8")
        rebuilt += data
    check(pieces[-1][0].more_fragments == header.more_fragments,
          "the last piece must keep the datagram's own MF (set if it was itself not the last "
          "fragment of a bigger datagram)")
    check(rebuilt == payload, "the pieces' data, in order, is not the payload")


# --- the stack sending: on the wire -------------------------------------------------------


def test_a_4000_byte_ping_leaves_in_valid_fragments(variant):
    """`ping -s 4000`: 4008 bytes of ICMP need 3 fragments on a 1500-byte link; they fit,
    their offsets count 8-byte blocks, MF is set on all but the last, and they rebuild the
    echo request (checked by an independent oracle, join_fragments)."""
    h = sender(variant)
    data = pattern(4000)
    h.call("ping the peer with 4000 bytes",
           lambda s, now: s.icmp.send_echo(variant.peer_ip, 7, 1, data, now))
    sent = []
    h.call("collect the fragments", lambda s, now: sent.extend(h.drain()))
    check(len(sent) == 3, f"4028 bytes need 3 fragments of at most 1500, got {len(sent)}")
    fragments_sent(sent, ETHERNET_MTU)
    whole = join_fragments(sorted(sent, key=lambda f: int.from_bytes(f[20:22], "big") & 0x1FFF))
    problem = icmp_echo_request(dst=variant.peer_ip, identifier=7, sequence=1,
                                payload=data).mismatch(whole)
    check(problem is None, f"the reassembled datagram: {problem}")


def test_one_byte_more_than_the_mtu_makes_two_fragments(variant):
    """1481 bytes of payload + 20 of header is one byte over 1500: two fragments."""
    h = sender(variant)
    payload = pattern(1481)
    send(h, variant, payload)
    expect_datagram(h, ETHERNET_MTU, payload)


def test_a_datagram_of_exactly_the_mtu_leaves_whole(variant):
    """1480 bytes + 20 of header is exactly 1500: one piece, MF clear, offset 0."""
    h = sender(variant)
    header = header_for(variant)
    pieces = fragment(h, header, pattern(1480), ETHERNET_MTU)
    check(len(pieces) == 1, f"a datagram that fits must come back whole, got {len(pieces)}")
    check(pieces[0][0] == header, "the one piece must keep the datagram's header unchanged")
    check(pieces[0][1] == pattern(1480), "the one piece must carry the whole payload")


def test_an_empty_payload_comes_back_as_one_piece(variant):
    """A header-only datagram fits any MTU: one piece with no data."""
    h = sender(variant)
    pieces = fragment(h, header_for(variant), b"", 68)
    check(len(pieces) == 1 and pieces[0][1] == b"", f"expected one empty piece, got {pieces}")


def test_fragments_share_identification_protocol_ttl_and_addresses(variant):
    """Every fragment copies the identification, protocol, TTL and addresses (RFC 791
    §3.2): the receiver matches fragments by (source, destination, protocol, id)."""
    h = sender(variant)
    payload = pattern(5000)
    send(h, variant, payload)
    first = expect_datagram(h, ETHERNET_MTU, payload)
    check(first.protocol == PROTO_TEST and first.src == variant.our_ip
          and first.dst == variant.peer_ip, f"wrong header on the first fragment: {first}")


@pytest.mark.parametrize("mtu", [576, 1006, 1280, 9000])
def test_fragments_fit_other_link_mtus(variant, mtu):
    """The same checks on links of other MTUs (1006: room for 986 bytes, so pieces carry
    984, the largest multiple of 8 that fits)."""
    h = sender(variant, mtu)
    payload = pattern(12000)
    send(h, variant, payload)
    expect_datagram(h, mtu, payload)


def test_a_route_mtu_smaller_than_the_link_is_respected(variant):
    """A route may have its own MTU (here 576 to the peer on a 1500 link): fragments fit it."""
    h = make_harness(variant, peer_known=True, routes=((f"{variant.peer_ip}/32", None, 576),))
    payload = pattern(3000)
    send(h, variant, payload)
    expect_datagram(h, 576, payload)


def test_the_minimum_mtu_68_gives_8_byte_multiples(variant):
    """RFC 791's minimum MTU: 68 bytes leave 48 for data, so pieces carry at most 48."""
    h = sender(variant, 68)
    payload = pattern(500)
    send(h, variant, payload)
    expect_datagram(h, 68, payload)


def test_random_sizes_and_mtus_from_the_variant(variant):
    """Sizes and MTUs drawn from the variant's random generator: the invariants hold for
    every one of them, including sizes that are not multiples of 8."""
    h = sender(variant)
    for _ in range(12):
        mtu = variant.rng.randrange(68, 1501)
        size = variant.rng.randrange(0, 9000)
        header = header_for(variant)
        pieces = fragment(h, header, pattern(size, salt=size), mtu)
        check_pieces(pieces, header, pattern(size, salt=size), mtu)


def test_two_datagrams_use_two_identifications(variant):
    """Each datagram's fragments share one identification, and the next datagram's is
    different, so the receiver cannot mix their bytes (RFC 6864 §4)."""
    h = sender(variant)
    a, b = pattern(3000, 1), pattern(3000, 2)
    send(h, variant, a)
    first_a = expect_datagram(h, ETHERNET_MTU, a)
    send(h, variant, b)
    first_b = expect_datagram(h, ETHERNET_MTU, b)
    check(first_a.identification != first_b.identification,
          f"both datagrams used identification {first_a.identification}")


def test_dont_fragment_too_big_is_not_sent_but_the_same_datagram_without_df_is(variant):
    """DF set and too big: the IPv4 stage drops it (counted ipv4.drop.needs_fragmentation)
    and never calls `fragment`; without DF the same datagram leaves in fragments."""
    h = sender(variant)
    payload = pattern(2000)
    send(h, variant, payload, dont_fragment=True)
    h.expect_nothing()
    h.expect_counter("ipv4.drop.needs_fragmentation", 1)
    send(h, variant, payload)
    expect_datagram(h, ETHERNET_MTU, payload)


def test_dont_fragment_that_fits_keeps_its_flag(variant):
    """A DF datagram that fits comes back from `fragment` whole, DF still set."""
    h = sender(variant)
    header = header_for(variant, dont_fragment=True)
    pieces = fragment(h, header, pattern(1000), ETHERNET_MTU)
    check(len(pieces) == 1 and pieces[0][0].dont_fragment, f"got {pieces}")


def test_a_small_ping_is_not_fragmented_and_a_big_one_is(variant):
    """Sizes around the boundary: a 1472-byte ping (1500 in all) leaves as one frame with
    MF clear and offset 0; a 1473-byte one leaves in two fragments."""
    h = sender(variant)
    h.call("ping with 1472 bytes", lambda s, now: s.icmp.send_echo(variant.peer_ip, 7, 1,
                                                                   pattern(1472), now))
    h.expect(ipv4_packet("one whole datagram", more_fragments=False, fragment_offset=0))
    h.expect_nothing()
    h.call("ping with 1473 bytes", lambda s, now: s.icmp.send_echo(variant.peer_ip, 7, 2,
                                                                   pattern(1473), now))
    h.expect(ipv4_packet("a fragment with MF", more_fragments=True))
    h.expect(ipv4_packet("the last fragment", more_fragments=False))
    h.expect_nothing()


# --- the unit itself: what the stack does not ask for every day -------------------------


def test_refragmenting_a_middle_fragment_keeps_mf_and_offsets(variant):
    """A datagram that is itself a fragment (offset 1480, MF set), cut again for a smaller
    MTU, as a router would: offsets count from 1480 and every piece, the last included,
    has MF set."""
    h = sender(variant)
    header = header_for(variant, fragment_offset=1480, more_fragments=True)
    payload = pattern(1480)
    pieces = fragment(h, header, payload, 576)
    check(len(pieces) >= 3, f"1480 bytes need at least 3 pieces at MTU 576, got {len(pieces)}")
    check_pieces(pieces, header, payload, 576)


def test_refragmenting_a_last_fragment_keeps_mf_clear_at_the_end(variant):
    """The last fragment of a datagram (offset 2960, MF clear), cut again: the new last
    piece keeps MF clear, the others have it set."""
    h = sender(variant)
    header = header_for(variant, fragment_offset=2960)
    payload = pattern(1000)
    pieces = fragment(h, header, payload, 576)
    check_pieces(pieces, header, payload, 576)


def test_only_copied_options_go_into_later_fragments(variant):
    """RFC 791 §3.1: options whose type has the copied bit (0x80) go into every fragment,
    the others into the first only. Security (130) is copied, Record Route (7) is not."""
    h = sender(variant)
    options = SECURITY + RECORD_ROUTE + bytes(2)  # 20 bytes, padded with End
    header = header_for(variant, options=options)
    pieces = fragment(h, header, pattern(600), 200)
    check(pieces[0][0].options == options, "the first fragment must keep every option")
    for number, (p, _) in enumerate(pieces[1:], 2):
        check(p.options == SECURITY + bytes(1),
              f"fragment {number} has options {p.options.hex()}, expected only the security "
              "option, padded to 4 bytes")
    check_pieces(pieces, header, pattern(600), 200)


def test_nops_are_not_copied_and_end_stops_the_option_list(variant):
    """NOP (1) is one byte and is not copied; End (0) ends the list, so the copied-looking
    bytes after it are padding, not an option. Later pieces carry only the security
    option, padded with End to a multiple of 4 bytes."""
    h = sender(variant)
    options = bytes([1, 1]) + SECURITY + bytes([0]) + bytes([130, 3, 0]) + bytes(3)
    header = header_for(variant, options=options)
    pieces = fragment(h, header, pattern(400), 200)
    check(pieces[0][0].options == options, "the first fragment must keep every option")
    for number, (p, _) in enumerate(pieces[1:], 2):
        check(p.options == SECURITY + bytes(1),
              f"fragment {number} has options {p.options.hex()}, expected "
              f"{(SECURITY + bytes(1)).hex()}")
    check_pieces(pieces, header, pattern(400), 200)


def test_later_fragments_have_room_for_more_data_without_uncopied_options(variant):
    """With 40 bytes of options that are not copied, the first piece has less room than
    the next ones: every piece must still fit the MTU."""
    h = sender(variant)
    options = RECORD_ROUTE * 5 + bytes(5)
    header = header_for(variant, options=options)
    payload = pattern(1000)
    pieces = fragment(h, header, payload, 120)
    check_pieces(pieces, header, payload, 120)
    check(all(p.options == b"" for p, _ in pieces[1:]), "later pieces must carry no options")


def test_an_mtu_with_no_room_for_8_bytes_is_a_value_error(variant):
    """A 60-byte header (40 bytes of options) and MTU 64 leave 4 bytes: not even one
    8-byte block. The interface says: raise ValueError (the stack never asks for this)."""
    h = sender(variant)
    header = header_for(variant, options=SECURITY * 3 + bytes(7))
    raised = []

    def call(stack, now):
        try:
            stack.units.fragmentation.fragment(header, pattern(100), 64)
        except ValueError as exc:
            raised.append(exc)

    h.call("fragment(60-byte header + 100 bytes, mtu=64)", call)
    check(len(raised) == 1, "expected ValueError: the MTU leaves no room for 8 bytes of data")


def test_the_pieces_carry_the_payload_not_a_copy_of_the_header(variant):
    """The data of each piece is the payload's bytes only: rebuilding datagrams from the
    pieces with the IPv4 codec gives frames a real receiver (this codec) parses, whose
    payloads join to the original."""
    h = sender(variant)
    header = header_for(variant)
    payload = pattern(3333)
    pieces = fragment(h, header, payload, 1000)
    rebuilt = b""
    for p, data in sorted(pieces, key=lambda x: x[0].fragment_offset):
        parsed, got = wire_ipv4.parse(wire_ipv4.build(p, data))
        check(parsed.fragment_offset == len(rebuilt), "offsets do not survive the wire")
        rebuilt += bytes(got)
    check(rebuilt == payload, "the pieces do not rebuild the payload after a trip through "
          "the codec")
    check(all(len(wire_ipv4.build(p, d)) <= 1000 for p, d in pieces),
          "a piece is over the MTU once built")
