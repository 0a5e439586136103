"""Lab 1 solved a second way: the internet checksum by 64-bit words.

RFC 1071 §2(C): the one's-complement sum can be formed over wider words and folded at the
end, because 2^16 is 1 modulo 0xFFFF. So the data is zero-padded to a multiple of 8 bytes
(trailing zero bytes add nothing), read as big-endian 64-bit words, added as Python ints,
and the total folded down to 16 bits. Written independently of netstack/checksum.py, to
show that lab 1's tests grade behaviour, not the reference's shape.
"""

from __future__ import annotations

import struct

MASK16 = 0xFFFF


def _fold(total: int) -> int:
    """Fold any non-negative int to 16 bits with end-around carries (stays 0 only for 0)."""
    while total > MASK16:
        total = (total >> 16) + (total & MASK16)
    return total


def ones_complement_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    raw = bytes(data)
    padding = -len(raw) % 8
    if padding:
        raw += bytes(padding)
    wide = struct.unpack(f">{len(raw) // 8}Q", raw) if raw else ()
    return _fold(sum(wide) + initial)


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    return ones_complement_sum(data, initial) ^ MASK16


def _add(a: int, b: int) -> int:
    """One's-complement addition of two 16-bit values."""
    total = a + b
    return (total & MASK16) + (total >> 16)


def checksum_adjust(old_checksum: int, old_word: int, new_word: int) -> int:
    # RFC 1624 eqn. 3: the old sum is ~HC; take m out (add ~m), put m' in, complement again.
    # Adding (never subtracting) keeps a nonzero sum away from +0, so a sum of -0 gives
    # the checksum 0x0000 that a full recomputation gives.
    updated = _add(_add(old_checksum ^ MASK16, old_word ^ MASK16), new_word)
    return updated ^ MASK16
