"""The checksum unit's own tests: any implementation of ChecksumUnit (netstack/checksum.py)
must pass them. They call the unit under test through the `units` fixture, so

    pytest tests/unit/test_checksum_unit.py --impl checksum=mylab.checksum

grades `mylab/checksum.py`. The oracle is the pure-Python reference, which RFC 1071's own
example pins down."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.checksum import py_internet_checksum, py_ones_complement_sum

# RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded); the checksum is 220d.
RFC1071_EXAMPLE = bytes.fromhex("0001f203f4f5f6f7")
# An IPv4 header with its checksum field zeroed; the correct field value is 0xb861.
IPV4_HEADER = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")


def test_the_rfc_1071_example_sums_to_ddf2(units) -> None:
    assert units.checksum.ones_complement_sum(RFC1071_EXAMPLE) == 0xDDF2
    assert units.checksum.internet_checksum(RFC1071_EXAMPLE) == 0x220D


def test_a_header_with_its_checksum_in_place_checks_to_zero(units) -> None:
    assert units.checksum.internet_checksum(IPV4_HEADER) == 0xB861
    filled = IPV4_HEADER[:10] + b"\xb8\x61" + IPV4_HEADER[12:]
    assert units.checksum.internet_checksum(filled) == 0


@pytest.mark.parametrize(
    ("data", "initial", "expected_sum"),
    [
        (b"", 0, 0x0000),
        (b"", 0x1234, 0x1234),
        (b"\x01", 0, 0x0100),  # an odd byte is the high half of a padded word
        (b"\xff\xff", 0, 0xFFFF),
        (b"\xff\xff\x00\x01", 0, 0x0001),  # end-around carry
        (b"\x00" * 9, 0, 0x0000),
        (b"\xff" * 4096, 0, 0xFFFF),
        (b"\x80\x00", 0x8000, 0x0001),
        (b"\x12\x34\x56", 2**40 + 5, py_ones_complement_sum(b"\x12\x34\x56", 2**40 + 5)),
    ],
)
def test_known_sums_carries_and_odd_lengths(units, data, initial, expected_sum) -> None:
    assert units.checksum.ones_complement_sum(data, initial) == expected_sum
    assert units.checksum.internet_checksum(data, initial) == ~expected_sum & 0xFFFF


@given(data=st.binary(max_size=3000), initial=st.integers(0, 2**48))
def test_any_bytes_sum_as_the_reference_does(units, data: bytes, initial: int) -> None:
    assert units.checksum.ones_complement_sum(data, initial) == py_ones_complement_sum(
        data, initial)
    assert units.checksum.internet_checksum(data, initial) == py_internet_checksum(data, initial)


@given(data=st.binary(max_size=400), start=st.integers(0, 17), initial=st.integers(0, 0xFFFF))
def test_bytearrays_and_memoryview_slices_sum_like_bytes(units, data, start, initial) -> None:
    """Stages sum slices of mbuf bytearrays, at any offset, odd or even."""
    buf = bytearray(bytes(start) + data)
    view = memoryview(buf)[start:]
    expected = py_ones_complement_sum(data, initial)
    assert units.checksum.ones_complement_sum(view, initial) == expected
    assert units.checksum.ones_complement_sum(bytearray(data), initial) == expected
    assert units.checksum.internet_checksum(view, initial) == ~expected & 0xFFFF


@given(head=st.binary(max_size=200).filter(lambda b: len(b) % 2 == 0),
       tail=st.binary(max_size=200))
def test_sums_chain_through_initial(units, head: bytes, tail: bytes) -> None:
    """A pseudo-header sum passed as `initial` is how UDP and TCP checksums are built."""
    unit = units.checksum
    assert unit.ones_complement_sum(tail, unit.ones_complement_sum(head)) == \
        unit.ones_complement_sum(head + tail)
