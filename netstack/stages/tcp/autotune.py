"""Receive-buffer autotuning ("dynamic right-sizing", like Linux's tcp_rcv_space_adjust).

A sender can never have more than our window in flight, so a fixed receive buffer caps a
connection at rcvbuf / RTT: 256 KB over a 100 ms path is 20 Mbit/s, however fast the link.
A buffer big enough for every path, on every connection, would let each one hold megabytes
of memory. So each connection starts with a modest buffer and grows it only when the
application proves it can use more: the bytes it *read* during one round trip show the
rate the connection really runs at, and a window of twice that lets the sender go faster
(it is the window, not the reader, that limits it) with room for the reader's hiccups.

    every time the application reads, and at least one RTT since the last measurement:
        read_per_rtt = bytes read since then * RTT / time since then
        rcvbuf = max(rcvbuf, min(2 * read_per_rtt, rcvbuf_max))

Scaling to one RTT keeps a slow reader, one that reads a full buffer now and then, from
being taken for a fast one: reading 256 KB every 10 s is 2.6 KB per 100 ms round trip,
and its buffer stays where it was. An idle reader calls nothing, so nothing grows.

The buffer only grows. The window is what is free of it, so the window's right edge moves
right when it grows and never left (RFC 9293 §3.8.6.2.1, Receiver.advertise). It does not
preallocate anything either: the receive bytearray grows with the data actually held.
A socket that set SO_RCVBUF is not tuned (the stage checks `rcvbuf_locked`), as on Linux.

Sans-I/O: time and the RTT (the connection's SRTT) are passed in; this only does arithmetic.
"""

from __future__ import annotations

GROWTH_FACTOR = 2  # the window covers twice what the reader took in one round trip


class ReceiveBufferTuner:
    """One connection's measurement; `on_read` returns the receive buffer size to use."""

    __slots__ = ("maximum", "_since", "_copied_at_since")

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._since: float | None = None  # when the current measurement began
        self._copied_at_since = 0  # the reader's running total of bytes then

    def on_read(self, copied: int, now: float, rtt: float | None, rcvbuf: int) -> int:
        """`copied`: all bytes the application has read so far on this connection;
        `rtt`: the smoothed RTT in seconds (None before any sample: no change)."""
        if rtt is None or rtt <= 0:
            return rcvbuf
        if self._since is None:
            self._since, self._copied_at_since = now, copied
            return rcvbuf
        elapsed = now - self._since
        if elapsed < rtt:
            return rcvbuf  # measure over at least one round trip
        read_per_rtt = (copied - self._copied_at_since) * rtt / elapsed
        self._since, self._copied_at_since = now, copied
        wanted = min(int(GROWTH_FACTOR * read_per_rtt), self.maximum)
        return max(rcvbuf, wanted)
