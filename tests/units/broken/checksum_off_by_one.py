"""A deliberately broken checksum unit: every checksum it computes is one too high (and so a
correct header no longer checks to 0). The checksum tests catch it directly, and a stack built
with it sends headers the harness (which decodes with the reference) refuses:

    pytest tests/stages/test_icmp.py --impl checksum=tests.units.broken.checksum_off_by_one
"""

from netstack.checksum import py_ones_complement_sum as ones_complement_sum  # noqa: F401


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    return (~ones_complement_sum(data, initial) + 1) & 0xFFFF
