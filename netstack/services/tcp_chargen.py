"""TCP character generator (RFC 864): send a fixed pattern until the client closes.

The pattern is the one the RFC suggests: lines of 72 printable ASCII characters (codes 32 to
126, 95 of them) and CR LF. Line k starts at the k-th character of that set, wrapping round,
so the whole stream repeats every 95 lines (7030 bytes):

    !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh
    "#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghi

Anything the client sends is read and dropped. The client's FIN (or reset) ends the stream.
"""

from __future__ import annotations

import errno
import threading
from typing import Any

from netstack import api
from netstack.services.stream_runner import serve_streams

DEFAULT_PORT = 19
PRINTABLE = bytes(range(32, 127))  # the 95 printable ASCII characters, space first
LINE_LENGTH = 72


def _line(k: int) -> bytes:
    start = k % len(PRINTABLE)
    doubled = PRINTABLE + PRINTABLE
    return doubled[start : start + LINE_LENGTH] + b"\r\n"


CYCLE = b"".join(_line(k) for k in range(len(PRINTABLE)))  # 95 lines, then it repeats
# What one sendall hands over: whole cycles, so the stream stays in phase; about 256 KB, a
# whole send buffer, so a bulk transfer costs the service thread few calls.
BLOCK = CYCLE * (262144 // len(CYCLE))


def chargen_bytes(n: int) -> bytes:
    """The first `n` bytes of the stream (for clients and tests to compare with)."""
    cycles, rest = divmod(n, len(CYCLE))
    return CYCLE * cycles + CYCLE[:rest]


class Handler:
    def __init__(self) -> None:
        self.connections = 0
        self.bytes = 0  # sent, over every connection

    def serve_connection(self, sock: Any, peer: tuple[str, int]) -> None:
        self.connections += 1
        while not self._client_closed(sock):
            sock.sendall(BLOCK)
            self.bytes += len(BLOCK)

    @staticmethod
    def _client_closed(sock: Any) -> bool:
        """Drain what the client sent; True once its FIN has arrived."""
        while True:
            try:
                data = sock.recv(65536, api.MSG_DONTWAIT)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    return False
                raise
            if not data:
                return True


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Generate characters on TCP `port` until `stop` is set (or the host closes)."""
    serve_streams(host, [(Handler(), port)], stop or threading.Event())
