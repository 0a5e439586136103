"""Passive opens: a listening socket, its SYN queue and accept queue (RFC 9293 §3.10.7.2).

A SYN to a port somebody listens on (and no connection has that 4-tuple) comes here from the
stage: the listener answers it with a new connection in SYN-RECEIVED, kept in the SYN queue
(`half_open`) until the handshake's last ACK establishes it; then it waits in the accept
queue for accept(). Both queues are bounded (`TcpConfig.syn_queue_limit`, the backlog), and
a SYN beyond either is dropped and counted, so a SYN flood costs a bounded amount of memory.

With SYN cookies (RFC 4987, syncookie.py; `TcpConfig.syncookies`: when the SYN queue is
full, or always) a SYN is answered with a SYN-ACK whose ISS is a cookie, and nothing is
kept: no connection, no timer. An ACK to the listener that carries a valid cookie then
creates the connection directly, ESTABLISHED, into the accept queue. Counters:
`tcp.syncookies.sent`, `.validated` (a connection made from one) and `.rejected` (an ACK
whose cookie is wrong or stale: answered with RST, as any stray ACK to a listener is).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.config import (
    SYNCOOKIES_ALWAYS,
    SYNCOOKIES_NEVER,
    SYNCOOKIES_WHEN_FULL,
    TcpSocketOptions,
)
from netstack.stages.tcp.options import (
    MAX_UNSCALED_WINDOW,
    PeerSynOptions,
    read_syn_options,
    syn_options,
)
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.state import TcpState
from netstack.stages.tcp.syncookie import LIFETIME, decode_ts_options, encode_ts_options
from netstack.stages.tcp.timestamps import (
    find_timestamp,
    timestamp_offset,
    ts_before,
    tsval_at,
)
from netstack.wire.ipv4 import IPv4Header
from netstack.wire.tcp import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_RST,
    FLAG_SYN,
    TcpHeader,
    TimestampOption,
)

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.config import TcpConfig
    from netstack.stages.tcp.connection import TcpConnection
    from netstack.stages.tcp.isn import IsnGenerator
    from netstack.stages.tcp.syncookie import SynCookies


class _HasCounters(Protocol):
    counters: Counters


class ListeningStage(Protocol):
    """What a listener uses of the TCP stage (stage.py)."""

    stack: _HasCounters
    config: TcpConfig
    isn_generator: IsnGenerator  # its secret also keys the TSval offset (timestamps.py)
    syncookies: SynCookies

    def isn(self, lip: IPv4Address, lport: int, rip: IPv4Address, rport: int,
            now: float) -> Seq: ...

    def new_connection(self, local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
                       iss: Seq, options: TcpSocketOptions,
                       listener: TcpListener | None = None) -> TcpConnection: ...

    def add_connection(self, conn: TcpConnection) -> None: ...

    def deliver(self, conn: TcpConnection, header: TcpHeader, data: memoryview,
                now: float) -> None: ...

    def mss_for(self, remote: IPv4Address) -> int: ...

    def window_shift_to_offer(self, rcvbuf: int, locked: bool = False) -> int | None: ...

    def send_segment(self, header: TcpHeader, src: IPv4Address, dst: IPv4Address, now: float,
                     payload: bytes | memoryview | None = None) -> bool: ...

    def send_reset_for(self, local_ip: IPv4Address, remote_ip: IPv4Address,
                       header: TcpHeader, data_len: int, now: float) -> None: ...


class TcpListener:
    """A passive open: SYNs to `local` become connections, queued for accept()."""

    # SO_REUSEADDR never lets two sockets listen on one address and port (Linux's rule
    # without SO_REUSEPORT): the port table refuses to share a binding with a listener.
    exclusive = True

    def __init__(self, stage: ListeningStage, backlog: int, reuse_addr: bool,
                 options: TcpSocketOptions) -> None:
        self.stage = stage
        self.local: tuple[IPv4Address, int] | None = None
        self.reuse_addr = reuse_addr
        self.backlog = backlog
        self.options = options  # copied into each accepted connection
        self.state = TcpState.LISTEN
        self.accept_queue: deque[TcpConnection] = deque()
        self.half_open: set[TcpConnection] = set()  # the SYN queue
        self.guard: AbstractContextManager = nullcontext()
        self.on_event: Callable[[], None] | None = None
        # When the last SYN cookie went out: an ACK is checked as a cookie only while one
        # may still come back (as Linux does), so a stray ACK is not counted as forged.
        self.last_cookie_sent: float | None = None

    def accept_queue_full(self) -> bool:
        return len(self.accept_queue) >= self.backlog

    def connection_established(self, conn: TcpConnection) -> None:
        self.half_open.discard(conn)
        with self.guard:
            self.accept_queue.append(conn)
            if self.on_event is not None:
                self.on_event()

    def segment_arrives(self, ip_header: IPv4Header, header: TcpHeader, data: memoryview,
                        now: float) -> None:
        """RFC 9293 §3.10.7.2: a segment for our port that no connection claims."""
        stage = self.stage
        counters = stage.stack.counters
        flags = header.flags
        if flags & FLAG_RST:
            counters.bump("tcp.drop.rst_to_listener")
            return
        if flags & FLAG_ACK:
            if not flags & FLAG_SYN and self._cookie_expected(now):
                self._cookie_returns(ip_header, header, data, now)
                return
            counters.bump("tcp.drop.ack_to_listener")
            stage.send_reset_for(ip_header.dst, ip_header.src, header, len(data), now)
            return
        if not flags & FLAG_SYN:
            counters.bump("tcp.drop.not_syn")
            return
        if flags & FLAG_FIN:
            counters.bump("tcp.drop.syn_fin")  # no legitimate SYN carries FIN (Linux agrees)
            return
        queue_full = len(self.half_open) >= stage.config.syn_queue_limit
        mode = stage.config.syncookies
        if mode == SYNCOOKIES_ALWAYS or (queue_full and mode == SYNCOOKIES_WHEN_FULL):
            if self.accept_queue_full():
                counters.bump("tcp.drop.accept_queue_full")  # a cookie would be dropped too
                return
            self._send_cookie(ip_header, header, now)
            return
        if queue_full:
            counters.bump("tcp.drop.syn_queue_full")
            return
        if self.accept_queue_full():
            counters.bump("tcp.drop.accept_queue_full")
            return
        local, remote = (ip_header.dst, header.dst_port), (ip_header.src, header.src_port)
        iss = stage.isn(local[0], local[1], remote[0], remote[1], now)
        conn = stage.new_connection(local, remote, iss, self.options.copy(), self)
        self.half_open.add(conn)
        stage.add_connection(conn)
        counters.bump("tcp.conn.passive_open")
        # Data on the SYN is not kept: the peer sends it again once we ACK only the SYN.
        conn.open_passive(header, read_syn_options(header), now)

    # --- SYN cookies (RFC 4987 §3.6, syncookie.py) ------------------------------------------

    def _send_cookie(self, ip_header: IPv4Header, header: TcpHeader, now: float) -> None:
        """Answer the SYN with a SYN-ACK whose ISS (and TSval) carry what we would have
        kept, and keep nothing."""
        stage, config = self.stage, self.stage.config
        local, remote = (ip_header.dst, header.dst_port), (ip_header.src, header.src_port)
        peer = read_syn_options(header)
        peer_mss = peer.mss if peer.mss is not None else config.default_mss
        iss, _ = stage.syncookies.make(local, remote, header.seq, peer_mss, now)
        our_mss = stage.mss_for(remote[0])
        if config.timestamps and peer.timestamps:
            # The SYN's window scale and SACK-permitted ride in our TSval's low bits.
            shift = None
            if peer.window_shift is not None:
                shift = stage.window_shift_to_offer(self.options.rcvbuf,
                                                    self.options.rcvbuf_locked)
            sack = config.sack and peer.sack_permitted
            tsval = encode_ts_options(self._ts_clock(local, remote, now),
                                      peer.window_shift if shift is not None else None, sack)
            options = syn_options(our_mss, shift, sack, TimestampOption(tsval, peer.tsval))
        else:
            options = syn_options(our_mss, None)  # nothing could bring wscale or SACK back
        window = min(self.options.rcvbuf, MAX_UNSCALED_WINDOW)  # a SYN's is never scaled
        reply = TcpHeader(local[1], remote[1], iss, (header.seq + 1) & 0xFFFFFFFF,
                          FLAG_SYN | FLAG_ACK, window, options=options)
        self.last_cookie_sent = now
        stage.stack.counters.bump("tcp.syncookies.sent")
        stage.send_segment(reply, local[0], remote[0], now)

    def _ts_clock(self, local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
                  now: float) -> int:
        """Our TSval now, on the clock the connection will have (TcpConnection._start_clock)."""
        return tsval_at(timestamp_offset(self.stage.isn_generator.secret, local, remote), now)

    def _cookie_expected(self, now: float) -> bool:
        sent = self.last_cookie_sent
        return (self.stage.config.syncookies != SYNCOOKIES_NEVER and sent is not None
                and now - sent <= LIFETIME)

    def _cookie_returns(self, ip_header: IPv4Header, header: TcpHeader, data: memoryview,
                        now: float) -> None:
        """An ACK that may complete a cookie's handshake: a valid cookie makes the
        connection, ESTABLISHED (the ACK's data kept); anything else gets a RST."""
        stage = self.stage
        counters = stage.stack.counters
        local, remote = (ip_header.dst, header.dst_port), (ip_header.src, header.src_port)
        check = stage.syncookies.check(local, remote, (header.seq - 1) & 0xFFFFFFFF,
                                       (header.ack - 1) & 0xFFFFFFFF, now)
        peer = self._cookie_options(header, check.mss, local, remote, now)
        if peer is None:
            counters.bump("tcp.syncookies.rejected")
            stage.send_reset_for(local[0], remote[0], header, len(data), now)
            return
        if self.accept_queue_full():
            # Like Linux: drop it; the client's retransmission brings the cookie again.
            counters.bump("tcp.drop.accept_queue_full")
            return
        conn = stage.new_connection(local, remote, Seq(header.ack - 1), self.options.copy(),
                                    self)
        stage.add_connection(conn)
        counters.bump("tcp.conn.passive_open")
        counters.bump("tcp.syncookies.validated")
        conn.open_from_cookie(header, peer, now)
        stage.deliver(conn, header, data, now)  # SYN-RECEIVED's ACK: now ESTABLISHED
        if conn.state == TcpState.SYN_RECEIVED:
            conn.release(now)  # cannot happen (the cookie was checked); never leave it half-open

    def _cookie_options(self, header: TcpHeader, mss: int | None,
                        local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
                        now: float) -> PeerSynOptions | None:
        """The SYN's options as the cookie brings them back, or None: not a valid cookie."""
        if mss is None:
            return None
        timestamp = find_timestamp(header)
        if timestamp is None:
            return PeerSynOptions(mss)  # no timestamps: no window scaling, no SACK
        config = self.stage.config
        bits = decode_ts_options(timestamp.tsecr)
        if (not config.timestamps  # then our SYN-ACK had no TSval to echo
                or (bits.sack_permitted and not config.sack)
                or (bits.window_shift is not None and not config.window_scaling)
                or ts_before(self._ts_clock(local, remote, now), timestamp.tsecr)):
            return None
        return PeerSynOptions(mss, bits.window_shift, bits.sack_permitted, True,
                              timestamp.tsval)

    def close(self, now: float) -> None:
        """Stop listening (the stage has taken it out of the port table): connections not
        yet accepted are reset, as Linux does."""
        self.state = TcpState.CLOSED
        # The SYN queue is a set (ordered by memory address): sort it, so the RSTs leave
        # in the same order on every run.
        half_open = sorted(self.half_open, key=lambda conn: conn.remote)
        for conn in half_open + list(self.accept_queue):
            conn.abort(now)
        self.half_open.clear()
        self.accept_queue.clear()
        self.on_event = None

    def __repr__(self) -> str:
        return f"<TcpListener {self.local} backlog={self.backlog}>"
