"""Classic pcap files: the format tcpdump, Wireshark and scapy all read.

A file is a 24-byte global header followed by records, each a 16-byte record header
(seconds, microseconds, captured length, original length) and the frame bytes. We write
little-endian files, microsecond-resolution (or nanosecond, for virtual time), with LINKTYPE_ETHERNET; we read either byte
order and either resolution (microseconds or nanoseconds), because files handed to the
pcap port may come from any tool.
"""

import struct
from collections.abc import Iterator
from typing import BinaryIO

from netstack.errors import ConfigError

MAGIC_MICROSECONDS = 0xA1B2C3D4
MAGIC_NANOSECONDS = 0xA1B23C4D
VERSION_MAJOR = 2
VERSION_MINOR = 4
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IPv4 packets, no link header (a capture at the ipv4 or tcp stage)
DEFAULT_SNAPLEN = 65535

GLOBAL_HEADER = struct.Struct("<IHHiIII")  # magic, major, minor, thiszone, sigfigs, snaplen, linktype
RECORD_HEADER_LE = struct.Struct("<IIII")  # seconds, sub-second, captured length, original length
RECORD_HEADER_BE = struct.Struct(">IIII")
WRITE_BUFFER = 256 * 1024  # bytes


class PcapWriter:
    """Appends frames with timestamps to a pcap file (Ethernet frames, or raw IPv4 packets
    with `linktype=LINKTYPE_RAW`)."""

    def __init__(self, path: str, snaplen: int = DEFAULT_SNAPLEN,
                 nanoseconds: bool = False, linktype: int = LINKTYPE_ETHERNET) -> None:
        """`nanoseconds`: nanosecond timestamps (pcap's other magic number), for virtual
        time, where events microseconds apart must stay apart."""
        self.path = path
        self.snaplen = snaplen
        self._fraction = 1_000_000_000 if nanoseconds else 1_000_000
        try:
            # A large buffer: a capture writes a record per frame, and the default 8 KB one
            # would make a system call every five full-sized frames.
            self._file: BinaryIO = open(path, "wb", buffering=WRITE_BUFFER)  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise ConfigError(f"cannot write capture file {path}: {e.strerror}") from None
        self._file.write(
            GLOBAL_HEADER.pack(
                MAGIC_NANOSECONDS if nanoseconds else MAGIC_MICROSECONDS, VERSION_MAJOR, VERSION_MINOR, 0, 0, snaplen, linktype
            )
        )
        self.frames_written = 0

    def write(self, frame: bytes | bytearray | memoryview, timestamp: float) -> None:
        """Write one frame. `timestamp` is seconds since the epoch (wall clock, for humans)."""
        seconds = int(timestamp)
        fraction = int(round((timestamp - seconds) * self._fraction))
        if fraction >= self._fraction:  # rounding can carry into the next second
            seconds, fraction = seconds + 1, fraction - self._fraction
        length = len(frame)
        captured = min(length, self.snaplen)
        # One write of header and frame: a call less per frame (the copy is cheaper).
        self._file.write(RECORD_HEADER_LE.pack(seconds, fraction, captured, length)
                         + (frame if captured == length else frame[:captured]))
        self.frames_written += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_pcap(path: str, linktype: int = LINKTYPE_ETHERNET) -> Iterator[tuple[float, bytes]]:
    """Yield (timestamp, frame) for every record of a classic pcap file.

    Raises ConfigError for a file that is missing, not pcap, or not of `linktype`
    (Ethernet unless asked for another), so the CLI can
    report it on one line. A truncated last record ends the iteration quietly, as tcpdump does.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as e:
        raise ConfigError(f"cannot read pcap file {path}: {e.strerror}") from None
    with f:
        header = f.read(GLOBAL_HEADER.size)
        if len(header) < GLOBAL_HEADER.size:
            raise ConfigError(f"{path}: not a pcap file (too short)")
        record_header, divisor = _byte_order_and_resolution(path, header[:4])
        found = struct.unpack(record_header.format[0] + "I", header[20:24])[0]
        if found != linktype:
            what = "Ethernet (1)" if linktype == LINKTYPE_ETHERNET else f"{linktype}"
            raise ConfigError(f"{path}: link type {found} is not {what}")
        while True:
            raw = f.read(record_header.size)
            if len(raw) < record_header.size:
                return
            seconds, fraction, captured, _original = record_header.unpack(raw)
            frame = f.read(captured)
            if len(frame) < captured:
                return
            yield seconds + fraction / divisor, frame


def _byte_order_and_resolution(path: str, magic_bytes: bytes) -> tuple[struct.Struct, int]:
    for record_header, order in ((RECORD_HEADER_LE, "<"), (RECORD_HEADER_BE, ">")):
        (magic,) = struct.unpack(order + "I", magic_bytes)
        if magic == MAGIC_MICROSECONDS:
            return record_header, 1_000_000
        if magic == MAGIC_NANOSECONDS:
            return record_header, 1_000_000_000
    raise ConfigError(f"{path}: not a classic pcap file (pcapng is not supported)")
