"""Daytime over UDP (RFC 867): any datagram, whatever it holds, gets the date and time as text.

The RFC fixes no syntax, only suggests one line of printable ASCII such as
"Weekday, Month Day, Year Time-Zone". We send UTC, so the answer does not depend on the
machine's time zone:

    Monday, February 22, 1982 17:37:43-UTC      (and then CR LF)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from netstack.services.runner import serve_datagrams

DEFAULT_PORT = 13
FORMAT = "%A, %B %d, %Y %H:%M:%S-UTC"


def format_daytime(seconds_since_epoch: float) -> str:
    """The reply's text (with its CRLF) for a moment given as time.time() gives it."""
    return time.strftime(FORMAT, time.gmtime(seconds_since_epoch)) + "\r\n"


class Handler:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # injectable, so a test can fix the moment
        self.answered = 0

    def handle(self, sock: Any, data: bytes, sender: tuple[str, int]) -> None:
        sock.sendto(format_daytime(self.clock()).encode("ascii"), sender)
        self.answered += 1


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Answer on UDP `port` until `stop` is set (or the host closes)."""
    serve_datagrams(host, [(Handler(), port)], stop or threading.Event())
