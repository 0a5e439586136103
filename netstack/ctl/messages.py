"""One message in one buffer: a fixed header, then a JSON payload of bounded size.

    version u16 | kind u16 | request id u32 | status u16 | flags u16 | offset u32 |
    total u32 | length u32 | type (16 bytes, ASCII) | payload (length bytes of JSON)

A request names a `type` ("counters", "sockets"...) and carries its arguments as a JSON
object; the reply carries the request's id and type, a status, and one page of the answer:
`offset` and `total` place the page in the whole answer, and `flags & MORE` says another
page follows (the client asks for it with the same id and the next offset). Everything is
checked on the way in: a buffer another process wrote is never trusted.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from netstack.ctl.segment import PROTOCOL_VERSION

_MESSAGE = struct.Struct("=HHIHHIII16s")
HEADER_SIZE = _MESSAGE.size
REQUEST, REPLY = 1, 2
MORE = 1
# Reply statuses.
OK, FAILED, BAD_VERSION, UNKNOWN_TYPE, BAD_REQUEST = 0, 1, 2, 3, 4


class BadMessage(ValueError):
    """A buffer that does not hold a well-formed message (counted as garbage)."""


@dataclass
class Message:
    kind: int
    request_id: int
    type: str
    payload: bytes = b""
    status: int = OK
    flags: int = 0
    offset: int = 0
    total: int = 0
    version: int = PROTOCOL_VERSION
    args: dict[str, Any] = field(default_factory=dict)  # a request's decoded payload

    def write(self, buffer: memoryview) -> None:
        if HEADER_SIZE + len(self.payload) > len(buffer):
            raise ValueError(f"a {len(self.payload)}-byte payload does not fit a buffer")
        _MESSAGE.pack_into(buffer, 0, self.version, self.kind, self.request_id, self.status,
                           self.flags, self.offset, self.total, len(self.payload),
                           self.type.encode("ascii"))
        buffer[HEADER_SIZE:HEADER_SIZE + len(self.payload)] = self.payload


def capacity(buffer_size: int) -> int:
    """Payload bytes one buffer carries."""
    return buffer_size - HEADER_SIZE


def read(buffer: memoryview, kind: int) -> Message:
    """The message in `buffer`, which must be of `kind`; BadMessage if it is malformed. A
    request whose version differs is returned as it is (the caller answers BAD_VERSION)."""
    try:
        (version, found_kind, request_id, status, flags, offset, total, length,
         raw_type) = _MESSAGE.unpack_from(buffer, 0)
    except struct.error:
        raise BadMessage("shorter than a message header") from None
    if found_kind != kind:
        raise BadMessage(f"kind {found_kind}, expected {kind}")
    if length > len(buffer) - HEADER_SIZE:
        raise BadMessage(f"payload length {length} past the buffer")
    try:
        name = raw_type.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise BadMessage("a type that is not ASCII") from None
    if not name.replace("_", "").isalnum():
        raise BadMessage(f"type {name!r}")
    payload = bytes(buffer[HEADER_SIZE:HEADER_SIZE + length])
    message = Message(found_kind, request_id, name, payload, status, flags, offset, total,
                      version)
    if kind == REQUEST and version == PROTOCOL_VERSION:
        try:
            args = json.loads(payload) if payload else {}
        except (ValueError, UnicodeDecodeError):
            raise BadMessage("arguments that are not JSON") from None
        if not isinstance(args, dict):
            raise BadMessage("arguments that are not a JSON object")
        message.args = args
    return message
