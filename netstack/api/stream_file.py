"""makefile() for stream sockets: the io module's buffered and text layers over a socket.

The stdlib builds socket.makefile from socket.SocketIO, which wants a real OS socket; this
is the same shape (a RawIOBase whose readinto/write are recv_into/send) for stack sockets.
Closing the file does not close the socket, as with the stdlib.
"""

from __future__ import annotations

import io
from typing import Any


class StreamIO(io.RawIOBase):
    """Raw, unbuffered I/O on a stream socket."""

    def __init__(self, sock: Any, mode: str) -> None:
        super().__init__()
        self._sock = sock
        self._reading = "r" in mode
        self._writing = "w" in mode

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return self._writing

    def readinto(self, buffer: Any) -> int:
        self._checkClosed()  # type: ignore[attr-defined]
        return self._sock.recv_into(buffer)

    def write(self, data: Any) -> int:
        self._checkClosed()  # type: ignore[attr-defined]
        return self._sock.send(data)

    def fileno(self) -> int:
        return self._sock.fileno()


def make_file(sock: Any, mode: str = "r", buffering: int | None = None,
              encoding: str | None = None, errors: str | None = None,
              newline: str | None = None) -> Any:
    """What socket.socket.makefile returns, for `sock`: modes r, w, rw, with an optional b."""
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
    reading, writing, binary = "r" in mode, "w" in mode, "b" in mode
    if not reading and not writing:
        raise ValueError("makefile mode must include r or w")
    raw = StreamIO(sock, ("r" if reading else "") + ("w" if writing else ""))
    if buffering is None:
        buffering = -1
    if buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("unbuffered streams must be binary")
        return raw
    buffer: Any
    if reading and writing:
        buffer = io.BufferedRWPair(raw, raw, buffering)
    elif reading:
        buffer = io.BufferedReader(raw, buffering)
    else:
        buffer = io.BufferedWriter(raw, buffering)
    if binary:
        return buffer
    text = io.TextIOWrapper(buffer, encoding, errors, newline)
    text.mode = mode  # type: ignore[misc]
    return text
