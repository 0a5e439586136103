"""Daytime over TCP (RFC 867): on connection, send the date and time as one line, then close.

Whatever the client sends is ignored. The text is the UDP service's (daytime.py), so both
transports of the `daytime` service answer alike; `netstack run --service daytime:13`
serves both on port 13, as inetd's daytime does. Like tcp_echo, the handler serves a
thread per connection (`serve_connection`) or the engine's loop thread (the callbacks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from netstack.services.daytime import format_daytime
from netstack.services.stream_runner import serve_streams

DEFAULT_PORT = 13


class Handler:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # injectable, so a test can fix the moment
        self.answered = 0

    def serve_connection(self, sock: Any, peer: tuple[str, int]) -> None:
        sock.sendall(format_daytime(self.clock()).encode("ascii"))
        self.answered += 1  # the runner's close() sends our FIN after the line

    # --- on the loop thread (loop_streams.py) ----------------------------------------------

    def connection_made(self, conn: Any) -> None:
        conn.write(format_daytime(self.clock()).encode("ascii"))
        self.answered += 1
        conn.close()  # our FIN follows the line

    def data_received(self, conn: Any, data: bytes) -> None:
        pass  # whatever the client sends is ignored (the socket is closed already)

    def eof_received(self, conn: Any) -> None:
        pass


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Answer on TCP `port` until `stop` is set (or the host closes)."""
    serve_streams(host, [(Handler(), port)], stop or threading.Event())
