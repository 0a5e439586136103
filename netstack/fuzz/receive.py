"""Harness 1: `Stack.receive` with whatever frames an input holds (framing.py says how).

The stack has a listener, a UDP socket and an established connection (world.py), so a
frame may land in any of them; between frames virtual time moves on and the application
reads what arrived. Afterwards everything is closed and every timer runs out, and the
world's invariants must hold.
"""

from __future__ import annotations

from netstack.fuzz.framing import FIX_CHECKSUMS, fix_checksums, split
from netstack.fuzz.world import World


def one_input(data: bytes) -> None:
    flags, records = split(data)
    world = World()
    for record in records:
        if record.gap:
            world.advance(record.gap)
        frame = fix_checksums(record.frame) if flags & FIX_CHECKSUMS else record.frame
        world.deliver(frame)
        world.application_turn()
        world.check_bounds()
    world.advance(1.0)
    world.finish()
