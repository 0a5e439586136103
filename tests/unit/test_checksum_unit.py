"""The checksum unit's own tests: any implementation of ChecksumUnit (netstack/checksum.py)
must pass them. They call the unit under test through the `units` fixture, so

    pytest tests/unit/test_checksum_unit.py --impl checksum=mylab.checksum

grades `mylab/checksum.py`. The oracle is the pure-Python reference, which RFC 1071's own
example pins down."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.checksum import py_internet_checksum, py_ones_complement_sum
from tests.checksum_cases import IPV4_HEADER, KNOWN_SUMS, RFC1071_EXAMPLE


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
        *KNOWN_SUMS,
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
