"""TCP discard (RFC 863): read every byte a client sends and throw it away, until it closes.

A sink that never pushes back except through TCP's own flow control: handy for measuring
how fast a sender can go.
"""

from __future__ import annotations

import threading
from typing import Any

from netstack.services.stream_runner import serve_streams

DEFAULT_PORT = 9
CHUNK = 262144  # large reads: one call per wakeup takes whatever has arrived


class Handler:
    def __init__(self) -> None:
        self.connections = 0
        self.bytes = 0  # read and dropped, over every connection

    def serve_connection(self, sock: Any, peer: tuple[str, int]) -> None:
        self.connections += 1
        buffer = bytearray(CHUNK)  # one buffer reused: nothing is kept
        while n := sock.recv_into(buffer):
            self.bytes += n


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Discard on TCP `port` until `stop` is set (or the host closes)."""
    serve_streams(host, [(Handler(), port)], stop or threading.Event())
