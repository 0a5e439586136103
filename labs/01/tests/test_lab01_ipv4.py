"""Lab 1, part 3: the IPv4 header (RFC 791 §3.1), with its checksum (RFC 1071).

Your ipv4_codec.py is called directly: `parse(datagram)` -> (header, payload), and
`write_header`, `write_plain_header`, `copy_plain_header`, `build`. Headers given to your
code are netstack.wire.ipv4's IPv4Header (what the stack passes); the header your parse
returns is read by its fields. Expected bytes come from the tests' own packing
(lab01_bench.ip_header), addresses from the variant.
"""

from __future__ import annotations

from lab01_bench import (
    Checks,
    header_fields,
    ip_header,
    malformed,
    oracle_checksum,
    oracle_sum,
    raises_value_error,
    random_header,
    units,
    words,
)

from netstack.checksum import py_internet_checksum
from netstack.wire.ipv4 import IPv4Header


def bench(variant, title="IPv4 codec"):
    return Checks(title, variant), units().ipv4_codec


def expected_fields(variant, **overrides):
    base = dict(src=variant.peer_ip, dst=variant.our_ip, protocol=1, ttl=64, tos=0,
                identification=0, dont_fragment=False, more_fragments=False, fragment_offset=0,
                options=b"", reserved_flag=False)
    return {**base, **overrides}


def test_parse_reads_every_field_of_a_plain_header(variant):
    """Version 4, IHL 5: TOS, identification, flags, TTL, protocol, addresses."""
    c, ip = bench(variant)
    ident = variant.rng.randrange(0x10000)
    data = ip_header(variant.peer_ip, variant.our_ip, protocol=17, ttl=33, tos=0xB8,
                     identification=ident, flags=2, total_len=28) + b"8 bytes!"
    header, _ = c.run("parse(datagram)", lambda: ip.parse(data))
    c.check("the header's fields", lambda: header_fields(header),
            expected_fields(variant, protocol=17, ttl=33, tos=0xB8, identification=ident,
                            dont_fragment=True))


def test_parse_returns_the_payload_up_to_the_total_length(variant):
    """Bytes after the total length (Ethernet's padding of short frames) are not payload."""
    c, ip = bench(variant)
    body = variant.rng.randbytes(9)
    data = ip_header(variant.peer_ip, variant.our_ip, total_len=29) + body + bytes(17)
    _, payload = c.run("parse(datagram + 17 bytes of padding)", lambda: ip.parse(data))
    c.check("bytes(payload)", lambda: bytes(payload), body)


def test_parse_reads_options_as_ihl_says(variant):
    """IHL counts 32-bit words: IHL 6 carries 4 option bytes, IHL 15 carries 40; they are
    kept as raw bytes and the payload starts after them."""
    c, ip = bench(variant)
    for words_of_options in (1, 10):
        options = variant.rng.randbytes(4 * words_of_options)
        body = b"after the options"
        data = ip_header(variant.peer_ip, variant.our_ip, options=options,
                         total_len=20 + len(options) + len(body)) + body
        header, payload = c.run(f"parse(IHL {5 + words_of_options})",
                                lambda d=data: ip.parse(d))
        c.check("options", lambda h=header: bytes(h.options), options)
        c.check("bytes(payload)", lambda p=payload: bytes(p), body)


def test_datagrams_shorter_than_20_bytes_are_truncated(variant):
    """Less than a minimal header, or less than the header IHL announces:
    MalformedPacket('truncated')."""
    c, ip = bench(variant)
    data = ip_header(variant.peer_ip, variant.our_ip)
    for n in (0, 1, 19):
        c.check(f"parse({n} bytes)", lambda n=n: malformed(lambda: ip.parse(data[:n])),
                "MalformedPacket(truncated)")
    longer = ip_header(variant.peer_ip, variant.our_ip, ihl=8, total_len=32) + bytes(4)
    c.check("parse(IHL 8 = 32 header bytes, 24 bytes given)",
            lambda: malformed(lambda: ip.parse(longer)), "MalformedPacket(truncated)")


def test_a_version_other_than_4_is_refused(variant):
    """The high nibble of the first byte must be 4: MalformedPacket('bad_version')."""
    c, ip = bench(variant)
    for version in (0, 5, 6, 15):
        data = ip_header(variant.peer_ip, variant.our_ip, version=version)
        c.check(f"parse(version {version})", lambda d=data: malformed(lambda: ip.parse(d)),
                "MalformedPacket(bad_version)")


def test_an_ihl_below_5_is_refused(variant):
    """A header is at least 5 words: IHL 0 to 4 is MalformedPacket('bad_ihl')."""
    c, ip = bench(variant)
    for ihl in (0, 1, 4):
        data = ip_header(variant.peer_ip, variant.our_ip, ihl=ihl)
        c.check(f"parse(IHL {ihl})", lambda d=data: malformed(lambda: ip.parse(d)),
                "MalformedPacket(bad_ihl)")


def test_a_total_length_shorter_than_the_header_is_refused(variant):
    """The total length counts the header: less than IHL * 4 is
    MalformedPacket('bad_total_length')."""
    c, ip = bench(variant)
    for total in (0, 19):
        data = ip_header(variant.peer_ip, variant.our_ip, total_len=total) + bytes(8)
        c.check(f"parse(total length {total})", lambda d=data: malformed(lambda: ip.parse(d)),
                "MalformedPacket(bad_total_length)")
    options = bytes(8)
    data = ip_header(variant.peer_ip, variant.our_ip, options=options, total_len=24) + bytes(8)
    c.check("parse(IHL 7, total length 24)", lambda: malformed(lambda: ip.parse(data)),
            "MalformedPacket(bad_total_length)")


def test_a_total_length_longer_than_the_data_is_refused(variant):
    """A datagram cut short (total length past the bytes received) is
    MalformedPacket('bad_total_length')."""
    c, ip = bench(variant)
    for extra in (1, 1000):
        data = ip_header(variant.peer_ip, variant.our_ip, total_len=20 + 10 + extra) + bytes(10)
        c.check(f"parse(total length {30 + extra}, 30 bytes)",
                lambda d=data: malformed(lambda: ip.parse(d)), "MalformedPacket(bad_total_length)")


def test_a_wrong_header_checksum_is_refused(variant):
    """Any bit flipped in the header (the checksum field included) makes it
    MalformedPacket('bad_checksum')."""
    c, ip = bench(variant)
    good = ip_header(**random_header(variant))
    for _ in range(6):
        bit = variant.rng.randrange(8 * len(good))
        if bit // 8 == 0:
            continue  # the version/IHL byte: another error comes first
        data = bytearray(good)
        data[bit // 8] ^= 0x80 >> (bit % 8)
        if bit // 8 in (2, 3) or oracle_sum(bytes(data)) == 0xFFFF:
            continue  # total length, or a flip the checksum cannot see
        c.check(f"parse(header with bit {bit} flipped)",
                lambda d=bytes(data): malformed(lambda: ip.parse(d)), "MalformedPacket(bad_checksum)")
    off_by_one = (words(good)[5] + 1) & 0xFFFF
    data = good[:10] + off_by_one.to_bytes(2, "big") + good[12:]
    c.check("parse(checksum one too high)", lambda: malformed(lambda: ip.parse(data)),
            "MalformedPacket(bad_checksum)")


def test_the_fragment_fields_are_read_from_the_flags_and_offset_word(variant):
    """Word 3: reserved | DF | MF | offset (13 bits, in 8-byte blocks). The header gives the
    offset in bytes."""
    c, ip = bench(variant)
    blocks = variant.rng.randrange(1, 0x2000)
    for flags, want in ((1, dict(more_fragments=True)), (2, dict(dont_fragment=True)),
                        (4, dict(reserved_flag=True)), (0, {})):
        data = ip_header(variant.peer_ip, variant.our_ip, flags=flags, offset_blocks=blocks)
        header, _ = c.run(f"parse(flags {flags:03b}, offset {blocks} blocks)",
                          lambda d=data: ip.parse(d))
        c.check("the header's fields", lambda h=header: header_fields(h),
                expected_fields(variant, fragment_offset=8 * blocks, **want))


def test_ttl_and_tos_at_their_extremes(variant):
    """TTL 0 and 255, TOS 0xff: the codec reads them as they are (TTL is the stage's)."""
    c, ip = bench(variant)
    for ttl, tos in ((0, 0xFF), (255, 0), (1, 0x02)):
        data = ip_header(variant.peer_ip, variant.our_ip, ttl=ttl, tos=tos)
        c.check(f"(ttl, tos) of a header with TTL {ttl}, TOS {tos:#x}",
                lambda d=data: (lambda h: (h.ttl, h.tos))(ip.parse(d)[0]), (ttl, tos))


def test_build_writes_what_an_independent_encoder_writes(variant):
    """build(header, payload): version 4, IHL, total length, every field, the checksum."""
    c, ip = bench(variant)
    f = random_header(variant)
    header = IPv4Header(f["src"], f["dst"], f["protocol"], f["ttl"], f["tos"],
                        f["identification"], dont_fragment=f["flags"] == 2, options=f["options"])
    body = variant.rng.randbytes(variant.rng.randrange(0, 50))
    c.check("build(header, payload)", lambda: bytes(ip.build(header, body)),
            ip_header(**f, total_len=20 + len(f["options"]) + len(body)) + body)


def test_build_writes_fragment_fields_and_options(variant):
    """MF, DF and the reserved bit, an offset in bytes written in 8-byte blocks, options."""
    c, ip = bench(variant)
    offset = 8 * variant.rng.randrange(0x2000)
    options = bytes([0x94, 0x04, 0x00, 0x00])  # Router Alert (RFC 2113), one word
    header = IPv4Header(variant.our_ip, variant.peer_ip, 17, 5, identification=7,
                        more_fragments=True, fragment_offset=offset, options=options,
                        reserved_flag=True)
    c.check("build(fragment header with options, 8 bytes)",
            lambda: bytes(ip.build(header, bytes(8))),
            ip_header(variant.our_ip, variant.peer_ip, 17, 5, identification=7, flags=5,
                      offset_blocks=offset // 8, options=options, total_len=32) + bytes(8))


def test_write_header_writes_its_bytes_at_the_offset_and_no_others(variant):
    """write_header(header, buf, offset, payload_len): the total length counts payload_len
    bytes that are not in `buf` yet; bytes outside the header are left alone."""
    c, ip = bench(variant)
    offset = variant.rng.randrange(1, 40)
    buf = bytearray(b"\xee" * (offset + 20 + 6))
    header = IPv4Header(variant.our_ip, variant.peer_ip, 6, 64, identification=99)
    c.run(f"write_header(header, buf, {offset}, payload_len=1000)",
          lambda: ip.write_header(header, buf, offset, 1000))
    c.check("buf", lambda: bytes(buf), b"\xee" * offset
            + ip_header(variant.our_ip, variant.peer_ip, 6, 64, identification=99, total_len=1020)
            + b"\xee" * 6)


def test_write_plain_header_writes_a_20_byte_header(variant):
    """The send path's header: TOS 0, no options, offset 0, DF as asked."""
    c, ip = bench(variant)
    ident = variant.rng.randrange(0x10000)
    for df in (True, False):
        buf = bytearray(20)
        c.run(f"write_plain_header(dont_fragment={df})",
              lambda b=buf, d=df: ip.write_plain_header(b, 0, variant.our_ip, variant.peer_ip,
                                                        17, 64, ident, d, 100))
        c.check("buf", lambda b=buf: bytes(b),
                ip_header(variant.our_ip, variant.peer_ip, 17, 64, identification=ident,
                          flags=2 if df else 0, total_len=120))


def test_copy_plain_header_changes_length_identification_and_checksum(variant):
    """A copy of a plain header with a new identification and total length, and so a new
    checksum; every other byte as in the template."""
    c, ip = bench(variant)
    template = bytearray(b"\x00" * 3) + bytearray(
        ip_header(variant.our_ip, variant.peer_ip, 6, 64, identification=1, flags=2,
                  total_len=1500))
    buf = bytearray(b"\xee" * 30)
    ident = variant.rng.randrange(0x10000)
    c.run(f"copy_plain_header(template, 3, buf, 5, {ident}, 400)",
          lambda: ip.copy_plain_header(template, 3, buf, 5, ident, 400))
    c.check("buf", lambda: bytes(buf),
            b"\xee" * 5 + ip_header(variant.our_ip, variant.peer_ip, 6, 64, identification=ident,
                                    flags=2, total_len=420) + b"\xee" * 5)


def test_write_header_refuses_what_ipv4_cannot_carry(variant):
    """ValueError for options that are not whole words or longer than 40 bytes, a fragment
    offset that is not a multiple of 8 or past 65528, a datagram over 65535 bytes, a TTL
    that does not fit a byte."""
    c, ip = bench(variant)
    src, dst = variant.our_ip, variant.peer_ip
    bad = [
        ("3 option bytes", IPv4Header(src, dst, 17, options=b"\x01\x01\x01"), 0),
        ("44 option bytes", IPv4Header(src, dst, 17, options=b"\x01" * 44), 0),
        ("fragment offset 7", IPv4Header(src, dst, 17, fragment_offset=7), 0),
        ("fragment offset 65536", IPv4Header(src, dst, 17, fragment_offset=65536), 0),
        ("65516 payload bytes", IPv4Header(src, dst, 17), 65516),
        ("TTL 256", IPv4Header(src, dst, 17, ttl=256), 0),
    ]
    for what, header, payload_len in bad:
        c.check(f"write_header({what})",
                lambda h=header, n=payload_len: raises_value_error(
                    lambda: ip.write_header(h, bytearray(h.header_len), 0, n)), "ValueError")
    c.check("write_header(65515 payload bytes: the largest datagram)",
            lambda: ip.write_header(IPv4Header(src, dst, 17), bytearray(20), 0, 65515), None)


def test_build_then_parse_gives_the_header_back(variant):
    """Random headers survive a round trip, and what build writes checks to 0."""
    c, ip = bench(variant)
    rng = variant.rng
    for _ in range(10):
        f = random_header(variant)
        header = IPv4Header(f["src"], f["dst"], f["protocol"], f["ttl"], f["tos"],
                            f["identification"], rng.random() < 0.5, rng.random() < 0.5,
                            8 * rng.randrange(0x2000), f["options"])
        body = rng.randbytes(rng.randrange(0, 40))
        data = c.run("build(random header)", lambda h=header, b=body: bytes(ip.build(h, b)))
        c.check("the oracle's checksum over the header built",
                lambda d=data, h=header: oracle_checksum(d[:h.header_len]), 0)
        got, payload = c.run("parse(what build gave)", lambda d=data: ip.parse(d))
        c.check("parsed fields and payload",
                lambda g=got, p=payload: (header_fields(g), bytes(p)),
                (header_fields(header), body))


def test_the_codec_sums_with_the_checksum_function_it_is_given(variant):
    """The stack passes its checksum unit's function as `internet_checksum=`: build and
    parse must sum with that one (here one that records its calls)."""
    c, ip = bench(variant)
    calls = []

    def recording(data, initial=0):
        calls.append(len(data))
        return py_internet_checksum(data, initial)

    header = IPv4Header(variant.our_ip, variant.peer_ip, 1)
    data = c.run("build(header, internet_checksum=recording)",
                 lambda: bytes(ip.build(header, b"abc", internet_checksum=recording)))
    c.check("calls made by build", lambda: len(calls) > 0, True)
    calls.clear()
    c.run("parse(datagram, internet_checksum=recording)",
          lambda: ip.parse(data, internet_checksum=recording))
    c.check("calls made by parse", lambda: len(calls) > 0, True)
