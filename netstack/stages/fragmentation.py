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
    # BEGIN SOLUTION: walk the options (End stops, NOP is one byte, others carry a length) and keep those whose type has the copied bit
    kept = bytearray()
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == OPTION_END:
            break
        if kind == OPTION_NOP:
            i += 1
            continue
        length = options[i + 1] if i + 1 < len(options) else 0
        if length < 2:
            break  # malformed: stop rather than loop forever; the rest is not ours to judge
        if kind & OPTION_COPIED_BIT:
            kept += options[i : i + length]
        i += length
    kept += bytes(-len(kept) % WORD_LEN)
    return bytes(kept)
    # END SOLUTION


def fragment(
    header: IPv4Header, payload: bytes | memoryview, mtu: int
) -> list[tuple[IPv4Header, memoryview]]:
    """Split `header` + `payload` into pieces of at most `mtu` bytes each, header included.

    The slices are zero-copy views of `payload`. A datagram that already fits comes back whole.
    The caller checks DF first: this function fragments whatever it is given.
    """
    # BEGIN SOLUTION: whole if it fits; else pieces <= mtu, data a multiple of 8 but the last, offsets from header.fragment_offset, MF on all but the last (it keeps header's MF)
    view = memoryview(payload)
    if header.header_len + len(view) <= mtu:
        return [(header, view)]
    pieces: list[tuple[IPv4Header, memoryview]] = []
    later_options = options_for_later_fragments(header.options)
    offset = 0
    while offset < len(view):
        piece_header_len = header.header_len if offset == 0 else MIN_HEADER_LEN + len(later_options)
        room = (mtu - piece_header_len) // FRAGMENT_UNIT * FRAGMENT_UNIT
        if room <= 0:
            raise ValueError(f"MTU {mtu} leaves no room for fragment data")
        data = view[offset : offset + room]
        is_last = offset + len(data) >= len(view)
        piece = dataclasses.replace(
            header,
            # A datagram that was itself a fragment keeps its MF on its last piece.
            more_fragments=header.more_fragments if is_last else True,
            fragment_offset=header.fragment_offset + offset,
            options=header.options if offset == 0 else later_options,
        )
        pieces.append((piece, data))
        offset += len(data)
    return pieces
    # END SOLUTION
