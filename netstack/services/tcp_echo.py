"""TCP echo (RFC 862): every byte a client sends comes back, until it closes.

A stream has no messages, so bytes come back in whatever pieces the network delivers them;
only their order is kept. When the client half-closes (its FIN), we send what is left and
close our side too, so `shutdown(SHUT_WR)` then reading to EOF gets the whole echo.

The handler is written twice, the same echo each time: `serve_connection` with blocking
calls, for a thread per connection (stream_runner.py, and `serve` below), and as callbacks
for the engine's loop thread (loop_streams.py), which `netstack run` uses because it spares
every connection a thread and every round trip two thread switches.
"""

from __future__ import annotations

import threading
from typing import Any

from netstack.services.stream_runner import serve_streams

DEFAULT_PORT = 7
CHUNK = 65536  # take whatever is there, up to this much, per recv


class Handler:
    def __init__(self) -> None:
        self.connections = 0
        self.bytes = 0  # echoed, over every connection

    def serve_connection(self, sock: Any, peer: tuple[str, int]) -> None:
        self.connections += 1
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := sock.recv_into(buffer):
            sock.sendall(view[:n])
            self.bytes += n

    # --- on the loop thread (loop_streams.py) ----------------------------------------------

    def connection_made(self, conn: Any) -> None:
        self.connections += 1

    def data_received(self, conn: Any, data: bytes) -> None:
        conn.write(data)
        self.bytes += len(data)

    def eof_received(self, conn: Any) -> None:
        pass  # the runner closes our side once the echo is sent


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Echo on TCP `port` until `stop` is set (or the host closes)."""
    serve_streams(host, [(Handler(), port)], stop or threading.Event())
