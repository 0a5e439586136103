"""Path MTU discovery (RFC 1191 §6.3): a "fragmentation needed" error lowers the send MSS.

We send every TCP segment with Don't Fragment set, so a router whose next hop has a smaller
MTU drops it and says so in an ICMP destination unreachable, code 4, with that MTU. The
connection then sends smaller segments: the MSS becomes MTU - 40 (less the timestamp option
on every segment, RFC 6691), never more than the peer's MSS, and what is in flight was
dropped for its size, so it is sent again at once in pieces that fit (as Linux's "simple
retransmit" does: no congestion response, the loss was not congestion).

The caller has checked the error quotes a sequence number in flight (RFC 5927 §4.1), so an
attacker blind to the connection cannot shrink its segments. An MTU below 576 (RFC 791's
every-host minimum; an old router may send 0) is taken as 576, as RFC 1191 §5 allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstack.stages.tcp.options import (
    IPV4_TCP_HEADERS,
    TIMESTAMP_OPTION_BYTES,
    effective_send_mss,
)

if TYPE_CHECKING:
    from netstack.stages.tcp.connection import TcpConnection

MIN_PATH_MTU = 576  # RFC 791: every host takes datagrams this large
MTU_MASK = 0xFFFF  # RFC 1191 §4: the next-hop MTU is the low 16 bits of the header's rest


def lower_path_mtu(conn: TcpConnection, rest: int, now: float) -> bool:
    """Apply a "fragmentation needed" whose header carried `rest`; True if the MSS fell."""
    mtu = max(rest & MTU_MASK, MIN_PATH_MTU)
    route_mss = mtu - IPV4_TCP_HEADERS
    if route_mss >= conn.our_mss:
        return False  # not smaller than what we send already: nothing to do
    conn.our_mss = route_mss
    sender = conn.sender
    mss = effective_send_mss(conn.peer_options.mss, route_mss, conn.config.default_mss)
    if conn.timestamps.enabled:
        mss -= TIMESTAMP_OPTION_BYTES
    sender.mss = max(min(sender.mss, mss), 1)
    # Resend the flight (it was dropped for its size) in segments of the new size.
    start, end = sender.snd_una, sender.snd_max
    while start < end:
        piece_end = min(start + sender.segment_limit(), end)
        sender.resend(start, piece_end, now)
        start = piece_end
    return True
