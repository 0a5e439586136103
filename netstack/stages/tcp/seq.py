"""Sequence numbers: 32-bit counters that wrap (RFC 9293 §3.4).

Every sequence and acknowledgment number in the TCP stage is a `Seq`. Comparing two of them
only makes sense when they are less than 2^31 apart, and then "a < b" means "b is ahead of
a", even across the wrap from 2^32 - 1 to 0 (RFC 1982's serial number arithmetic):

    Seq(2**32 - 1) + 2 == Seq(1)        Seq(1) > Seq(2**32 - 1)
    Seq(1) - Seq(2**32 - 1) == 2        (a plain int: the distance)

`Seq + int` and `Seq - int` give a Seq; `Seq - Seq` gives a signed int. A Seq never mixes
with an int in a comparison, which keeps wrap bugs out: `seq < 5` raises TypeError.

The `tcp_seq` unit (netstack/units.py) is this arithmetic: `SeqUnit` says what any
implementation offers, and tests/stages/tcp/test_seq.py grades one given with `--impl
tcp_seq=...`. The stack itself always uses this `Seq`, even when StackConfig.impl names
another: Seq is a value, not a stage. Every TCP module makes them (`Seq(header.seq)`, several
per segment) and compares them with those of the others, so a swap would have to reach every
module at once, through a class looked up per segment, and a replacement whose values mixed
with ours would compare wrongly without any error. A wrong Seq would also break the whole
stack at once, where a lab wants one unit to fail its own tests.
"""

from __future__ import annotations

from typing import Protocol

MODULUS = 1 << 32
MASK = MODULUS - 1
HALF = 1 << 31


class SeqUnit(Protocol):
    """A sequence number modulo 2^32, immutable, built as `Seq(int)` (any int: reduced
    modulo 2^32). The operators carry the meaning:

        seq + n, seq - n     a new sequence number n bytes later / earlier (n an int)
        seq - other          the signed distance from `other` to `seq`, an int in
                             -2^31 .. 2^31 - 1 (positive: seq is ahead)
        < <= > >=            serial-number order (RFC 1982): a < b when b is ahead of a
        == and hash          by value; never equal to a plain int
    """

    value: int  # 0 .. 2^32 - 1

    def __add__(self, n: int) -> SeqUnit: ...

    def __sub__(self, other: SeqUnit | int) -> SeqUnit | int: ...

    def __lt__(self, other: SeqUnit) -> bool: ...

    def __le__(self, other: SeqUnit) -> bool: ...

    def __gt__(self, other: SeqUnit) -> bool: ...

    def __ge__(self, other: SeqUnit) -> bool: ...

    def distance(self, other: SeqUnit) -> int:
        """`self - other` as an int."""

    def in_window(self, start: SeqUnit, size: int) -> bool:
        """start <= self < start + size, across the wrap."""


class Seq:
    """A sequence number modulo 2^32 (never changed after creation).

    Every TCP module does this arithmetic several times per segment, so the operators
    spell the distance out instead of calling `distance` (a Python call each), and
    arithmetic makes its result without a second call to __init__."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        # BEGIN SOLUTION: keep value reduced modulo 2^32 (any int may be given, negative ones too)
        self.value = value & MASK  # treat it as immutable: arithmetic returns new ones
        # END SOLUTION

    def __add__(self, n: int) -> Seq:
        # BEGIN SOLUTION: a new Seq n bytes later, wrapped modulo 2^32
        seq = _new_seq(Seq)
        seq.value = (self.value + n) & MASK
        return seq
        # END SOLUTION

    def __sub__(self, other: Seq | int) -> Seq | int:  # type: ignore[override]
        # BEGIN SOLUTION: Seq - Seq: the signed distance (an int in -2^31 .. 2^31 - 1); Seq - int: a Seq
        if isinstance(other, Seq):
            # The signed distance from `other` to `self`, in -2^31 .. 2^31 - 1.
            return ((self.value - other.value + HALF) & MASK) - HALF
        seq = _new_seq(Seq)
        seq.value = (self.value - other) & MASK
        return seq
        # END SOLUTION

    def distance(self, other: Seq) -> int:
        """`self - other` as an int (the same as the operator, with a precise type)."""
        # BEGIN SOLUTION: the signed distance from `other` to `self`, -2^31 .. 2^31 - 1
        return ((self.value - other.value + HALF) & MASK) - HALF
        # END SOLUTION

    # The comparisons are `self.distance(other) < 0` and so on, written out.
    def __lt__(self, other: Seq) -> bool:
        # BEGIN SOLUTION: self is behind other (RFC 1982 serial-number order)
        return ((self.value - other.value + HALF) & MASK) - HALF < 0
        # END SOLUTION

    def __le__(self, other: Seq) -> bool:
        # BEGIN SOLUTION: self is behind other or equal
        return ((self.value - other.value + HALF) & MASK) - HALF <= 0
        # END SOLUTION

    def __gt__(self, other: Seq) -> bool:
        # BEGIN SOLUTION: self is ahead of other
        return ((self.value - other.value + HALF) & MASK) - HALF > 0
        # END SOLUTION

    def __ge__(self, other: Seq) -> bool:
        # BEGIN SOLUTION: self is ahead of other or equal
        return ((self.value - other.value + HALF) & MASK) - HALF >= 0
        # END SOLUTION

    def __eq__(self, other: object) -> bool:
        # BEGIN SOLUTION: equal to another Seq of the same value; never to a plain int
        return isinstance(other, Seq) and other.value == self.value
        # END SOLUTION

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
        # BEGIN SOLUTION: start <= self < start + size, across the wrap
        return 0 <= ((self.value - start.value + HALF) & MASK) - HALF < size
        # END SOLUTION


_new_seq = object.__new__  # a Seq whose value the caller sets, already reduced


def seq_max(a: Seq, b: Seq) -> Seq:
    return a if a >= b else b


def seq_min(a: Seq, b: Seq) -> Seq:
    return a if a <= b else b
