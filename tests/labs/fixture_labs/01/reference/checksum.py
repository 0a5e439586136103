"""The internet checksum (RFC 1071): the fixture lab's reference, with solution regions."""

import struct


def ones_complement_sum(data, initial=0):
    """The one's-complement sum of `data`'s big-endian 16-bit words, folded, not inverted."""
    # BEGIN SOLUTION: add the 16-bit words, then fold the carries back in
    data = bytes(data)
    if len(data) % 2:
        data += b"\x00"
    total = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total
    # END SOLUTION


def internet_checksum(data, initial=0):
    """The value for a header's checksum field."""
    # BEGIN SOLUTION: invert the sum
    return ~ones_complement_sum(data, initial) & 0xFFFF
    # END SOLUTION
