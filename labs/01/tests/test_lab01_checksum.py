"""Lab 1, part 1: the internet checksum (RFC 1071) and its incremental update (RFC 1624).

Your checksum.py is called directly: `ones_complement_sum(data, initial)`,
`internet_checksum(data, initial)` and `checksum_adjust(old_checksum, old_word, new_word)`.
Each fact is one numbered step; the expected values come from the tests' own oracle
(lab01_bench.oracle_sum: arithmetic modulo 0xFFFF, a different road to the same sum) or are
worked out in the docstring. Random data comes from the variant's rng.
"""

from __future__ import annotations

from lab01_bench import Checks, ip_header, oracle_checksum, oracle_sum, random_header, units, words


def bench(variant, title="checksum"):
    return Checks(title, variant), units().checksum


def test_the_rfc_1071_example_sums_to_ddf2(variant):
    """RFC 1071 §3's example: the words 0001 f203 f4f5 f6f7 add up to 2ddf0; folding the
    carry (2 + ddf0) gives ddf2, and the checksum is its complement, 220d."""
    c, ck = bench(variant)
    data = bytes.fromhex("0001f203f4f5f6f7")
    c.check("ones_complement_sum(0001 f203 f4f5 f6f7)", lambda: ck.ones_complement_sum(data),
            0xDDF2)
    c.check("internet_checksum(0001 f203 f4f5 f6f7)", lambda: ck.internet_checksum(data), 0x220D)


def test_empty_and_all_zero_data_sum_to_the_initial_value(variant):
    """An empty buffer, or zeros of any length (odd ones too), adds nothing: the sum is
    `initial` (0 by default) and the checksum 0xffff."""
    c, ck = bench(variant)
    c.check("ones_complement_sum(b'')", lambda: ck.ones_complement_sum(b""), 0)
    c.check("internet_checksum(b'')", lambda: ck.internet_checksum(b""), 0xFFFF)
    c.check("ones_complement_sum(b'', 0x1234)", lambda: ck.ones_complement_sum(b"", 0x1234),
            0x1234)
    c.check("ones_complement_sum(9 zero bytes, 0x1234)",
            lambda: ck.ones_complement_sum(bytes(9), 0x1234), 0x1234)
    for n in (1, 2, 9, 20):
        c.check(f"ones_complement_sum({n} zero bytes)", lambda n=n: ck.ones_complement_sum(bytes(n)),
                0)
        c.check(f"internet_checksum({n} zero bytes)", lambda n=n: ck.internet_checksum(bytes(n)),
                0xFFFF)


def test_all_ones_data_sums_to_ffff_and_checks_to_zero(variant):
    """0xffff words are one's complement -0: any number of them sums to 0xffff. Three 0xff
    bytes are ffff + ff00 (the odd byte padded) = 1feff, folded: feff + 1 = ff00."""
    c, ck = bench(variant)
    for n in (2, 4, 4096):
        c.check(f"ones_complement_sum({n} bytes of ff)",
                lambda n=n: ck.ones_complement_sum(b"\xff" * n), 0xFFFF)
        c.check(f"internet_checksum({n} bytes of ff)",
                lambda n=n: ck.internet_checksum(b"\xff" * n), 0x0000)
    c.check("ones_complement_sum(ff ff ff)", lambda: ck.ones_complement_sum(b"\xff" * 3), 0xFF00)
    c.check("internet_checksum(ff ff ff)", lambda: ck.internet_checksum(b"\xff" * 3), 0x00FF)


def test_an_odd_last_byte_is_the_high_half_of_a_padded_word(variant):
    """RFC 1071 §4.1: an odd byte count is padded with a zero byte at the end, so the last
    byte counts as the HIGH half of a word: 01 -> 0x0100, and 12 34 56 -> 1234 + 5600."""
    c, ck = bench(variant)
    c.check("ones_complement_sum(01)", lambda: ck.ones_complement_sum(b"\x01"), 0x0100)
    c.check("ones_complement_sum(12 34 56)", lambda: ck.ones_complement_sum(b"\x12\x34\x56"),
            0x6834)
    c.check("internet_checksum(12 34 56)", lambda: ck.internet_checksum(b"\x12\x34\x56"), 0x97CB)


def test_a_carry_out_of_16_bits_is_added_back_in(variant):
    """End-around carry: ffff + 0001 = 1 0000 folds to 0001; 8000 + 8000 folds to 0001;
    fffe + 0003 = 1 0001 folds to 0002."""
    c, ck = bench(variant)
    c.check("ones_complement_sum(ffff 0001)", lambda: ck.ones_complement_sum(b"\xff\xff\x00\x01"),
            0x0001)
    c.check("ones_complement_sum(8000 8000)", lambda: ck.ones_complement_sum(b"\x80\x00\x80\x00"),
            0x0001)
    c.check("ones_complement_sum(fffe 0003)", lambda: ck.ones_complement_sum(b"\xff\xfe\x00\x03"),
            0x0002)


def test_a_sum_is_folded_until_it_fits_in_16_bits(variant):
    """One fold is not always enough: ffff + fffe + 0002 = 2 0000 + ... A folded sum is
    always at most 0xffff, and a huge `initial` (up to 2^48, as a caller summing a
    pseudo-header may pass) folds too."""
    c, ck = bench(variant)
    data = bytes.fromhex("fffffffe0002")
    c.check("ones_complement_sum(ffff fffe 0002)", lambda: ck.ones_complement_sum(data),
            oracle_sum(data))
    c.check("ones_complement_sum(ffff, 0xffff)", lambda: ck.ones_complement_sum(b"\xff\xff",
                                                                                 0xFFFF), 0xFFFF)
    big = 2**40 + 5
    c.check(f"ones_complement_sum(12 34 56, {big})",
            lambda: ck.ones_complement_sum(b"\x12\x34\x56", big), oracle_sum(b"\x12\x34\x56", big))
    c.check(f"ones_complement_sum(b'', {2**48 - 1})",
            lambda: ck.ones_complement_sum(b"", 2**48 - 1), oracle_sum(b"", 2**48 - 1))


def test_the_checksum_is_the_complement_of_the_sum(variant):
    """internet_checksum(d, i) == ~ones_complement_sum(d, i) & 0xffff, on random buffers."""
    c, ck = bench(variant)
    for _ in range(8):
        data = variant.rng.randbytes(variant.rng.randrange(0, 64))
        initial = variant.rng.randrange(0x10000)
        total = c.run("ones_complement_sum", lambda d=data, i=initial: ck.ones_complement_sum(d, i))
        c.check(f"internet_checksum({data.hex()}, {initial:#x})",
                lambda d=data, i=initial: ck.internet_checksum(d, i), ~total & 0xFFFF)


def test_random_buffers_sum_as_the_oracle_does(variant):
    """Buffers of random lengths (0 to 1500, odd and even) and random initial values."""
    c, ck = bench(variant)
    for _ in range(20):
        data = variant.rng.randbytes(variant.rng.randrange(0, 1501))
        initial = variant.rng.choice([0, variant.rng.randrange(0x10000)])
        c.check(f"ones_complement_sum({len(data)} random bytes, {initial:#x})",
                lambda d=data, i=initial: ck.ones_complement_sum(d, i), oracle_sum(data, initial))


def test_sums_chain_through_initial(variant):
    """sum(tail, initial=sum(head)) == sum(head + tail) when head has an even length: that is
    how UDP and TCP add their pseudo-header."""
    c, ck = bench(variant)
    for _ in range(6):
        head = variant.rng.randbytes(2 * variant.rng.randrange(0, 30))
        tail = variant.rng.randbytes(variant.rng.randrange(0, 60))
        first = c.run("sum(head)", lambda h=head: ck.ones_complement_sum(h))
        c.check(f"sum({len(tail)}-byte tail, initial=sum({len(head)}-byte head))",
                lambda t=tail, f=first: ck.ones_complement_sum(t, f), oracle_sum(head + tail))


def test_swapping_the_bytes_of_every_word_swaps_the_sum(variant):
    """RFC 1071 §2(B): the sum does not care about byte order. Summing byte-swapped words
    gives the byte-swapped sum."""
    c, ck = bench(variant)
    for _ in range(5):
        data = variant.rng.randbytes(2 * variant.rng.randrange(1, 40))
        swapped = b"".join(data[i + 1:i + 2] + data[i:i + 1] for i in range(0, len(data), 2))
        straight = oracle_sum(data)
        c.check(f"ones_complement_sum of {len(data)} byte-swapped bytes",
                lambda s=swapped: ck.ones_complement_sum(s),
                ((straight & 0xFF) << 8) | (straight >> 8))


def test_bytearrays_and_memoryview_slices_sum_like_bytes(variant):
    """The stack sums slices of its buffers (bytearray, memoryview), at odd offsets too."""
    c, ck = bench(variant)
    data = variant.rng.randbytes(77)
    buf = bytearray(b"\xaa" * 3 + data)
    view = memoryview(buf)[3:]
    c.check("ones_complement_sum(bytearray)", lambda: ck.ones_complement_sum(bytearray(data)),
            oracle_sum(data))
    c.check("ones_complement_sum(memoryview at offset 3)", lambda: ck.ones_complement_sum(view),
            oracle_sum(data))
    c.check("internet_checksum(memoryview at offset 3, 0x0102)",
            lambda: ck.internet_checksum(view, 0x0102), oracle_checksum(data, 0x0102))
    c.check("the buffer afterwards", lambda: bytes(buf[3:]), data)


def test_a_header_with_its_checksum_in_place_checks_to_zero(variant):
    """RFC 1071 §1: with the right checksum in its field, a header sums to 0xffff, so the
    checksum computed over it is 0 (that is how a receiver checks one)."""
    c, ck = bench(variant)
    fields = random_header(variant)
    blank = ip_header(**fields, checksum=0)
    right = c.check("internet_checksum(header with checksum 0)",
                    lambda: ck.internet_checksum(blank), oracle_checksum(blank))
    filled = blank[:10] + right.to_bytes(2, "big") + blank[12:]
    c.check("internet_checksum(the same header, checksum filled in)",
            lambda: ck.internet_checksum(filled), 0)


# --- RFC 1624: incremental update --------------------------------------------------------


def recompute(header: bytes, index: int, new_word: int) -> tuple[bytes, int]:
    """The header with word `index` replaced, and its checksum recomputed from scratch."""
    changed = header[:2 * index] + new_word.to_bytes(2, "big") + header[2 * index + 2:]
    blank = changed[:10] + b"\x00\x00" + changed[12:]
    return changed, oracle_checksum(blank)


def adjust_step(c, ck, header: bytes, index: int, new_word: int, what: str) -> bytes:
    old_checksum, old_word = words(header)[5], words(header)[index]
    changed, expected = recompute(header, index, new_word)
    c.check(f"checksum_adjust({old_checksum:#06x}, {old_word:#06x}, {new_word:#06x}) ({what})",
            lambda: ck.checksum_adjust(old_checksum, old_word, new_word), expected)
    return changed[:10] + expected.to_bytes(2, "big") + changed[12:]


def test_adjusting_for_a_ttl_decrement_matches_recomputing(variant):
    """A router decrements TTL (the high byte of word 4, TTL|protocol) and patches the
    checksum (RFC 1624 §3, RFC 1812 §5.3.1) instead of summing the header again."""
    c, ck = bench(variant)
    header = ip_header(**{**random_header(variant), "ttl": 64})
    for ttl in (63, 62, 1, 0):
        protocol = header[9]
        header = adjust_step(c, ck, header, 4, ttl << 8 | protocol, f"TTL -> {ttl}")


def test_adjusting_for_a_new_address_matches_recomputing(variant):
    """A 32-bit field is two words: adjust for each in turn (a NAT rewriting the source)."""
    c, ck = bench(variant)
    header = ip_header(**random_header(variant))
    new_src = variant.other_ip.packed
    header = adjust_step(c, ck, header, 6, int.from_bytes(new_src[:2], "big"), "src, high half")
    header = adjust_step(c, ck, header, 7, int.from_bytes(new_src[2:], "big"), "src, low half")
    c.check("the oracle's checksum over the patched header", lambda: oracle_sum(header), 0xFFFF)


def test_adjusting_to_a_sum_of_minus_zero_gives_0000_not_ffff(variant):
    """RFC 1624 §3's corner case: when the new header's sum is 0xffff, its checksum is
    0x0000 (what summing from scratch gives). RFC 1141's eqn. 2, HC - ~m - m', gives
    0xffff there; eqn. 3, ~(~HC + ~m + m'), gives 0x0000. The test picks the new
    identification so that the header's sum becomes exactly 0xffff."""
    c, ck = bench(variant)
    while True:  # a header whose identification must change (nearly always the first)
        header = ip_header(**random_header(variant))
        without_id = header[:4] + b"\x00\x00" + header[6:10] + b"\x00\x00" + header[12:]
        new_id = 0xFFFF - oracle_sum(without_id)  # the rest + new_id == 0xffff: a sum of -0
        if new_id != words(header)[2]:
            break
    adjusted = adjust_step(c, ck, header, 2, new_id, "a sum of 0xffff")
    c.check("the adjusted checksum", lambda: words(adjusted)[5], 0x0000)
    # And back: starting from a checksum of 0x0000 must work as well.
    adjust_step(c, ck, adjusted, 2, words(header)[2], "back to the old identification")


def test_adjusting_random_headers_matches_recomputing(variant):
    """Random headers from the variant, one random word changed (never the checksum)."""
    c, ck = bench(variant)
    for _ in range(25):
        header = ip_header(**random_header(variant))
        index = variant.rng.choice([0, 1, 2, 3, 4, 6, 7, 8, 9])
        new_word = variant.rng.choice([0, 0xFFFF, variant.rng.randrange(0x10000)])
        adjust_step(c, ck, header, index, new_word, f"word {index}")


def test_adjusting_for_an_unchanged_word_keeps_the_checksum(variant):
    """m == m': nothing changed, and the checksum stays what it was."""
    c, ck = bench(variant)
    header = ip_header(**random_header(variant))
    for index in (2, 4, 8):
        adjust_step(c, ck, header, index, words(header)[index], f"word {index} unchanged")
