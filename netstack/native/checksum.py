"""RFC 1071 internet checksum in C (native/ns_checksum.c); same contract as netstack.checksum."""

from netstack.native._native import ffi, lib

_U64_MAX = (1 << 64) - 1


def _as_cdata(data: bytes | bytearray | memoryview):
    """A zero-copy char[] view of `data` (a copy only for non-contiguous memoryviews)."""
    try:
        return ffi.from_buffer(data)
    except (TypeError, ValueError, BufferError):
        return ffi.from_buffer(bytes(data))


def _fold(value: int) -> int:
    while value >> 16:
        value = (value & 0xFFFF) + (value >> 16)
    return value


def _check_initial(initial: int) -> int:
    if initial < 0:
        raise ValueError(f"initial must be a non-negative partial sum, got {initial}")
    # Folding first changes nothing in one's-complement arithmetic, and makes it fit C.
    return _fold(initial) if initial > _U64_MAX else initial


def ones_complement_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """Folded 16-bit one's-complement sum of the big-endian words of `data`, plus `initial`.

    Not inverted, so sums chain: pass the pseudo-header sum as `initial`.
    """
    buf = _as_cdata(data)
    return lib.ns_ones_complement_sum(buf, len(buf), _check_initial(initial))


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The value for a header's checksum field: the inverted `ones_complement_sum`."""
    buf = _as_cdata(data)
    return lib.ns_internet_checksum(buf, len(buf), _check_initial(initial))
