"""Passive opens: a listening socket, its SYN queue and accept queue (RFC 9293 §3.10.7.2).

A SYN to a port somebody listens on (and no connection has that 4-tuple) comes here from the
stage: the listener answers it with a new connection in SYN-RECEIVED, kept in the SYN queue
(`half_open`) until the handshake's last ACK establishes it; then it waits in the accept
queue for accept(). Both queues are bounded (`TcpConfig.syn_queue_limit`, the backlog), and
a SYN beyond either is dropped and counted, so a SYN flood costs a bounded amount of memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.config import TcpSocketOptions
from netstack.stages.tcp.options import read_syn_options
from netstack.stages.tcp.state import TcpState
from netstack.wire.ipv4 import IPv4Header
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, TcpHeader

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.config import TcpConfig
    from netstack.stages.tcp.connection import TcpConnection
    from netstack.stages.tcp.seq import Seq


class _HasCounters(Protocol):
    counters: Counters


class ListeningStage(Protocol):
    """What a listener uses of the TCP stage (stage.py)."""

    stack: _HasCounters
    config: TcpConfig

    def isn(self, lip: IPv4Address, lport: int, rip: IPv4Address, rport: int,
            now: float) -> Seq: ...

    def new_connection(self, local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
                       iss: Seq, options: TcpSocketOptions,
                       listener: TcpListener | None = None) -> TcpConnection: ...

    def add_connection(self, conn: TcpConnection) -> None: ...

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
            counters.bump("tcp.drop.ack_to_listener")
            stage.send_reset_for(ip_header.dst, ip_header.src, header, len(data), now)
            return
        if not flags & FLAG_SYN:
            counters.bump("tcp.drop.not_syn")
            return
        if flags & FLAG_FIN:
            counters.bump("tcp.drop.syn_fin")  # no legitimate SYN carries FIN (Linux agrees)
            return
        if len(self.half_open) >= stage.config.syn_queue_limit:
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
