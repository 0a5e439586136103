"""UDP echo (RFC 862): every datagram goes back to whoever sent it, byte for byte.

A datagram is the unit here: 1 byte or 65507 bytes, it comes back whole, as one datagram.
"""

from __future__ import annotations

import threading
from typing import Any

from netstack.services.runner import serve_datagrams

DEFAULT_PORT = 7


class Handler:
    def __init__(self) -> None:
        self.echoed = 0  # datagrams answered; read by tests and tools

    def handle(self, sock: Any, data: bytes, sender: tuple[str, int]) -> None:
        sock.sendto(data, sender)
        self.echoed += 1


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Echo on UDP `port` until `stop` is set (or the host closes)."""
    serve_datagrams(host, [(Handler(), port)], stop or threading.Event())
