# Lab 1 starter, generated from tests/labs/fixture_labs/01/reference/checksum.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""The internet checksum (RFC 1071): the fixture lab's reference, with solution regions."""

import struct


def ones_complement_sum(data, initial=0):
    """The one's-complement sum of `data`'s big-endian 16-bit words, folded, not inverted."""
    # TODO(lab 1): add the 16-bit words, then fold the carries back in
    raise NotImplementedError("lab 1: ones_complement_sum")


def internet_checksum(data, initial=0):
    """The value for a header's checksum field."""
    # TODO(lab 1): invert the sum
    raise NotImplementedError("lab 1: internet_checksum")
