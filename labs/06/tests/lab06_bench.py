"""What lab 6's tests are written with.

- `Checks`: a numbered transcript of facts about values (the Seq tests). Each step runs the
  student's code under a CPU budget, with its printed output kept under the step.
- `ReceiverBench`: the student's Receiver alone, given fakes of the connection around it
  (where its ACKs go, the connection it asks things of) and a timer wheel told a virtual
  time. Offsets count the peer's stream bytes from 0 (the byte after its SYN).
- `Scene` / `open_connection`: a whole stack (the student's receiver inside it, every other
  layer the reference) with a TcpPeer playing the kernel, for transcripts of real segments.

The numbers come from the variant: a hidden variant moves the peer's ISN (anywhere in
0 .. 2^32 - 1, and near 2^32 for the wrap tests), its port and the stack's port.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from labs.kit import Variant, graded_impl, make_harness
from labs.kit.checks import Checks
from netstack.counters import Counters
from netstack.stages.tcp.collaborators import ReceiveBuffer
from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
from netstack.stages.tcp.connection import TcpConnection
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.timestamps import Timestamps
from netstack.testing import TcpPeer
from netstack.timers import TimerWheel
from netstack.units import resolve_units
from netstack.wire.tcp import FLAG_ACK, FLAG_SYN, MssOption

MSS = 1460
MOD = 2**32


def units() -> Any:
    """The units under test: the student's where the grader says so, else the reference."""
    return resolve_units(graded_impl())


def wrap_isn(variant: Variant) -> int:
    """An ISN a few segments short of 2^32, so the stream crosses the wrap early on."""
    return MOD - 1 - variant.peer_isn % 3000


# --- the receiver alone -------------------------------------------------------------------


class ConnectionFake:
    """ReceiverHost: an open connection that records what the receiver tells it."""

    def __init__(self) -> None:
        self.app_closed = False
        self.closed = False
        self.events = 0
        self.reset_at: float | None = None

    def reset_after_close(self, now: float) -> None:
        self.reset_at = now

    def is_closed(self) -> bool:
        return self.closed

    def event(self) -> None:
        self.events += 1

    def notify_if_needed(self) -> None:
        pass


@dataclass
class SentAck:
    ack: int
    window: int
    sack: tuple[tuple[int, int], ...]


class AckWire:
    """AckSink: what the connection's emit does for an ACK: asks the receiver for the
    window and SACK blocks, then tells it an ACK went out."""

    def __init__(self) -> None:
        self.receiver: Any = None
        self.sent: deque[SentAck] = deque()

    def send_ack(self, now: float) -> None:
        r = self.receiver
        window = r.advertise()
        blocks = r.sack_blocks()
        self.sent.append(SentAck(r.rcv_nxt.value, window, tuple(blocks)))
        r.ack_sent()

    def ack_at_end_of_pass(self) -> bool:
        return False  # no engine pass: "ACK at once" means now


class ReceiverBench(Checks):
    """The student's Receiver after the peer's SYN (ISN `irs`), with a `rcvbuf`-byte buffer."""

    def __init__(self, variant: Variant, rcvbuf: int = 8 * MSS, sack: bool = False,
                 irs: int | None = None, config: TcpConfig | None = None) -> None:
        super().__init__(f"receiver alone, rcvbuf {rcvbuf}, MSS {MSS}", variant)
        self.irs = variant.peer_isn if irs is None else irs
        self.salt = variant.peer_port & 0xFF  # the stream's bytes differ between variants
        self.config = config or TcpConfig()
        self.options = TcpSocketOptions(rcvbuf=rcvbuf)
        self.rcvbuf = rcvbuf
        self.stream = ReceiveBuffer()
        self.out = AckWire()
        self.host = ConnectionFake()
        self.timers = TimerWheel()
        self.counters = Counters()
        receiver_class = units().tcp_receiver
        self.receiver = self.run("Receiver(...)", lambda: receiver_class(
            MSS, self.stream, self.out, self.host, self.timers, self.counters, self.options,
            self.config, Timestamps()))
        self.out.receiver = self.receiver
        self.receiver.sack_enabled = sack
        window = self.run("window_for_syn()", self.receiver.window_for_syn)
        self.run("start(irs, window)", lambda: self.receiver.start(Seq(self.irs), window))
        self.log(f"the peer's SYN: ISN {self.irs} (data from {self.seq(0)}), our SYN "
                 f"offered window {window}")

    def seq(self, offset: int) -> int:
        """The sequence number of stream byte `offset` (offset 0 is ISN + 1)."""
        return (self.irs + 1 + offset) % MOD

    def data(self, offset: int, length: int) -> bytes:
        return bytes((offset + i + self.salt) & 0xFF for i in range(length))

    # --- steps ------------------------------------------------------------------------

    def segment(self, offset: int, length: int, fin: bool = False) -> bool:
        """The peer's bytes [offset, offset + length) (and its FIN after them)."""
        data = self.data(offset, length)
        text = (f"receive   seq={self.seq(offset)} len={length}{' FIN' if fin else ''}"
                f"  (offsets {offset}..{offset + length})")
        fin_now = self.run(text, lambda: self.receiver.receive(
            Seq(self.seq(offset)), memoryview(data), fin, self.now))
        self.log(text, self._printed)
        return bool(fin_now)

    def read(self, n: int) -> bytes:
        data = self.run(f"app reads up to {n} bytes", lambda: self.receiver.take(n))
        self.log(f"app reads {len(data)} bytes", self._printed)
        return data

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.run(f"advance {seconds * 1000:g} ms", lambda: self.timers.advance(self.now))
        self.log(f"advance   {seconds * 1000:g} ms", self._printed)

    def expect_ack(self, offset: int, window: int | None = None,
                   sack: tuple[tuple[int, int], ...] = ()) -> SentAck:
        """The next ACK sent acknowledges every byte before `offset` (+1 for a FIN)."""
        ack = self.seq(offset)
        blocks = tuple((self.seq(a), self.seq(b)) for a, b in sack)
        wanted = f"ACK {ack}" + ("" if window is None else f" win={window}")
        wanted += "".join(f" SACK {a}-{b}" for a, b in blocks)
        if not self.out.sent:
            self.fail(f"expected {wanted}, got no ACK")
        got = self.out.sent.popleft()
        shown = f"ACK {got.ack} win={got.window}" + "".join(f" SACK {a}-{b}"
                                                             for a, b in got.sack)
        if got.ack != ack:
            self.fail(f"expected {wanted}, got {shown} (that acknowledges offset "
                      f"{(got.ack - self.irs - 1) % MOD}, wanted offset {offset})")
        if window is not None and got.window != window:
            self.fail(f"expected {wanted}, got {shown} (window is {got.window}, wanted {window})")
        if got.sack != blocks:
            self.fail(f"expected {wanted}, got {shown}")
        self.log(f"sent      {shown}")
        return got

    def expect_no_ack(self) -> None:
        if self.out.sent:
            got = self.out.sent[0]
            self.fail(f"expected no ACK, got ACK {got.ack} win={got.window}")
        self.log("sent      nothing")

    def check_value(self, description: str, value: Any, expected: Any) -> None:
        if value != expected:
            shown = f"{len(value)} bytes" if isinstance(value, bytes) else repr(value)
            self.fail(f"expected {description} == {expected!r}, got {shown}"
                      if not isinstance(expected, bytes) else
                      f"expected {description} to be the {len(expected)} bytes sent, got "
                      f"{shown}" + _first_difference(value, expected))
        shown = f"{len(value)} bytes" if isinstance(value, bytes) else repr(value)
        self.log(f"check     {description} == {shown}")

    def readable(self) -> int:
        return len(self.stream.data)


def _first_difference(got: Any, expected: bytes) -> str:
    if not isinstance(got, bytes | bytearray):
        return ""
    for i, (a, b) in enumerate(zip(got, expected, strict=False)):
        if a != b:
            return f" (first difference at byte {i}: {a} instead of {b})"
    return ""


# --- a whole stack with a peer ------------------------------------------------------------


@dataclass
class Scene:
    """An established connection: `peer_next` is the peer's next sequence number, `our_next`
    the stack's (what the peer acknowledges)."""

    harness: Any
    peer: TcpPeer
    conn: TcpConnection
    isn: int
    peer_next: int
    our_next: int

    def data(self, offset: int, length: int) -> bytes:
        return bytes((offset * 7 + i * 13 + self.isn) & 0xFF for i in range(length))

    def send(self, offset: int, length: int, flags: int = FLAG_ACK) -> None:
        """The peer sends its stream bytes [offset, offset + length)."""
        self.peer.send(flags, seq=(self.isn + 1 + offset) % MOD, ack=self.our_next,
                       data=self.data(offset, length))

    def ack_for(self, offset: int) -> int:
        return (self.isn + 1 + offset) % MOD

    def read(self, n: int) -> bytes:
        box: list[bytes] = []
        self.harness.call(f"the application reads up to {n} bytes",
                          lambda stack, now: box.append(self._read(n, now)))
        return box[0]

    def _read(self, n: int, now: float) -> bytes:
        data = self.conn.read_app(n)
        self.conn.app_did_read(now)
        return data


def open_connection(variant: Variant, isn: int | None = None, rcvbuf: int = 64 * 1024,
                    delayed_ack: float = 0.04) -> Scene:
    """The stack listens on the variant's port; the peer connects (MSS 1460, no SACK,
    timestamps or window scaling, so every window is in bytes) and the stack accepts."""
    isn = variant.peer_isn if isn is None else isn
    tcp = {"rcvbuf": rcvbuf, "rcvbuf_autotune": False, "delayed_ack": delayed_ack}
    h = make_harness(variant, peer_known=True, tcp=tcp)
    listener = h.stack.tcp.listen(None, variant.stack_port, 8)
    peer = TcpPeer(h, variant.stack_port, variant.peer_port, variant.peer_ip, variant.peer_mac)
    peer.send(FLAG_SYN, seq=isn, options=(MssOption(MSS),))
    syn_ack = peer.expect(FLAG_SYN | FLAG_ACK, ack=(isn + 1) % MOD)
    our_next = (syn_ack.seq + 1) % MOD
    peer.send(FLAG_ACK, seq=(isn + 1) % MOD, ack=our_next)
    peer.expect_nothing()
    assert listener.accept_queue, "the stack did not accept the connection"
    conn = listener.accept_queue.popleft()
    return Scene(h, peer, conn, isn, (isn + 1) % MOD, our_next)
