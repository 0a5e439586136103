"""A fragmentation unit that cuts a datagram into pieces of (nearly) equal size, where the
reference fills every piece but the last to the MTU. Both are correct (RFC 791 §3.2 only
asks for pieces that fit, carry multiples of 8 bytes but the last, and keep the offsets):

    pytest tests/stages/test_fragmentation.py \
        --impl fragmentation=tests.units.alternatives.fragmentation_balanced
"""

from __future__ import annotations

import dataclasses

from netstack.stages.fragmentation import options_for_later_fragments
from netstack.wire.ipv4 import FRAGMENT_UNIT, MIN_HEADER_LEN, IPv4Header


def fragment(
    header: IPv4Header, payload: bytes | memoryview, mtu: int
) -> list[tuple[IPv4Header, memoryview]]:
    view = memoryview(payload)
    if header.header_len + len(view) <= mtu:
        return [(header, view)]
    later_options = options_for_later_fragments(header.options)
    # The smallest room any piece has decides how many pieces there must be.
    room = (mtu - max(header.header_len, MIN_HEADER_LEN + len(later_options)))
    room = room // FRAGMENT_UNIT * FRAGMENT_UNIT
    if room <= 0:
        raise ValueError(f"MTU {mtu} leaves no room for fragment data")
    count = -(-len(view) // room)
    # Share the payload out in 8-byte blocks, as evenly as the blocks allow.
    blocks = -(-len(view) // FRAGMENT_UNIT)
    pieces: list[tuple[IPv4Header, memoryview]] = []
    offset = 0
    for index in range(count):
        share = blocks // count + (1 if index < blocks % count else 0)
        data = view[offset : offset + share * FRAGMENT_UNIT]
        is_last = index == count - 1
        piece = dataclasses.replace(
            header,
            more_fragments=header.more_fragments if is_last else True,
            fragment_offset=header.fragment_offset + offset,
            options=header.options if index == 0 else later_options,
        )
        pieces.append((piece, data))
        offset += len(data)
    return pieces
