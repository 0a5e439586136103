"""Harness 3: socket calls interleaved with frames, read from the input as a little program.

The calls go to the sans-I/O stages (TcpStage, the UDP stage and their connections and
endpoints), as api/ would make them, all in virtual time. Each instruction is an opcode byte
and its operand bytes (missing bytes read as 0):

    LISTEN port        CONNECT port        SEND conn size       RECV conn size
    CLOSE conn         ABORT conn          SHUTDOWN conn        ACCEPT
    UDP_BIND port      UDP_SEND ep size    UDP_RECV ep          UDP_CLOSE ep
    FRAME len bytes    ADVANCE gap         SETSOCKOPT conn opt  REPLY conn-kind size
    CLOSE_LISTENER l

REPLY plays the peer: it answers the last TCP segment the stack sent with a segment that
fits it (the right ports, sequence and acknowledgement numbers) and the flags the operand
picks, so a program reaches every state of a connection instead of stopping at the
sequence check. A socket call may fail only with OSError (an errno, as the socket API
promises); anything else escaping is a crash. Afterwards, world.py's invariants hold.
"""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address

from netstack.fuzz.framing import fix_checksums, gap_seconds
from netstack.fuzz.world import PEER_IP, STACK_MAC, TCP_PORT, UDP_PORT, World
from netstack.testing.tcp import tcp_frame
from netstack.wire.ethernet import HEADER_LEN
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH, FLAG_RST, FLAG_SYN
from netstack.wire.tcp_options import (
    MssOption,
    SackOption,
    SackPermittedOption,
    TimestampOption,
    WindowScaleOption,
)

MAX_INSTRUCTIONS = 64
PEER_ISN = 3000  # the peer's ISN when it answers a SYN the stack sent
# What a REPLY sends: flags (ACK is added when the stack's segment had one to answer).
REPLY_FLAGS = (FLAG_ACK, FLAG_ACK | FLAG_PSH, FLAG_FIN | FLAG_ACK, FLAG_RST, FLAG_RST | FLAG_ACK,
               FLAG_SYN, FLAG_ACK, FLAG_ACK | FLAG_PSH)


class Program:
    """The input read one byte at a time; past its end every byte reads as 0."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        value = self.data[self.at] if self.at < len(self.data) else 0
        self.at += 1
        return value

    def bytes(self, count: int) -> bytes:
        taken = self.data[self.at : self.at + count]
        self.at += count
        return taken

    @property
    def done(self) -> bool:
        return self.at >= len(self.data)


class Machine:
    """The world and the sockets a program made, and one method per opcode."""

    def __init__(self) -> None:
        self.world = World()
        self.conns = list(self.world.accepted)
        self.listeners = [self.world.listener]
        self.endpoints = [self.world.udp]
        self.payload = itertools.count()

    @property
    def now(self) -> float:
        return self.world.now

    def pick(self, items: list, selector: int):
        return items[selector % len(items)] if items else None

    def data(self, size: int) -> bytes:
        return bytes((next(self.payload) & 0xFF,)) * size

    # --- TCP ---------------------------------------------------------------------------

    def listen(self, p: Program) -> None:
        port = TCP_PORT + p.byte() % 4
        self.listeners.append(self.world.stack.tcp.listen(None, port, backlog=1 + p.byte() % 4))

    def connect(self, p: Program) -> None:
        port = TCP_PORT + p.byte() % 4
        self.conns.append(self.world.stack.tcp.connect(None, 0, PEER_IP, port, self.now))

    def send(self, p: Program) -> None:
        conn, size = self.pick(self.conns, p.byte()), p.byte() * 64
        if conn is not None:
            conn.write_app(self.data(size))
            conn.app_did_write(self.now)

    def recv(self, p: Program) -> None:
        conn, size = self.pick(self.conns, p.byte()), p.byte() * 16
        if conn is not None:
            conn.read_app(size)
            conn.app_did_read(self.now)

    def close(self, p: Program) -> None:
        conn = self.pick(self.conns, p.byte())
        if conn is not None:
            conn.close(self.now)

    def abort(self, p: Program) -> None:
        conn = self.pick(self.conns, p.byte())
        if conn is not None:
            conn.abort(self.now)

    def shutdown(self, p: Program) -> None:
        conn = self.pick(self.conns, p.byte())
        if conn is not None:
            conn.shutdown_write(self.now)

    def accept(self, p: Program) -> None:
        for listener in self.listeners:
            while listener.accept_queue:
                self.conns.append(listener.accept_queue.popleft())

    def setsockopt(self, p: Program) -> None:
        conn, option = self.pick(self.conns, p.byte()), p.byte()
        if conn is None:
            return
        options = conn.options
        match option % 6:
            case 0:
                options.nodelay = not options.nodelay
            case 1:
                options.keepalive = not options.keepalive
                options.keepalive_idle = options.keepalive_interval = 1.0 + option // 6
            case 2:
                options.sndbuf = 256 * (1 + option)
            case 3:
                options.rcvbuf, options.rcvbuf_locked = 256 * (1 + option), True
            case 4:
                options.linger_zero = not options.linger_zero
            case 5:
                options.congestion_control = ("cubic", "newreno")[option % 2]
        conn.options_changed(self.now)

    def close_listener(self, p: Program) -> None:
        listener = self.pick(self.listeners, p.byte())
        if listener is not None and listener in self.world.stack.tcp.listeners():
            self.world.stack.tcp.close_listener(listener, self.now)

    # --- UDP ---------------------------------------------------------------------------

    def udp_bind(self, p: Program) -> None:
        self.endpoints.append(self.world.stack.udp.bind(None, UDP_PORT + p.byte() % 4))

    def udp_send(self, p: Program) -> None:
        endpoint, size = self.pick(self.endpoints, p.byte()), p.byte() * 32
        if endpoint is not None:
            self.world.stack.udp.send(endpoint, self.data(size), (PEER_IP, 5353), self.now)

    def udp_recv(self, p: Program) -> None:
        endpoint = self.pick(self.endpoints, p.byte())
        if endpoint is not None and endpoint.queue:
            endpoint.take()

    def udp_close(self, p: Program) -> None:
        endpoint = self.pick(self.endpoints, p.byte())
        if endpoint is not None and not endpoint.closed:
            self.world.stack.udp.close(endpoint)

    # --- the wire ----------------------------------------------------------------------

    def frame(self, p: Program) -> None:
        raw = p.bytes(p.byte() * 4)
        # Frames from the peer to us, so the bytes fuzz the IPv4 header onwards.
        frame = STACK_MAC + bytes(6) + b"\x08\x00" + raw
        self.world.deliver(fix_checksums(frame) if len(frame) > HEADER_LEN else frame)

    def advance(self, p: Program) -> None:
        self.world.advance(gap_seconds(p.byte()))

    def reply(self, p: Program) -> None:
        kind, size = p.byte(), p.byte() * 8
        segment = self.world.last_segment_sent()
        if segment is None:
            return
        flags = REPLY_FLAGS[kind % len(REPLY_FLAGS)]
        had_syn = bool(segment.flags & FLAG_SYN)
        seq = segment.ack if segment.flags & FLAG_ACK else PEER_ISN
        ack = (segment.seq + len(segment.payload) + had_syn
               + bool(segment.flags & FLAG_FIN)) & 0xFFFFFFFF
        if had_syn and not segment.flags & FLAG_ACK and kind & 8 == 0:
            flags = FLAG_SYN | FLAG_ACK  # most answers to an active open complete it
        options = self.reply_options(segment, kind, had_syn)
        if flags & (FLAG_RST | FLAG_SYN) == FLAG_RST:
            data = b""
        else:
            data = self.data(size) if flags & FLAG_PSH or kind & 16 else b""
        if kind & 32:
            seq += size  # a segment past a gap: out of order
        frame = tcp_frame(IPv4Address(segment.dst), IPv4Address(segment.src),
                          segment.dst_port, segment.src_port, seq, ack, flags,
                          window=(65535, 0, 512, 8192)[(kind >> 6) & 3], payload=data,
                          options=options)
        self.world.deliver(frame)

    def reply_options(self, segment, kind: int, had_syn: bool) -> tuple:
        options: list = []
        stamp = next((o for o in segment.options if isinstance(o, TimestampOption)), None)
        if stamp is not None and not kind & 4:
            options.append(TimestampOption(int(self.now * 1000) + 1, stamp.tsval))
        if had_syn:
            options += [MssOption(536 + 8 * kind), SackPermittedOption(), WindowScaleOption(kind % 15)]
        elif kind & 2 and segment.seq:
            left = (segment.seq + 1) & 0xFFFFFFFF
            options.append(SackOption(((left, (left + 100) & 0xFFFFFFFF),)))
        return tuple(options)


OPCODES = [
    Machine.listen, Machine.connect, Machine.send, Machine.recv, Machine.close, Machine.abort,
    Machine.shutdown, Machine.accept, Machine.udp_bind, Machine.udp_send, Machine.udp_recv,
    Machine.udp_close, Machine.frame, Machine.advance, Machine.setsockopt, Machine.reply,
    Machine.close_listener,
]
OP = {function.__name__: number for number, function in enumerate(OPCODES)}


def one_input(data: bytes) -> None:
    machine = Machine()
    program = Program(data)
    for _ in range(MAX_INSTRUCTIONS):
        if program.done:
            break
        instruction = OPCODES[program.byte() % len(OPCODES)]
        try:
            instruction(machine, program)
        except OSError:
            pass  # the documented failure of a socket call (EADDRINUSE, EPIPE...)
        machine.world.drain()
        machine.world.check_bounds()
    machine.world.advance(1.0)
    machine.world.finish()


def program(*instructions: tuple) -> bytes:
    """An input from (opcode name, operand bytes...) tuples: how the seeds are written."""
    out = bytearray()
    for name, *operands in instructions:
        out.append(OP[name])
        out += bytes(operands)
    return bytes(out)


# Seeds: the usual lives of connections, for the mutations to start from.
SEED_PROGRAMS = [
    # an active open, data both ways, a close from each side
    program(("connect", 1), ("reply", 0, 0), ("send", 1, 4), ("reply", 1, 16),
            ("recv", 1, 255), ("close", 1), ("reply", 2, 0), ("reply", 0, 0), ("advance", 210)),
    # the peer closes first; we read, then close
    program(("send", 0, 2), ("reply", 2, 0), ("recv", 0, 10), ("close", 0), ("reply", 0, 0)),
    # simultaneous-ish: SYN answered by SYN (kind 13: SYN without ACK), then SYN-ACK
    program(("connect", 2), ("reply", 13, 0), ("reply", 0, 0), ("abort", 1)),
    # a reset from the peer, and a connect refused
    program(("reply", 3, 0), ("connect", 3), ("reply", 12, 0)),
    # retransmissions and keepalive in silence
    program(("send", 0, 20), ("advance", 205), ("advance", 230), ("setsockopt", 0, 1),
            ("advance", 250), ("advance", 250)),
    # small buffers, out-of-order data and SACK, zero window
    program(("setsockopt", 0, 3), ("reply", 33, 40), ("reply", 1, 40), ("reply", 66, 0),
            ("send", 0, 200), ("reply", 192, 0), ("advance", 201), ("reply", 0, 0)),
    # a second listener and a half-open flood by frames, then closing it
    program(("listen", 1, 2), ("close_listener", 1), ("accept",)),
    # UDP: bind, send, receive, close
    program(("udp_bind", 1), ("udp_send", 1, 10), ("udp_recv", 0), ("udp_close", 1),
            ("udp_send", 0, 255)),
    # a raw IPv4 frame (an ICMP echo to us) between calls
    program(("frame", 7), ) + bytes.fromhex(
        "4500001c0001000040010000c0000201c00002020800f7ff00000000"),
]
