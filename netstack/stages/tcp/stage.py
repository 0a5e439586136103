"""The TCP stage: demultiplexing, resets for closed ports, ICMP errors.

A segment finds its connection by the 4-tuple (our address and port, the peer's address and
port). Failing that, a listener on our port takes it (listener.py: SYNs become connections,
RFC 9293 §3.10.7.2). Anything else for a port nobody listens on is answered with a RST
(§3.10.7.1). Segments are written into pool mbufs by output.py's half of the stage.

The stage also owns what connections share: the ISN generator (RFC 6528) and the SYN
cookies' secret (RFC 4987, syncookie.py), the port table
for connect(), the challenge-ACK rate limit (RFC 5961 §7), and the congestion control
factory. It builds connections and their parts from the stack's units (netstack/units.py:
tcp_connection, tcp_sender, tcp_receiver, tcp_rto, congestion), so a replacement given in
StackConfig.impl is used by every connection.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from netstack.checksum import with_checksum
from netstack.errors import MalformedPacket
from netstack.mbuf import HEADROOM, Mbuf
from netstack.stages.icmp import IcmpErrorReport
from netstack.stages.ports import WILDCARD, PortTable, os_error
from netstack.stages.tcp.autotune import ReceiveBufferTuner
from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
from netstack.stages.tcp.congestion import CongestionControl, CongestionFactory
from netstack.stages.tcp.connection import TcpConnection
from netstack.stages.tcp.cubic import Cubic
from netstack.stages.tcp.gro import HeldSegment, mergeable
from netstack.stages.tcp.isn import SECRET_LEN, IsnGenerator
from netstack.stages.tcp.listener import TcpListener
from netstack.stages.tcp.options import mss_for_mtu, window_shift_for
from netstack.stages.tcp.output import SegmentOutput
from netstack.stages.tcp.pmtu import lower_path_mtu
from netstack.stages.tcp.rto import RtoUnit
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.state import SYNCHRONIZED_STATES, TcpState
from netstack.stages.tcp.syncookie import SynCookies
from netstack.wire import icmp as wire_icmp
from netstack.wire.ipv4 import PROTO_TCP, IPv4Header
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, TcpHeader

if TYPE_CHECKING:
    from netstack.stages.context import StackContext
    from netstack.stages.tcp.receiver import ReceiverUnit

# (local ip, local port, remote ip, remote port), the addresses as ints: hashing an
# IPv4Address formats it in hex, twice per segment when the tuple is a dict key.
FourTuple = tuple[int, int, int, int]
IsnHook = Callable[[IPv4Address, int, IPv4Address, int, float], int]
_PORTS_AND_SEQ = struct.Struct("!HHI")
MAX_TCP_HEADER = 60


class TcpStage(SegmentOutput):
    def __init__(self, stack: StackContext, secret: bytes | None = None,
                 config: TcpConfig | None = None) -> None:
        self.stack = stack
        self.config: TcpConfig = config or getattr(stack.config, "tcp", None) or TcpConfig()
        self.our_ip = stack.config.address.ip
        self._our_ip_int = int(self.our_ip)
        self.ports: PortTable = PortTable(
            stack.config.ephemeral_port_first, stack.config.ephemeral_port_last,
            seed=stack.random.generator("tcp.ephemeral_port"),
        )
        self.isn_generator = IsnGenerator(
            secret if secret is not None else stack.random.secret("tcp.isn", SECRET_LEN))
        # SYN cookies (syncookie.py) hash with the same secret, under their own
        # personalisation, so one seed repeats them too.
        self.syncookies = SynCookies(self.isn_generator.secret)
        units = stack.units  # the reference units, or the replacements StackConfig.impl names
        # The TCP codec, summing with the stack's checksum unit (bound once: no per-segment cost).
        self._parse_segment = with_checksum(units.tcp_codec.parse, units.checksum)
        self._write_header_fields = with_checksum(units.tcp_codec.write_header_fields,
                                                  units.checksum)
        self.connection_class: type[TcpConnection] = units.tcp_connection
        self.sender_class = units.tcp_sender
        self.receiver_class = units.tcp_receiver
        self.rto_class = units.tcp_rto
        self.newreno_class = units.congestion  # what "newreno" (the default) names: Reno
        self.isn_hook: IsnHook | None = None  # tests force an ISN (e.g. near 2^32) here
        # None: each connection uses the algorithm its options name (TCP_CONGESTION, by
        # default TcpConfig.congestion_control). A test or lab may force one here instead.
        self.congestion_factory: CongestionFactory | None = None
        self._connections: dict[FourTuple, TcpConnection] = {}
        self._in_time_wait: dict[TcpConnection, None] = {}  # bounded by max_time_wait
        self.out_of_order_held = 0  # bytes all connections hold out of order
        self._challenge_second = -1
        self._challenge_count = 0
        pool_buffer = len(stack.pool.mbufs[0].buf) if len(stack.pool) else 0
        self._max_segment_payload = pool_buffer - HEADROOM - MAX_TCP_HEADER
        self.tso_max = 0  # >0: the port segments TCP payloads up to this size (ports/tap.py)
        stack.icmp.add_error_listener(self._icmp_error)
        # Receive coalescing (gro.py): on while the engine dispatches a burst.
        self._in_burst = False
        self._held: HeldSegment | None = None
        # ACKs per pass: once the driver has called end_pass (an engine does, every pass),
        # "ACK now" decisions taken in a burst wait for the pass's end, so the answer or
        # FIN the application sends in that pass carries them (Receiver.ack_soon).
        self._ends_passes = False
        self._acks_wait = False
        self._acks_owed: dict[TcpConnection, None] = {}
        # Sending a burst (begin_tx_burst): the first frame's (dst, src, mbuf), once queued.
        self._in_tx_burst = False
        self._tx_template: tuple[IPv4Address, IPv4Address, Mbuf] | None = None

    # --- the application's calls -----------------------------------------------------------

    def listen(self, local_ip: IPv4Address | str | None, port: int, backlog: int,
               reuse_addr: bool = False,
               options: TcpSocketOptions | None = None) -> TcpListener:
        """Listen on (local_ip or the wildcard, port); port 0 picks an ephemeral one.
        Raises OSError(EADDRINUSE, EADDRNOTAVAIL, EINVAL)."""
        address = self._local_address(local_ip)
        if not 0 <= port <= 0xFFFF:
            raise os_error(errno.EINVAL, f"port {port}")
        backlog = max(1, min(backlog, self.config.backlog_limit))
        options = options if options is not None else self.config.default_options()
        listener = TcpListener(self, backlog, reuse_addr, options)
        self.ports.add(listener, address, port)
        return listener

    def close_listener(self, listener: TcpListener, now: float | None = None) -> None:
        """Stop listening; connections not yet accepted are reset (as Linux does)."""
        self.ports.remove(listener)
        listener.close(self._now if now is None else now)

    def connect(self, local_ip: IPv4Address | str | None, local_port: int,
                remote_ip: IPv4Address | str, remote_port: int, now: float,
                options: TcpSocketOptions | None = None,
                reuse_addr: bool = False) -> TcpConnection:
        """Active open: send a SYN. Port 0 picks an ephemeral port. Raises OSError
        (ENETUNREACH, EADDRINUSE, EADDRNOTAVAIL, EINVAL, EAGAIN)."""
        remote = IPv4Address(remote_ip)
        address = self._local_address(local_ip)
        if not 0 < remote_port <= 0xFFFF or not 0 <= local_port <= 0xFFFF:
            raise os_error(errno.EINVAL, "bad port")
        if remote.is_multicast or remote == self.stack.config.address.network.broadcast_address:
            raise os_error(errno.ENETUNREACH, str(remote))
        if self.stack.routes.lookup(remote) is None:
            raise os_error(errno.ENETUNREACH, str(remote))
        options = options if options is not None else self.config.default_options()
        conn = self.new_connection((self.our_ip, 0), (remote, remote_port), Seq(0), options)
        conn.reuse_addr = reuse_addr
        self.ports.add(conn, self.our_ip if address == WILDCARD else address, local_port)
        key = (int(self.our_ip), conn.local[1], int(remote), remote_port)
        if key in self._connections:
            self.ports.remove(conn)
            raise os_error(errno.EADDRINUSE, "that connection exists")
        iss = self.isn(self.our_ip, conn.local[1], remote, remote_port, now)
        conn.sender.set_iss(iss)
        self._connections[key] = conn
        self.stack.counters.bump("tcp.conn.active_open")
        conn.open_active(now)
        return conn

    def _local_address(self, local_ip: IPv4Address | str | None) -> IPv4Address:
        address = WILDCARD if local_ip is None else IPv4Address(local_ip)
        if address not in (WILDCARD, self.our_ip):
            raise os_error(errno.EADDRNOTAVAIL, str(address))
        return address

    def new_connection(self, local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
                       iss: Seq, options: TcpSocketOptions,
                       listener: TcpListener | None = None) -> TcpConnection:
        """A connection of the class the stack's units name (units.tcp_connection)."""
        return self.connection_class(self, local, remote, iss, options, listener)

    # --- what connections share ------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        """Connections in any state but CLOSED (TIME-WAIT included)."""
        return len(self._connections)

    def connections(self) -> list[TcpConnection]:
        return list(self._connections.values())

    def listeners(self) -> list[TcpListener]:
        return [e for e in self.ports.all() if isinstance(e, TcpListener)]

    def knows(self, conn: TcpConnection) -> bool:
        return self._connections.get(self._key(conn)) is conn

    @property
    def time_wait_count(self) -> int:
        return len(self._in_time_wait)

    def admit_time_wait(self, conn: TcpConnection) -> bool:
        """A connection is about to enter TIME-WAIT: may it (max_time_wait)?"""
        if len(self._in_time_wait) >= self.config.max_time_wait:
            self.stack.counters.bump("tcp.time_wait.overflow")
            return False
        self._in_time_wait[conn] = None
        return True

    def forget(self, conn: TcpConnection) -> None:
        """Called once a connection is CLOSED: it leaves every table."""
        key = self._key(conn)
        if self._connections.get(key) is conn:
            del self._connections[key]
            # Whatever it still held out of order is freed with it.
            self.out_of_order_held -= getattr(conn.receiver, "out_of_order_bytes", 0)
        self._in_time_wait.pop(conn, None)
        if conn.listener is not None:
            conn.listener.half_open.discard(conn)
            conn.listener = None
        self.ports.remove(conn)  # only connect() put it there; harmless otherwise

    @staticmethod
    def _key(conn: TcpConnection) -> FourTuple:
        return (int(conn.local[0]), conn.local[1], int(conn.remote[0]), conn.remote[1])

    def add_connection(self, conn: TcpConnection) -> None:
        """A passive open's new connection (listener.py): segments for it now find it."""
        self._connections[self._key(conn)] = conn

    def isn(self, lip: IPv4Address, lport: int, rip: IPv4Address, rport: int,
            now: float) -> Seq:
        """The initial sequence number of a new connection (RFC 6528, or `isn_hook`)."""
        if self.isn_hook is not None:
            return Seq(self.isn_hook(lip, lport, rip, rport, now))
        return self.isn_generator.isn(lip, lport, rip, rport, now)

    def mss_for(self, remote: IPv4Address) -> int:
        """RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: the MSS the route's MTU allows (also what
        one pool mbuf can carry)."""
        config = self.stack.config
        route = self.stack.routes.lookup(remote)
        mtu = min(route.mtu or config.mtu, config.mtu) if route is not None else config.mtu
        return max(min(mss_for_mtu(mtu), self._max_segment_payload), 1)

    def window_shift_to_offer(self, rcvbuf: int, locked: bool = False) -> int | None:
        """The shift for our SYN (fixed at the handshake, RFC 7323 §2.2). It covers the
        largest buffer autotuning may grow to, as Linux's does; a buffer the application
        chose (SO_RCVBUF, `locked`) is not tuned, so its own size is enough, and a
        smaller shift keeps the window's granularity fine (Linux's window_clamp)."""
        if not self.config.window_scaling:
            return None
        if self.config.rcvbuf_autotune and not locked:
            rcvbuf = max(rcvbuf, self.config.rcvbuf_max)
        return window_shift_for(rcvbuf)

    def new_congestion_control(self, conn: TcpConnection) -> CongestionControl:
        """The congestion control for a connection just established: the algorithm its
        options name; "newreno", the default, names the stack's `congestion` unit (Reno
        unless StackConfig.impl replaces it)."""
        mss = conn.sender.mss
        if self.congestion_factory is not None:
            return self.congestion_factory(mss)
        if conn.options.congestion_control == "cubic":
            sender = conn.sender
            return Cubic(mss, srtt=lambda: sender.rto.srtt)  # RFC 6298 SRTT, read per ACK
        return self.newreno_class(mss)

    def change_congestion_control(self, conn: TcpConnection) -> None:
        """TCP_CONGESTION on an established connection: the new algorithm starts from the
        old one's window and threshold (its own history starts empty), as on Linux."""
        old = conn.sender.cc
        if old is None:
            return  # not established yet: establish() will pick the new one
        new = self.new_congestion_control(conn)
        new.cwnd, new.ssthresh, new.in_recovery = old.cwnd, old.ssthresh, old.in_recovery
        conn.sender.cc = new

    def autotune_receive_buffer(self, conn: TcpConnection, now: float) -> None:
        """After the application read: let the receive buffer follow how fast it drains
        (autotune.py), unless the application chose SO_RCVBUF itself."""
        tuner = conn.rcvbuf_tuner
        if tuner is None or conn.options.rcvbuf_locked:
            return
        receiver = conn.receiver
        # Every byte put in `ready` and no longer there was read (the FIN takes one offset).
        copied = receiver.rcv_nxt_offset - receiver.fin_received - len(conn.receive_stream.data)
        conn.options.rcvbuf = tuner.on_read(copied, now, conn.sender.rto.srtt,
                                            conn.options.rcvbuf)

    def new_rcvbuf_tuner(self) -> ReceiveBufferTuner | None:
        return ReceiveBufferTuner(self.config.rcvbuf_max) if self.config.rcvbuf_autotune else None

    def new_rto_estimator(self) -> RtoUnit:
        c = self.config
        return self.rto_class(c.initial_rto, c.min_rto, c.max_rto, c.clock_granularity)

    def allow_challenge_ack(self, now: float) -> bool:
        """RFC 5961 §7: at most `challenge_ack_limit` challenge ACKs per second."""
        second = int(now)
        if second != self._challenge_second:
            self._challenge_second, self._challenge_count = second, 0
        if self._challenge_count >= self.config.challenge_ack_limit:
            self.stack.counters.bump("tcp.drop.challenge_ack_limited")
            return False
        self._challenge_count += 1
        return True

    # --- receiving (the IPv4 stage calls this for protocol 6) ------------------------------

    _now = 0.0

    def receive(self, ip_header: IPv4Header, payload: memoryview, frame: memoryview,
                now: float) -> None:
        self._now = now
        counters = self.stack.counters
        try:
            header, data = self._parse_segment(payload, ip_header.src, ip_header.dst)
        except MalformedPacket as exc:
            counters.bump(f"tcp.drop.{exc.reason}")
            return
        counters.bump("tcp.rx.segments")
        dst = int(ip_header.dst)
        if dst != self._our_ip_int:
            counters.bump("tcp.drop.not_unicast")  # RFC 1122 §4.2.3.10
            return
        if header.src_port == 0 or header.dst_port == 0:
            counters.bump("tcp.drop.port_zero")
            return
        conn = self._connections.get((dst, header.dst_port, int(ip_header.src), header.src_port))
        if self._in_burst and self._hold(conn, header, data, now):
            return
        if conn is not None:
            if conn.state == TcpState.TIME_WAIT and self._new_syn_ends_time_wait(conn, header):
                conn.release(now)
            elif data:
                self.deliver(conn, header, data, now)
                return
            else:
                conn.segment_arrives(header, data, now)
                return
        listener = self._listener_for(ip_header.dst, header.dst_port)
        if listener is not None:
            listener.segment_arrives(ip_header, header, data, now)
            return
        counters.bump("tcp.drop.no_socket")
        self.send_reset_for(ip_header.dst, ip_header.src, header, len(data), now)

    # --- receive coalescing (gro.py) ----------------------------------------------------------

    def begin_burst(self, coalesce: bool = True) -> None:
        """The engine is about to dispatch a burst of frames: segments may be merged.
        `coalesce=False`: a burst of one frame, so holding a segment back could merge it
        with nothing (it would only copy it); its ACKs still wait for the pass's end."""
        self._in_burst = coalesce
        self._acks_wait = self._ends_passes

    def end_burst(self, now: float) -> None:
        """The burst is dispatched: deliver what is held, and merge nothing more."""
        self._in_burst = False
        self._release_held(now)

    # --- ACKs at the end of the pass -----------------------------------------------------------

    def owe_ack(self, conn: TcpConnection) -> bool:
        """True: the connection's "ACK now" goes out at end_pass (unless a segment it sends
        before carries it). False: no pass is being processed, send it now."""
        if not self._acks_wait:
            return False
        self._acks_owed[conn] = None
        return True

    def end_pass(self, now: float) -> None:
        """The engine's pass is over (hooks and control run): send the ACKs still owed.
        An ACK delayed by microseconds is still immediate for RFC 5681 §4.2."""
        self._ends_passes = True
        self._acks_wait = False
        owed, self._acks_owed = self._acks_owed, {}
        for conn in owed:
            conn.receiver.send_owed_ack(now)

    def _hold(self, conn: TcpConnection | None, header: TcpHeader, data: memoryview,
              now: float) -> bool:
        """Hold or merge a data segment (True), or release what is held first (False)."""
        held = self._held
        mergeable_now = conn is not None and mergeable(conn, header, len(data))
        if held is not None:
            if mergeable_now and held.extends(conn, header, len(data)):
                held.add(header, data)
                self.stack.counters.bump("copy.gro", len(data))  # merged: a copy
                return True
            self._release_held(now)  # anything else goes after it, in arrival order
        if mergeable_now:
            self._held = HeldSegment(conn, header, data)
            self.stack.counters.bump("copy.gro", len(data))  # held back: a copy
            return True
        return False

    def _release_held(self, now: float) -> None:
        held = self._held
        if held is None:
            return
        self._held = None
        if held.segments > 1:
            self.stack.counters.bump("tcp.rx.coalesced", held.segments - 1)
            held.conn.stats.segs_in += held.segments - 1  # TCP_INFO counts each, as Linux
        self.deliver(held.conn, held.merged_header(), memoryview(held.data), now)

    def deliver(self, conn: TcpConnection, header: TcpHeader, data: memoryview,
                now: float) -> None:
        """A data segment to its connection, counting what the receiver copied for the
        copy ledger: bytes now in order (some may have moved from the out-of-order queue,
        a copy too) plus bytes newly held out of order. Duplicates copy nothing."""
        receiver = conn.receiver
        in_order, fin = receiver.rcv_nxt_offset, receiver.fin_received
        held_out = getattr(receiver, "out_of_order_bytes", 0)  # a lab's receiver may not say
        if (self.out_of_order_held + len(data) > self.config.max_out_of_order_total
                and self._out_of_order(receiver, Seq(header.seq))):
            # All connections together hold as much out-of-order data as they may: drop
            # this segment's text (its sender will send it again), keep the rest of it
            # (its ACK, window and timestamp), and send the duplicate ACK out-of-order
            # data earns, so the sender fills the hole sooner. In-order data always goes
            # through: it is what drains the out-of-order queues.
            self.stack.counters.bump("tcp.drop.out_of_order_memory")
            conn.segment_arrives(replace(header, flags=header.flags & ~FLAG_FIN), data[:0], now)
            if conn.state != TcpState.CLOSED:
                receiver.ack_soon(now)
            return
        conn.segment_arrives(header, data, now)
        held_now = getattr(receiver, "out_of_order_bytes", 0)
        self.out_of_order_held += held_now - held_out
        copied = (receiver.rcv_nxt_offset - in_order - (receiver.fin_received and not fin)
                  + max(held_now - held_out, 0))
        if copied > 0:
            self.stack.counters.bump("copy.mbuf_to_rcvbuf", copied)

    @staticmethod
    def _out_of_order(receiver: ReceiverUnit, seq: Seq) -> bool:
        """`seq` starts past RCV.NXT but inside the window: its text would be held."""
        rcv_nxt = receiver.rcv_nxt
        return seq != rcv_nxt and seq.in_window(rcv_nxt, receiver.rcv_wnd)

    def _new_syn_ends_time_wait(self, conn: TcpConnection, header: TcpHeader) -> bool:
        """RFC 9293 §3.10.7.4 (and RFC 6191): a new SYN above the old connection's
        sequence space may reopen a 4-tuple in TIME-WAIT."""
        return (
            header.flags & (FLAG_SYN | FLAG_ACK | FLAG_RST) == FLAG_SYN
            and Seq(header.seq) > conn.receiver.rcv_nxt
            and self._listener_for(conn.local[0], conn.local[1]) is not None
        )

    def _listener_for(self, ip: IPv4Address, port: int) -> TcpListener | None:
        for address in (ip, WILDCARD):
            for endpoint in self.ports.bound_at(address, port):
                if isinstance(endpoint, TcpListener):
                    return endpoint
        return None

    # --- ICMP errors about segments we sent -------------------------------------------------

    def _icmp_error(self, report: IcmpErrorReport, now: float) -> None:
        quoted = report.quoted_header
        if quoted.protocol != PROTO_TCP or quoted.src != self.our_ip:
            return
        self._release_held(now)  # what arrived before the error is processed before it
        if len(report.quoted_payload) < _PORTS_AND_SEQ.size:
            return
        src_port, dst_port, seq = _PORTS_AND_SEQ.unpack_from(report.quoted_payload)
        conn = self._connections.get((int(quoted.src), src_port, int(quoted.dst), dst_port))
        counters = self.stack.counters
        # RFC 5927 §4.1: believe only errors quoting a sequence number we have in flight.
        if conn is None or not (conn.sender.snd_una <= Seq(seq) <= conn.sender.snd_max):
            counters.bump("tcp.drop.icmp_error_no_connection")
            return
        counters.bump("tcp.rx.icmp_error")
        if (report.type == wire_icmp.TYPE_DEST_UNREACHABLE
                and report.code == wire_icmp.CODE_FRAGMENTATION_NEEDED):
            # RFC 1191 §6.3: not an error to report but a smaller path (pmtu.py).
            if conn.state in SYNCHRONIZED_STATES and lower_path_mtu(conn, report.rest, now):
                counters.bump("tcp.rx.path_mtu_lowered")
                conn.notify_if_needed()
            return
        if report.type == wire_icmp.TYPE_DEST_UNREACHABLE:
            hard = report.code in (wire_icmp.CODE_PORT_UNREACHABLE,
                                   wire_icmp.CODE_PROTOCOL_UNREACHABLE)
            code = errno.ECONNREFUSED if hard else errno.EHOSTUNREACH
            if report.code == wire_icmp.CODE_NET_UNREACHABLE:
                code = errno.ENETUNREACH
            conn.icmp_error(code, hard, now)
        elif report.type == wire_icmp.TYPE_TIME_EXCEEDED:
            conn.icmp_error(errno.EHOSTUNREACH, False, now)
