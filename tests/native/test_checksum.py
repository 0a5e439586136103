"""The native internet checksum agrees with the pure-Python reference of RFC 1071."""

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack import checksum
from netstack.checksum import py_internet_checksum, py_ones_complement_sum
from netstack.native.checksum import internet_checksum, ones_complement_sum
from tests.checksum_cases import IPV4_HEADER, KNOWN_SUMS, RFC1071_EXAMPLE


def test_rfc1071_example() -> None:
    assert ones_complement_sum(RFC1071_EXAMPLE) == 0xDDF2
    assert internet_checksum(RFC1071_EXAMPLE) == 0x220D


def test_ipv4_header_checksum_and_verification() -> None:
    assert internet_checksum(IPV4_HEADER) == 0xB861
    filled = IPV4_HEADER[:10] + b"\xb8\x61" + IPV4_HEADER[12:]
    assert internet_checksum(filled) == 0  # a correct header sums to 0xffff


@pytest.mark.parametrize(
    ("data", "initial", "expected_sum"),
    [
        *KNOWN_SUMS,
        (b"\x12\x34", 2**80 + 5, py_ones_complement_sum(b"\x12\x34", 2**80 + 5)),
    ],
)
def test_known_sums(data: bytes, initial: int, expected_sum: int) -> None:
    assert ones_complement_sum(data, initial) == expected_sum
    assert internet_checksum(data, initial) == ~expected_sum & 0xFFFF


@given(data=st.binary(max_size=2048), initial=st.integers(0, 2**70))
def test_equals_reference_on_bytes(data: bytes, initial: int) -> None:
    assert ones_complement_sum(data, initial) == py_ones_complement_sum(data, initial)
    assert internet_checksum(data, initial) == py_internet_checksum(data, initial)


@given(
    data=st.binary(min_size=0, max_size=300),
    start=st.integers(0, 15),
    initial=st.integers(0, 0xFFFF),
)
def test_equals_reference_on_unaligned_views(data: bytes, start: int, initial: int) -> None:
    for view in (
        bytearray(data)[start:],
        memoryview(data)[start:],
        memoryview(bytearray(data))[start:],
    ):
        assert ones_complement_sum(view, initial) == py_ones_complement_sum(view, initial)
        assert internet_checksum(view, initial) == py_internet_checksum(view, initial)


@given(data=st.binary(max_size=200), step=st.integers(2, 4))
def test_non_contiguous_memoryview(data: bytes, step: int) -> None:
    view = memoryview(data)[::step]
    assert ones_complement_sum(view) == py_ones_complement_sum(view)


@given(head=st.binary(max_size=100).filter(lambda b: len(b) % 2 == 0), tail=st.binary(max_size=100))
def test_sums_chain_through_initial(head: bytes, tail: bytes) -> None:
    # How UDP and TCP use it: the pseudo-header sum is the initial value of the segment sum.
    assert ones_complement_sum(tail, ones_complement_sum(head)) == ones_complement_sum(head + tail)


def test_large_buffer_equals_reference() -> None:
    data = bytes(range(256)) * 4099 + b"\xfe"  # about 1 MiB, odd length
    assert ones_complement_sum(data) == py_ones_complement_sum(data)


def test_negative_initial_is_rejected() -> None:
    with pytest.raises(ValueError):
        ones_complement_sum(b"ab", -1)


def test_netstack_checksum_uses_the_native_versions() -> None:
    assert checksum.ones_complement_sum is ones_complement_sum
    assert checksum.internet_checksum is internet_checksum


def test_without_the_build_the_pure_python_pieces_stand_in() -> None:
    # A fresh interpreter in which the compiled module cannot be imported.
    script = (
        "import sys\n"
        "sys.modules['netstack.native._native'] = None\n"
        "from netstack import checksum\n"
        "assert checksum.ones_complement_sum is checksum.py_ones_complement_sum\n"
        "import netstack.native as native\n"
        "from netstack.native import blocks, pure\n"
        "assert not native.BUILT and native.lib is None and blocks.Ring is pure.Ring\n"
        "assert blocks.Spinlock is pure.Spinlock\n"
        "print(native.NOT_BUILT_REASON)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "run `make setup` (or python native/build.py)" in result.stdout
