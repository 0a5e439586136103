"""What lab 1's tests are written with.

- `units()`: the three units under test (yours where the grader says so, else netstack's).
- `Checks` (labs.kit.checks): a numbered transcript of facts about values; each call into
  your code is one step, under a CPU budget, with what you printed kept under it.
- The tests' own oracles, written independently of any codec: `oracle_sum` (the one's
  complement sum by arithmetic modulo 0xFFFF, not by folding words) and `ip_header` /
  `eth_header` (headers packed field by field with `struct`). A test compares your code
  with these, never with the reference's functions, so the tests grade behaviour.

Addresses, MACs and the random headers come from the variant: a hidden variant
(NETSTACK_LAB_VARIANT=SEED) runs the same scripts with other numbers.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address
from typing import Any

from labs.kit import Variant, graded_impl
from labs.kit.checks import Checks
from netstack.errors import MalformedPacket
from netstack.units import resolve_units

__all__ = ["Checks", "eth_header", "header_fields", "ip_header", "malformed", "oracle_checksum",
           "oracle_sum", "random_header", "raises_value_error", "units", "words"]

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8


def units() -> Any:
    """The units under test: the student's where the grader says so, else the reference."""
    return resolve_units(graded_impl())


# --- the oracles -------------------------------------------------------------------------


def oracle_sum(data: bytes, initial: int = 0) -> int:
    """The folded one's-complement sum, computed another way than folding: adding 16-bit
    words with end-around carry is arithmetic modulo 0xFFFF, where the result 0 is written
    0xFFFF unless every word (and `initial`) was 0."""
    data = bytes(data) + b"\x00" * (len(data) % 2)
    total = initial + sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    return 0 if total == 0 else (total - 1) % 0xFFFF + 1


def oracle_checksum(data: bytes, initial: int = 0) -> int:
    return 0xFFFF - oracle_sum(data, initial)


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def ip_header(src: IPv4Address, dst: IPv4Address, protocol: int = 1, ttl: int = 64,
              tos: int = 0, identification: int = 0, flags: int = 0, offset_blocks: int = 0,
              options: bytes = b"", total_len: int | None = None, version: int = 4,
              ihl: int | None = None, checksum: int | None = None) -> bytes:
    """An IPv4 header packed field by field (RFC 791 §3.1); the checksum is the oracle's
    unless given. `flags` is the 3-bit field (4 = reserved, 2 = DF, 1 = MF)."""
    ihl = (20 + len(options)) // 4 if ihl is None else ihl
    total_len = 20 + len(options) if total_len is None else total_len
    head = struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, tos, total_len, identification,
                       flags << 13 | offset_blocks, ttl, protocol, 0, src.packed, dst.packed)
    head += options
    if checksum is None:
        checksum = oracle_checksum(head)
    return head[:10] + checksum.to_bytes(2, "big") + head[12:]


def eth_header(dst: bytes, src: bytes, ethertype: int,
               tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    """dst | src | (TPID, TCI)* | ethertype."""
    return dst + src + b"".join(struct.pack("!HH", t, c) for t, c in tags) + \
        struct.pack("!H", ethertype)


def random_header(variant: Variant) -> dict[str, Any]:
    """The fields of a plausible header, drawn from the variant's rng."""
    rng = variant.rng
    return dict(src=variant.peer_ip, dst=variant.our_ip, protocol=rng.choice([1, 6, 17]),
                ttl=rng.randrange(1, 256), tos=rng.randrange(256),
                identification=rng.randrange(0x10000), flags=rng.choice([0, 2]),
                options=b"\x01" * 4 * rng.randrange(0, 3))


def header_fields(header: Any) -> dict[str, Any]:
    """The IPv4Header fields a test compares (whatever class the student's parse returns)."""
    names = ("src", "dst", "protocol", "ttl", "tos", "identification", "dont_fragment",
             "more_fragments", "fragment_offset", "options", "reserved_flag")
    return {name: getattr(header, name, "(missing)") for name in names}


# --- outcomes, as values a Checks step compares ------------------------------------------


def malformed(action) -> str:
    """'MalformedPacket(reason)' if `action` refuses the input that way, else what it gave.
    Any other exception propagates, and the step shows it with its traceback."""
    try:
        got = action()
    except MalformedPacket as exc:
        return f"MalformedPacket({exc.reason})"
    return f"no exception (returned {_short(got)})"


def raises_value_error(action) -> str:
    try:
        got = action()
    except ValueError:
        return "ValueError"
    return f"no exception (returned {_short(got)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 200 else text[:200] + "..."
