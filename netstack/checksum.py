"""The internet checksum (RFC 1071), with the helpers IPv4, ICMP, UDP and TCP need.

`ones_complement_sum` returns the 16-bit folded one's-complement sum (not inverted), so sums
can be chained: a pseudo-header sum is passed as `initial` to the sum over the segment.
`internet_checksum` inverts the folded sum: the value that goes in a header field.

The pure-Python functions here are the reference. When the native module is built, the fast
versions from `netstack.native` replace them (same names, same results).

This module is also the reference implementation of the *checksum unit* (netstack/units.py):
`ChecksumUnit` says what a replacement must provide. A stack given another one passes its
`internet_checksum` to the wire codecs it calls (`with_checksum`), so its own headers are
summed by it; with this module nothing is passed and nothing costs more.
"""

import functools
import struct
from collections.abc import Callable
from typing import Any, Protocol

from netstack import native  # native imports nothing from here: no cycle

Data = bytes | bytearray | memoryview
# internet_checksum(data, initial) -> the value for a header's checksum field
ChecksumFunction = Callable[..., int]


class ChecksumUnit(Protocol):
    """The checksum unit: two functions (a module that defines them satisfies this)."""

    def ones_complement_sum(self, data: Data, initial: int = 0) -> int:
        """The one's-complement sum of `data` read as big-endian 16-bit words (an odd length
        padded with one zero byte), plus `initial` (any non-negative int), folded to 16 bits
        and NOT inverted, so that sums chain: sum(b, sum(a)) == sum(a + b)."""
        ...

    def internet_checksum(self, data: Data, initial: int = 0) -> int:
        """`~ones_complement_sum(data, initial) & 0xFFFF`: the value for a header's checksum
        field, and 0 when computed over a header whose checksum field is already correct."""
        ...


def ones_complement_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """Reference: fold the big-endian 16-bit words of `data` (odd length padded with zero)."""
    # BEGIN SOLUTION: add the big-endian 16-bit words (pad odd), and initial; fold carries
    data = bytes(data)
    if len(data) % 2:
        data += b"\x00"
    total = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total
    # END SOLUTION


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The one's complement of the folded sum: the value for a header's checksum field."""
    # BEGIN SOLUTION: invert the folded sum, keep 16 bits
    # py_ones_complement_sum: the pure sum even where the native build replaced the name.
    return ~py_ones_complement_sum(data, initial) & 0xFFFF
    # END SOLUTION


# The pure-Python reference under names that stay pure when the native build is loaded
# (the tests' oracle, and what the benchmarks compare the C version with).
py_ones_complement_sum = ones_complement_sum
py_internet_checksum = internet_checksum


def pseudo_header_sum(src: bytes, dst: bytes, protocol: int, length: int) -> int:
    """Folded sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 9293 §3.1)."""
    return pseudo_header_sum_ints(
        int.from_bytes(src, "big"), int.from_bytes(dst, "big"), protocol, length
    )


def pseudo_header_sum_ints(src: int, dst: int, protocol: int, length: int) -> int:
    """`pseudo_header_sum` with the addresses as integers (`int(IPv4Address)`).

    The pseudo-header is six 16-bit words (the address halves, zero+protocol, length), so
    adding them as integers is cheaper than packing 12 bytes to sum them in C.
    """
    total = (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + protocol + length
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum_adjust(old_checksum: int, old_word: int, new_word: int) -> int:
    """RFC 1624 incremental update: the new checksum after one 16-bit word changed."""
    # BEGIN SOLUTION: RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), summed with end-around carries
    total = (~old_checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
    # END SOLUTION


def with_checksum(codec_function: Callable[..., Any], unit: Any) -> Callable[..., Any]:
    """`codec_function` (a wire function with an `internet_checksum` keyword) computing its
    checksums with `unit`'s. For this module's own checksum it is `codec_function` itself, so
    a stack with the reference checksum pays nothing per packet for the choice."""
    if unit.internet_checksum is internet_checksum:
        return codec_function
    return functools.partial(codec_function, internet_checksum=unit.internet_checksum)


# The native build is optional: without it (or with NETSTACK_PURE_PYTHON) the reference stands.
# Only netstack's own module switches: a copy of this file (lab 1's starter, a student's
# checksum.py) must run the code written in it, not netstack's C.
if native.BUILT and __name__ == "netstack.checksum":
    from netstack.native.checksum import internet_checksum, ones_complement_sum  # noqa: F401
