"""UDP discard (RFC 863): read every datagram and throw it away. Useful as a sink that
never pushes back: whatever reaches it has been counted, so a sender can tell what got lost."""

from __future__ import annotations

import threading
from typing import Any

from netstack.services.runner import serve_datagrams

DEFAULT_PORT = 9


class Handler:
    def __init__(self) -> None:
        self.datagrams = 0
        self.bytes = 0

    def handle(self, sock: Any, data: bytes, sender: tuple[str, int]) -> None:
        self.datagrams += 1
        self.bytes += len(data)


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Discard on UDP `port` until `stop` is set (or the host closes)."""
    serve_datagrams(host, [(Handler(), port)], stop or threading.Event())
