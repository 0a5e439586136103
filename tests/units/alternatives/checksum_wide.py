"""A checksum unit that sums 64-bit words, then folds: a different, still correct, RFC 1071
implementation (§2(B): the sum may be computed in any word size, since 2^16 = 1 modulo
0xFFFF). It is slower than the native one and exists to show that a stack really uses the
checksum it is given: tests/units/test_alternatives.py and the interop test use it.

    pytest tests/unit/test_checksum_unit.py --impl checksum=tests.units.alternatives.checksum_wide
"""

import struct

WORD = 8  # bytes summed at a time
LOW_16 = 0xFFFF


def ones_complement_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The folded 16-bit one's-complement sum of `data` plus `initial` (not inverted)."""
    raw = bytes(data)
    # Zero bytes at the end change no 16-bit word but the padded last one, as RFC 1071 pads.
    raw += bytes(-len(raw) % WORD)
    total = initial + sum(struct.unpack(f"!{len(raw) // WORD}Q", raw))
    # Fold 64 -> 16 bits: each fold keeps the value modulo 0xFFFF, and never makes it 0.
    while total > LOW_16:
        total = (total & LOW_16) + (total >> 16)
    return total


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The value for a header's checksum field."""
    return ~ones_complement_sum(data, initial) & LOW_16
