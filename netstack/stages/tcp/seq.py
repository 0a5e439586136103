"""Sequence numbers: 32-bit counters that wrap (RFC 9293 §3.4).

Every sequence and acknowledgment number in the TCP stage is a `Seq`. Comparing two of them
only makes sense when they are less than 2^31 apart, and then "a < b" means "b is ahead of
a", even across the wrap from 2^32 - 1 to 0 (RFC 1982's serial number arithmetic):

    Seq(2**32 - 1) + 2 == Seq(1)        Seq(1) > Seq(2**32 - 1)
    Seq(1) - Seq(2**32 - 1) == 2        (a plain int: the distance)

`Seq + int` and `Seq - int` give a Seq; `Seq - Seq` gives a signed int. A Seq never mixes
with an int in a comparison, which keeps wrap bugs out: `seq < 5` raises TypeError.
"""

from __future__ import annotations

MODULUS = 1 << 32
MASK = MODULUS - 1
HALF = 1 << 31


class Seq:
    """A sequence number modulo 2^32 (never changed after creation)."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value & MASK  # treat it as immutable: arithmetic returns new ones

    def __add__(self, n: int) -> Seq:
        return Seq(self.value + n)

    def __sub__(self, other: Seq | int) -> Seq | int:  # type: ignore[override]
        if isinstance(other, Seq):
            # The signed distance from `other` to `self`, in -2^31 .. 2^31 - 1.
            return ((self.value - other.value + HALF) & MASK) - HALF
        return Seq(self.value - other)

    def distance(self, other: Seq) -> int:
        """`self - other` as an int (the same as the operator, with a precise type)."""
        return ((self.value - other.value + HALF) & MASK) - HALF

    def __lt__(self, other: Seq) -> bool:
        return self.distance(other) < 0

    def __le__(self, other: Seq) -> bool:
        return self.distance(other) <= 0

    def __gt__(self, other: Seq) -> bool:
        return self.distance(other) > 0

    def __ge__(self, other: Seq) -> bool:
        return self.distance(other) >= 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Seq) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"Seq({self.value})"

    def in_window(self, start: Seq, size: int) -> bool:
        """start <= self < start + size (RFC 9293 §3.4's test, done without overflow)."""
        return 0 <= self.distance(start) < size


def seq_max(a: Seq, b: Seq) -> Seq:
    return a if a >= b else b


def seq_min(a: Seq, b: Seq) -> Seq:
    return a if a <= b else b
