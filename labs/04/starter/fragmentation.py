# Lab 4 starter, generated from netstack/stages/fragmentation.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""Splitting an IPv4 datagram to fit an MTU (RFC 791 §3.2, "Fragmentation").

A pure function: it decides the headers and payload slices; the IPv4 stage puts them in mbufs.
Every piece but the last carries a multiple of 8 payload bytes (the offset field counts 8-byte
units) and has MF set; all share the identification so the receiver can match them up.

This module is the reference of the fragmentation unit; `FragmentationUnit` is its interface.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from netstack.wire.ipv4 import FRAGMENT_UNIT, MIN_HEADER_LEN, WORD_LEN, IPv4Header


class FragmentationUnit(Protocol):
    """The fragmentation unit: one function (a module that defines it satisfies this)."""

    def fragment(
        self, header: IPv4Header, payload: bytes | memoryview, mtu: int
    ) -> list[tuple[IPv4Header, memoryview]]:
        """Pieces of at most `mtu` bytes (header included) whose payloads, in order, are
        `payload`: each but the last carries a multiple of 8 bytes with MF set, the last
        keeps `header`'s MF; offsets count from `header.fragment_offset`; only options with
        the copied bit go past the first piece. A datagram that fits comes back as one piece.
        ValueError when `mtu` leaves no room for 8 bytes of data."""
        ...


# RFC 791 §3.1, "Options": the top bit of the option type is the "copied" flag. Options with
# it set go into every fragment; the others only into the first.
OPTION_COPIED_BIT = 0x80
OPTION_END = 0
OPTION_NOP = 1


def options_for_later_fragments(options: bytes) -> bytes:
    """The options a non-first fragment carries, padded with End to a 4-byte multiple."""
    # TODO(lab 4): walk the options (End stops, NOP is one byte, others carry a length) and keep those whose type has the copied bit
    raise NotImplementedError("lab 4: options_for_later_fragments")


def fragment(
    header: IPv4Header, payload: bytes | memoryview, mtu: int
) -> list[tuple[IPv4Header, memoryview]]:
    """Split `header` + `payload` into pieces of at most `mtu` bytes each, header included.

    The slices are zero-copy views of `payload`. A datagram that already fits comes back whole.
    The caller checks DF first: this function fragments whatever it is given.
    """
    # TODO(lab 4): whole if it fits; else pieces <= mtu, data a multiple of 8 but the last, offsets from header.fragment_offset, MF on all but the last (it keeps header's MF)
    raise NotImplementedError("lab 4: fragment")
