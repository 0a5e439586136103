"""Counters, clocks and the pure-Python checksum reference."""

import pytest

from netstack.checksum import checksum_adjust, py_internet_checksum, py_ones_complement_sum
from netstack.clock import VirtualClock
from netstack.counters import Counters


def test_counters_start_at_zero_and_snapshot_hides_zeros():
    c = Counters()
    c.bump("ipv4.drop.bad_checksum")
    c.bump("ipv4.drop.bad_checksum", 2)
    assert c["arp.rx.request"] == 0
    assert c.snapshot() == {"ipv4.drop.bad_checksum": 3}
    assert c.matching("ipv4.") == {"ipv4.drop.bad_checksum": 3}
    assert c.matching("arp.") == {}


def test_virtual_clock_moves_only_forward_when_told():
    clock = VirtualClock(10.0)
    assert clock.now() == 10.0
    assert clock.advance(0.5) == 10.5
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_rfc1071_example():
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert py_ones_complement_sum(data) == 0xDDF2
    assert py_internet_checksum(data) == 0x220D


def test_a_packet_with_its_checksum_sums_to_zero():
    data = bytearray(bytes.fromhex("4500003c1c4640004006") + b"\x00\x00" + bytes.fromhex("ac100a63ac100a0c"))
    ck = py_internet_checksum(data)
    data[10:12] = ck.to_bytes(2, "big")
    assert py_internet_checksum(data) == 0


def test_incremental_update_matches_recomputation():
    data = bytearray(bytes.fromhex("450000281c4640004006000cac100a63ac100a0c"))
    ck = py_internet_checksum(data)
    old_word = int.from_bytes(data[8:10], "big")
    data[8] = 63  # TTL decremented
    new_word = int.from_bytes(data[8:10], "big")
    assert checksum_adjust(ck, old_word, new_word) == py_internet_checksum(data)
