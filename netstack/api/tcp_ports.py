"""bind() for TCP sockets: holding a port before listen() or connect() uses it.

The TCP stage's port table only knows listeners and connections, but a socket may bind long
before it becomes either, and must get EADDRINUSE (or its ephemeral port) from bind() itself,
as on Linux. So bind() puts a `PortReservation` in the table; listen()/connect() swap it for
the real endpoint on the loop thread, in one step, so nobody can take the port in between.
"""

from __future__ import annotations

from typing import Any


class PortReservation:
    """What bind() puts in the TCP stage's port table: the port is ours before listen() or
    connect() turns it into a listener or a connection (which replace it, on the loop
    thread, in one step). Only listeners receive segments, so a reservation gets none."""

    def __init__(self, reuse_addr: bool) -> None:
        self.local: tuple[Any, int] | None = None
        self.reuse_addr = reuse_addr


def reserved_port(stack: Any, reservation: PortReservation | None) -> tuple[Any, int]:
    """On the loop thread: give up the bind() reservation, returning (ip or None, port)."""
    if reservation is None or reservation.local is None:
        return None, 0
    ip, port = reservation.local
    stack.tcp.ports.remove(reservation)
    return (None if int(ip) == 0 else ip), port


def restore_reservation(stack: Any, reservation: PortReservation | None) -> None:
    """listen()/connect() failed: take the bind() reservation back (if still free)."""
    if reservation is not None and reservation.local is not None:
        ip, port = reservation.local
        try:
            stack.tcp.ports.add(reservation, ip, port)
        except OSError:
            reservation.local = None
