"""The world a fuzz input runs in: one stack on the test network, in virtual time, with a TCP
listener, a UDP socket and an established TCP connection, and the checks that follow an input.

Everything is fixed (seed, ISNs, addresses), so one input always takes the same path: a crash
found once replays forever. The peer is 192.0.2.1 (port 40000), the stack 192.0.2.2:
    TCP 80  listening, and one connection from the peer, established and accepted
    UDP 7   bound (datagrams queue up for the application, which reads them now and then)
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp import TcpConfig
from netstack.stages.tcp.state import TcpState
from netstack.testing.tcp import decode_tcp, tcp_frame
from netstack.wire.tcp import FLAG_ACK, FLAG_SYN
from netstack.wire.tcp_options import (
    MssOption,
    SackPermittedOption,
    TimestampOption,
    WindowScaleOption,
)

STACK_MAC = bytes.fromhex("020000000002")
STACK_IP = IPv4Address("192.0.2.2")
PEER_MAC = bytes.fromhex("020000000001")
PEER_IP = IPv4Address("192.0.2.1")
TCP_PORT = 80
UDP_PORT = 7
PEER_PORT = 40000
PEER_ISN = 1000
STACK_ISN = 5000
POOL_SIZE = 128
SEED = 16
# A small TCP config so limits are reached by short inputs: a few half-open connections,
# a short TIME_WAIT (2 x MSL) and few out-of-order blocks.
FUZZ_TCP = TcpConfig(msl=1.0, syn_queue_limit=8, max_out_of_order=16)
# Past every timer the stack arms for a connection or a datagram: TIME_WAIT, retransmission
# back-off, keepalive, reassembly and ARP aging. Teardown advances the clock this far.
SETTLE_SECONDS = 3 * 3600.0
MAX_SETTLE_STEPS = 10_000  # timers firing one after another; more is a timer that never stops


class InvariantViolation(AssertionError):
    """The stack broke a promise an input cannot excuse (a leak, a structure past its bound)."""


class World:
    """A stack set up as the module docstring says; `deliver`, `advance`, then `finish`."""

    def __init__(self, establish: bool = True) -> None:
        config = StackConfig(
            mac=STACK_MAC, address=IPv4Interface(f"{STACK_IP}/24"), gateway=PEER_IP,
            static_arp={PEER_IP: PEER_MAC}, random_seed=SEED, tcp=FUZZ_TCP,
        )
        self.stack = stack = Stack(config, MbufPool(POOL_SIZE))
        stack.tcp.isn_hook = lambda *_: STACK_ISN
        self.now = 0.0
        self.sent: list[bytes] = []  # the last frames the stack sent (the peer may answer them)
        self.empty_timers = len(stack.timers)  # with no socket open: the baseline at the end
        self.listener = stack.tcp.listen(None, TCP_PORT, backlog=8)
        self.udp = stack.udp.bind(None, UDP_PORT)
        self.accepted = []
        if establish:
            self._handshake()

    def _handshake(self) -> None:
        syn_options = (MssOption(1460), SackPermittedOption(), TimestampOption(1, 0),
                       WindowScaleOption(7))
        self.deliver(self.peer_frame(FLAG_SYN, PEER_ISN, 0, options=syn_options))
        self.deliver(self.peer_frame(FLAG_ACK, PEER_ISN + 1, STACK_ISN + 1,
                                     options=(TimestampOption(2, 1),)))
        self.accept()
        if not self.accepted or self.accepted[0].state != TcpState.ESTABLISHED:
            raise InvariantViolation("the fuzz world's handshake did not establish")

    @staticmethod
    def peer_frame(flags: int, seq: int, ack: int, data: bytes = b"", options: tuple = (),
                   port: int = TCP_PORT, window: int = 65535) -> bytes:
        """A frame from the peer's port 40000 to the stack's `port`."""
        return tcp_frame(PEER_IP, STACK_IP, PEER_PORT, port, seq, ack, flags, window=window,
                         payload=data, options=options, src_mac=PEER_MAC, dst_mac=STACK_MAC)

    # --- driving the stack ------------------------------------------------------------------

    def deliver(self, frame: bytes | bytearray) -> None:
        self.stack.receive(frame, self.now)
        self.drain()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.stack.advance(self.now)
        self.drain()

    def settle(self) -> None:
        """Run every timer due in the next SETTLE_SECONDS, each at its own deadline (a timer
        a callback arms counts from that deadline, as it would in a real run)."""
        end = self.now + SETTLE_SECONDS
        for _ in range(MAX_SETTLE_STEPS):
            deadline = self.stack.next_deadline()
            if deadline is None or deadline > end:
                break
            self.advance(max(deadline - self.now, 0.0))
        else:
            raise InvariantViolation(f"timers still firing after {MAX_SETTLE_STEPS} steps")
        self.advance(end - self.now)

    def drain(self) -> None:
        """Frames the stack sent go to the wire (kept a while for the peer), mbufs to the pool."""
        stack = self.stack
        while stack.outgoing:
            mbuf = stack.outgoing.popleft()
            self.sent.append(mbuf.tobytes())
            stack.pool.free(mbuf)
        del self.sent[:-8]
        stack.to_kni.clear()

    def accept(self) -> None:
        queue = self.listener.accept_queue
        while queue:
            self.accepted.append(queue.popleft())

    def application_turn(self) -> None:
        """The application reads what arrived: TCP bytes and UDP datagrams."""
        self.accept()
        for conn in self.accepted:
            if conn.readable:
                conn.read_app(conn.readable)
                conn.app_did_read(self.now)
        while self.udp.queue and not self.udp.closed:
            self.udp.take()
        self.drain()

    def last_segment_sent(self):
        """The last TCP segment the stack sent, decoded, or None."""
        for frame in reversed(self.sent):
            segment = decode_tcp(frame)
            if segment is not None:
                return segment
        return None

    # --- after an input ---------------------------------------------------------------------

    def check_bounds(self) -> None:
        """What no input may push past its configured limit."""
        stack = self.stack
        tcp_config = stack.tcp.config
        for listener in stack.tcp.listeners():
            if len(listener.half_open) > tcp_config.syn_queue_limit:
                raise InvariantViolation(f"{len(listener.half_open)} half-open connections")
            if len(listener.accept_queue) > listener.backlog:
                raise InvariantViolation(f"accept queue of {len(listener.accept_queue)}")
        reassembler = stack.ipv4.reassembler
        if len(reassembler) > stack.config.reassembly_max_datagrams:
            raise InvariantViolation(f"{len(reassembler)} datagrams in reassembly")
        if getattr(reassembler, "memory_used", 0) > stack.config.reassembly_memory_limit:
            raise InvariantViolation("reassembly holds more bytes than its limit")
        for conn in stack.tcp.connections():
            held = conn.readable + conn.receiver.out_of_order_bytes
            if held > 4 * max(conn.options.rcvbuf, tcp_config.rcvbuf_max):
                raise InvariantViolation(f"{conn} holds more than its receive buffer")
        if stack.pool.available + len(stack.outgoing) > len(stack.pool):
            raise InvariantViolation("more mbufs free than the pool has (a double free)")
        if len(stack.arp.table) > stack.config.arp_table_limit:
            raise InvariantViolation(f"{len(stack.arp.table)} ARP entries")
        if stack.tcp.time_wait_count > tcp_config.max_time_wait:
            raise InvariantViolation(f"{stack.tcp.time_wait_count} connections in TIME-WAIT")
        # The stage's ledger of out-of-order bytes (what max_out_of_order_total bounds)
        # must be what the connections really hold.
        held = sum(conn.receiver.out_of_order_bytes for conn in stack.tcp.connections())
        if stack.tcp.out_of_order_held != held:
            raise InvariantViolation(f"the stage counts {stack.tcp.out_of_order_held} "
                                     f"out-of-order bytes, the connections hold {held}")
        if held > tcp_config.max_out_of_order_total:
            raise InvariantViolation(f"{held} out-of-order bytes held")

    def finish(self) -> None:
        """Close everything, let every timer run out, and check nothing was left behind."""
        self.check_bounds()
        stack = self.stack
        self.accept()
        for conn in stack.tcp.connections():
            conn.abort(self.now)
        for listener in stack.tcp.listeners():
            stack.tcp.close_listener(listener, self.now)
        for endpoint in stack.udp.endpoints():
            stack.udp.close(endpoint)
        self.drain()
        self.settle()
        if stack.tcp.connection_count:
            raise InvariantViolation(f"{stack.tcp.connections()} left after closing all")
        if stack.pool.available != len(stack.pool):
            raise InvariantViolation(
                f"mbuf pool: {stack.pool.available} of {len(stack.pool)} free after closing all")
        if len(stack.timers) > self.empty_timers:
            raise InvariantViolation(
                f"{len(stack.timers)} timers pending after closing all (baseline "
                f"{self.empty_timers})")
        if len(stack.ipv4.reassembler):
            raise InvariantViolation("reassembly still holds datagrams after its timeout")
        if stack.tcp.out_of_order_held or stack.tcp.time_wait_count:
            raise InvariantViolation(
                f"{stack.tcp.out_of_order_held} out-of-order bytes and "
                f"{stack.tcp.time_wait_count} TIME-WAIT entries counted after closing all")
