"""Lab 1, part 2: the Ethernet II header (IEEE 802.3 clause 3.2.6; 802.1Q and 802.1ad tags).

Your ethernet_codec.py is called directly: `parse(frame)` -> (header, payload),
`write_header(header, buf, offset)` and `build(header, payload)`. Headers given to your code
are netstack.wire.ethernet's EthernetHeader / VlanTag (what the stack passes); the header
your parse returns is read by its fields (dst, src, ethertype, vlans: vid, pcp, dei, tpid).
Expected bytes come from the tests' own packing (lab01_bench.eth_header).
"""

from __future__ import annotations

from lab01_bench import (
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
    TPID_8021AD,
    TPID_8021Q,
    Checks,
    eth_header,
    malformed,
    raises_value_error,
    units,
)

from netstack.wire.ethernet import EthernetHeader, VlanTag


def bench(variant, title="Ethernet codec"):
    return Checks(title, variant), units().ethernet_codec


def fields(header) -> tuple:
    """(dst, src, ethertype) as bytes/bytes/int, whatever class holds them."""
    return bytes(header.dst), bytes(header.src), header.ethertype


def tags(header) -> list[tuple]:
    return [(t.tpid, t.vid, t.pcp, bool(t.dei)) for t in header.vlans]


def test_parse_reads_destination_source_and_ethertype(variant):
    """The first 6 bytes are the destination MAC, the next 6 the source, then the type."""
    c, eth = bench(variant)
    frame = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4) + b"payload!"
    header, _ = c.run("parse(frame)", lambda: eth.parse(frame))
    c.check("(dst, src, ethertype)", lambda: fields(header),
            (variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4))
    c.check("vlans of an untagged frame", lambda: tuple(header.vlans), ())


def test_parse_returns_the_bytes_after_the_header_as_payload(variant):
    """The payload is everything after byte 14, trailing padding included (Ethernet does not
    know where its payload ends; IPv4's total length does); a header alone has none."""
    c, eth = bench(variant)
    body = variant.rng.randbytes(46)
    frame = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_ARP) + body
    _, payload = c.run("parse(frame)", lambda: eth.parse(frame))
    c.check("bytes(payload)", lambda: bytes(payload), body)
    header_only = frame[:14]
    c.check("bytes(payload) of a 14-byte frame", lambda: bytes(eth.parse(header_only)[1]), b"")


def test_frames_shorter_than_a_header_are_truncated(variant):
    """0 to 13 bytes cannot hold dst, src and type: MalformedPacket('truncated')."""
    c, eth = bench(variant)
    full = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4)
    for n in (0, 1, 6, 12, 13):
        c.check(f"parse({n} bytes)", lambda n=n: malformed(lambda: eth.parse(full[:n])),
                "MalformedPacket(truncated)")


def test_broadcast_and_multicast_destinations_are_read_as_they_are(variant):
    """The codec does not filter: ff:ff:ff:ff:ff:ff and group addresses parse like any MAC
    (deciding what is ours is the Ethernet stage's job)."""
    c, eth = bench(variant)
    for dst in (b"\xff" * 6, bytes.fromhex("01005e000001"), variant.other_mac):
        frame = eth_header(dst, variant.peer_mac, ETHERTYPE_ARP) + bytes(28)
        c.check(f"dst of a frame to {dst.hex(':')}", lambda f=frame: bytes(eth.parse(f)[0].dst), dst)


def test_an_8021q_tag_is_read_into_vlans(variant):
    """TPID 0x8100 then TCI = PCP (3 bits) | DEI (1 bit) | VID (12 bits); the ethertype is
    the one after the tag, and the payload starts 4 bytes later."""
    c, eth = bench(variant)
    vid = variant.rng.randrange(1, 4095)
    frame = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4,
                       ((TPID_8021Q, 5 << 13 | 1 << 12 | vid),)) + b"inner"
    header, payload = c.run("parse(tagged frame)", lambda: eth.parse(frame))
    c.check("ethertype", lambda: header.ethertype, ETHERTYPE_IPV4)
    c.check("vlans as (tpid, vid, pcp, dei)", lambda: tags(header), [(TPID_8021Q, vid, 5, True)])
    c.check("bytes(payload)", lambda: bytes(payload), b"inner")


def test_stacked_tags_are_read_outermost_first(variant):
    """802.1ad (QinQ): an outer service tag (TPID 0x88a8) then a customer tag (0x8100)."""
    c, eth = bench(variant)
    outer, inner = variant.rng.randrange(4096), variant.rng.randrange(4096)
    frame = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_ARP,
                       ((TPID_8021AD, outer), (TPID_8021Q, 3 << 13 | inner))) + bytes(28)
    header, payload = c.run("parse(QinQ frame)", lambda: eth.parse(frame))
    c.check("vlans", lambda: tags(header), [(TPID_8021AD, outer, 0, False),
                                            (TPID_8021Q, inner, 3, False)])
    c.check("ethertype", lambda: header.ethertype, ETHERTYPE_ARP)
    c.check("len(payload)", lambda: len(payload), 28)


def test_a_frame_that_ends_inside_a_tag_is_truncated(variant):
    """A tag announces 4 more bytes and another type field: a frame too short for them is
    MalformedPacket('truncated')."""
    c, eth = bench(variant)
    frame = eth_header(variant.our_mac, variant.peer_mac, ETHERTYPE_IPV4, ((TPID_8021Q, 7),))
    for n in (14, 16, 17):
        c.check(f"parse(the first {n} bytes of a tagged header)",
                lambda n=n: malformed(lambda: eth.parse(frame[:n])), "MalformedPacket(truncated)")


def test_type_values_below_0x0600_are_lengths_not_ethertypes(variant):
    """IEEE 802.3 clause 3.2.6: a value below 0x0600 is an 802.3 length, not Ethernet II:
    MalformedPacket('not_ethernet_ii'). From 0x0600 up, any type parses, known or not (the
    stage decides what to do with it)."""
    c, eth = bench(variant)
    for value in (0x0000, 0x002E, 0x05DC, 0x05FF):
        frame = eth_header(variant.our_mac, variant.peer_mac, value) + bytes(46)
        c.check(f"parse(type field {value:#06x})", lambda f=frame: malformed(lambda: eth.parse(f)),
                "MalformedPacket(not_ethernet_ii)")
    for value in (0x0600, 0x86DD, 0x88B5, 0xFFFF):  # the first type, IPv6, experimental, max
        frame = eth_header(variant.our_mac, variant.peer_mac, value) + bytes(46)
        c.check(f"ethertype of a frame of type {value:#06x}",
                lambda f=frame: eth.parse(f)[0].ethertype, value)


def test_build_lays_out_destination_source_type_then_payload(variant):
    """build() adds no padding and no FCS: 14 header bytes, then the payload as given."""
    c, eth = bench(variant)
    body = variant.rng.randbytes(variant.rng.randrange(0, 60))
    header = EthernetHeader(variant.peer_mac, variant.our_mac, ETHERTYPE_IPV4)
    c.check("build(header, payload)", lambda: bytes(eth.build(header, body)),
            eth_header(variant.peer_mac, variant.our_mac, ETHERTYPE_IPV4) + body)


def test_build_writes_tags_between_the_source_and_the_ethertype(variant):
    """Each tag is TPID then TCI (PCP << 13 | DEI << 12 | VID), outermost first."""
    c, eth = bench(variant)
    vid = variant.rng.randrange(4096)
    header = EthernetHeader(variant.peer_mac, variant.our_mac, ETHERTYPE_ARP,
                            (VlanTag(100, 0, False, TPID_8021AD), VlanTag(vid, 6, True)))
    c.check("build(QinQ header, b'x')", lambda: bytes(eth.build(header, b"x")),
            eth_header(variant.peer_mac, variant.our_mac, ETHERTYPE_ARP,
                       ((TPID_8021AD, 100), (TPID_8021Q, 6 << 13 | 1 << 12 | vid))) + b"x")


def test_write_header_writes_its_bytes_at_the_offset_and_no_others(variant):
    """The stack prepends room in a buffer and asks for the header there: bytes before the
    offset and after the header stay as they were."""
    c, eth = bench(variant)
    offset = variant.rng.randrange(1, 40)
    buf = bytearray(b"\xee" * (offset + 14 + 10))
    header = EthernetHeader(variant.peer_mac, variant.our_mac, ETHERTYPE_IPV4)
    c.run(f"write_header(header, buf, {offset})", lambda: eth.write_header(header, buf, offset))
    c.check("buf", lambda: bytes(buf), b"\xee" * offset
            + eth_header(variant.peer_mac, variant.our_mac, ETHERTYPE_IPV4) + b"\xee" * 10)


def test_build_refuses_headers_ethernet_ii_cannot_carry(variant):
    """ValueError for MACs that are not 6 bytes, a type below 0x0600 or above 0xffff (or a
    tag's TPID, which a reader would take for a tag), a VID past 4095 or a PCP past 7."""
    c, eth = bench(variant)
    mac, peer = variant.our_mac, variant.peer_mac
    bad = [
        ("a 5-byte destination", EthernetHeader(peer[:5], mac, ETHERTYPE_IPV4)),
        ("a 7-byte source", EthernetHeader(peer, mac + b"\x00", ETHERTYPE_IPV4)),
        ("ethertype 0x05dc", EthernetHeader(peer, mac, 0x05DC)),
        ("ethertype 0x10000", EthernetHeader(peer, mac, 0x10000)),
        ("ethertype 0x8100", EthernetHeader(peer, mac, TPID_8021Q)),
        ("VID 4096", EthernetHeader(peer, mac, ETHERTYPE_IPV4, (VlanTag(4096),))),
        ("PCP 8", EthernetHeader(peer, mac, ETHERTYPE_IPV4, (VlanTag(1, 8),))),
        ("TPID 0x0800", EthernetHeader(peer, mac, ETHERTYPE_IPV4, (VlanTag(1, 0, False, 0x0800),))),
    ]
    for what, header in bad:
        c.check(f"build(header with {what})",
                lambda h=header: raises_value_error(lambda: eth.build(h, b"")), "ValueError")


def test_build_then_parse_gives_the_header_back(variant):
    """Random headers (tags or not) survive a round trip, payload included."""
    c, eth = bench(variant)
    rng = variant.rng
    for _ in range(10):
        vlans = tuple(VlanTag(rng.randrange(4096), rng.randrange(8), rng.random() < 0.5,
                              rng.choice([TPID_8021Q, TPID_8021AD]))
                      for _ in range(rng.randrange(3)))
        header = EthernetHeader(rng.randbytes(6), rng.randbytes(6),
                                rng.randrange(0x0600, 0x10000), vlans)
        if header.ethertype in (TPID_8021Q, TPID_8021AD):
            continue
        body = rng.randbytes(rng.randrange(0, 30))
        frame = c.run("build(random header)", lambda h=header, b=body: bytes(eth.build(h, b)))
        got, payload = c.run("parse(what build gave)", lambda f=frame: eth.parse(f))
        c.check("parsed (dst, src, ethertype), vlans, payload",
                lambda g=got, p=payload: (fields(g), tags(g), bytes(p)),
                (fields(header), tags(header), body))
