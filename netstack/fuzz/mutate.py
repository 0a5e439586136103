"""A small, seeded mutator for the plain replay loop (the smoke run in `make test`, and
`--plain` where atheris is missing). It is not coverage-guided: atheris is for the long
runs. Every choice comes from the `random.Random` it is given, so a run repeats exactly."""

from __future__ import annotations

import random

INTERESTING = (0x00, 0x01, 0x02, 0x05, 0x7F, 0x80, 0xFE, 0xFF)
MAX_LEN = 4096


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """`data` changed by one to four edits: flipped bits, new bytes, cut or copied runs, or
    a splice with another input from `others`."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        edit = rng.randrange(8)
        if not out:
            out.append(rng.randrange(256))
            continue
        at = rng.randrange(len(out))
        if edit == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif edit == 1:
            out[at] = rng.randrange(256)
        elif edit == 2:
            out[at] = rng.choice(INTERESTING)
        elif edit == 3:  # a 16-bit field set to an edge value
            value = rng.choice((0, 1, 0x7FFF, 0x8000, 0xFFFF, len(out)))
            out[at : at + 2] = value.to_bytes(2, "big")
        elif edit == 4:
            del out[at : at + rng.randint(1, 16)]
        elif edit == 5:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif edit == 6:  # repeat a run (a duplicated option, frame or record)
            end = min(len(out), at + rng.randint(1, 64))
            out[end:end] = out[at:end]
        elif others:
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            out[at:] = other[cut:]
    return bytes(out[:MAX_LEN])
