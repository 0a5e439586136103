"""What lab 7's tests are written with.

- `Checks`: a numbered transcript of facts about values (the RTO tests). Each step runs the
  student's code under a CPU budget, with its printed output kept under the step.
- `SenderBench`: the student's Sender (with the student's RtoEstimator) alone, given fakes
  of the connection around it (where its segments go, the connection it asks things of)
  and a timer wheel told a virtual time. Offsets count our stream bytes from 0.
- `Scene` / `open_connection`: a whole stack (the student's sender and RTO inside it, every
  other layer the reference) with a TcpPeer playing the kernel.

The numbers come from the variant: a hidden variant moves our ISN (derived from its seed,
near 2^32 for the wrap tests), the initial RTO, the peer's port and the stack's port.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from labs.kit import Variant, graded_impl, make_harness
from labs.kit.checks import Checks
from labs.kit.tcp import accept_connection
from netstack.counters import Counters
from netstack.stages.tcp.collaborators import SendBuffer
from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
from netstack.stages.tcp.connection import TcpConnection
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.timestamps import Timestamps
from netstack.testing import TcpPeer
from netstack.timers import TimerWheel
from netstack.units import resolve_units
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH

MSS = 1460
MOD = 2**32


def units() -> Any:
    """The units under test: the student's where the grader says so, else the reference."""
    return resolve_units(graded_impl())


def our_isn(variant: Variant) -> int:
    """The stack's ISN in the benches: the public variant's is 1000."""
    return 1000 if variant.public else (variant.peer_isn * 7 + 99991) % MOD


def wrap_isn(variant: Variant) -> int:
    """An ISN a few segments short of 2^32, so the stream crosses the wrap early on."""
    return MOD - 1 - variant.peer_isn % 3000


# --- the sender alone ---------------------------------------------------------------------

HANDSHAKE_RTT = 0.1  # the SYN-ACK's sample: SRTT 100 ms, RTTVAR 50 ms, RTO 300 ms
PEER_ISN = 5000  # the peer's: our ACKs do not matter to the sender


class ConnectionFake:
    """SenderHost: an established connection that records what the sender tells it."""

    def __init__(self) -> None:
        self.allowed = True
        self.limit = 15
        self.gave_up_at: float | None = None
        self.freed: list[int] = []

    def sending_allowed(self) -> bool:
        return self.allowed

    def retry_limit(self) -> int:
        return self.limit

    def give_up(self, now: float) -> None:
        self.gave_up_at = now

    def resend_syn(self, now: float) -> bool:
        return False  # past the handshake

    def send_space_freed(self, freed: int) -> None:
        self.freed.append(freed)

    def notify_if_needed(self) -> None:
        pass


@dataclass
class Sent:
    flags: int
    seq: int
    data: bytes
    at: float


class SegmentWire:
    """SegmentSink: keeps every segment, its bytes copied out of the send buffer."""

    tso_max = 0

    def __init__(self, stream: SendBuffer, bench: SenderBench) -> None:
        self.stream = stream
        self.bench = bench
        self.sent: deque[Sent] = deque()

    def emit(self, flags: int, seq: Seq, now: float, offset: int = 0, length: int = 0) -> None:
        data = bytes(self.stream.data[offset:offset + length])
        self.sent.append(Sent(flags, seq.value, data, now))

    def sack_block_count(self) -> int:
        return 0

    def begin_tx_burst(self) -> None:
        pass

    def end_tx_burst(self) -> None:
        pass


def flag_text(flags: int) -> str:
    names = [name for bit, name in ((FLAG_FIN, "FIN"), (FLAG_PSH, "PSH"), (FLAG_ACK, "ACK"))
             if flags & bit]
    return "|".join(names) or "none"


class SenderBench(Checks):
    """The student's Sender past the handshake: our SYN (ISN `iss`) acknowledged by a
    SYN-ACK offering `window` bytes; with `rtt` the SYN was timed (one RTT sample), with
    None it was not (the RTO is still the initial one, the variant's)."""

    def __init__(self, variant: Variant, window: int = 65535, nodelay: bool = False,
                 iss: int | None = None, rtt: float | None = HANDSHAKE_RTT,
                 config: TcpConfig | None = None) -> None:
        super().__init__(f"sender alone, MSS {MSS}", variant)
        self.iss = our_isn(variant) if iss is None else iss
        self.config = config or TcpConfig(initial_rto=variant.initial_rto,
                                          tail_loss_probe=False)
        self.options = TcpSocketOptions(nodelay=nodelay)
        self.stream = SendBuffer()
        self.out = SegmentWire(self.stream, self)
        self.host = ConnectionFake()
        self.timers = TimerWheel()
        self.counters = Counters()
        found = units()
        c = self.config
        self.rto = self.run("RtoEstimator(...)", lambda: found.tcp_rto(
            c.initial_rto, c.min_rto, c.max_rto, c.clock_granularity))
        self.sender = s = self.run("Sender(...)", lambda: found.tcp_sender(
            Seq(self.iss), self.stream, self.out, self.host, self.timers, self.rto,
            self.counters, self.options, self.config, Timestamps()))
        s.mss = MSS
        # What the connection does: our SYN goes out, the peer's SYN-ACK acknowledges it.
        s.snd_nxt = s.snd_max = Seq(self.iss + 1)
        if rtt is not None:
            self.run("start_handshake(0)", lambda: s.start_handshake(self.now))
            self.now = rtt
        s.snd_wnd = s.max_snd_wnd = window
        s.snd_wl1 = Seq(PEER_ISN)
        self.run("on_ack(the SYN-ACK)", lambda: s.on_ack(Seq(PEER_ISN), Seq(self.iss + 1),
                                                         window, 0, self.now))
        s.cc = found.congestion(MSS)
        rto_ms = self.run("rto", lambda: self.rto.rto) * 1000
        self.log(f"established: ISS {self.iss} (data from {self.seq(0)}), the peer's window "
                 f"{window}, cwnd {s.cc.cwnd}, RTO {rto_ms:.0f} ms")
        self.written = 0

    def seq(self, offset: int) -> int:
        return (self.iss + 1 + offset) % MOD

    def data(self, offset: int, length: int) -> bytes:
        """Our stream's bytes: a letter per 100 bytes (a..z, again and again)."""
        return bytes(97 + (offset + i) // 100 % 26 for i in range(length))

    # --- steps ------------------------------------------------------------------------

    def write(self, n: int) -> None:
        """The application writes `n` more bytes; the connection asks the sender to send."""
        self.stream.data += self.data(self.written, n)
        self.written += n
        self.run(f"app writes {n} bytes", lambda: self.sender.output(self.now))
        self.log(f"app writes {n} bytes (offsets {self.written - n}..{self.written})",
                 self._printed)

    def close(self) -> None:
        """The application is done: a FIN follows the data."""
        self.sender.fin_queued = True
        self.run("app closes", lambda: self.sender.output(self.now))
        self.log("app closes: a FIN follows the data", self._printed)

    def ack(self, offset: int, window: int = 65535, fin: bool = False) -> None:
        """The peer acknowledges every byte before `offset` (and our FIN), offering `window`;
        then, as the connection does after every acceptable ACK, the sender may send."""
        ack = (self.seq(offset) + (1 if fin else 0)) % MOD
        text = f"receive   ACK {ack} win={window}  (offset {offset}{' + FIN' if fin else ''})"

        def both() -> None:
            self.sender.on_ack(Seq(PEER_ISN + 1), Seq(ack), window, 0, self.now)
            self.sender.output(self.now)
        self.run(text, both)
        self.log(text, self._printed)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.run(f"advance {seconds * 1000:g} ms", lambda: self.timers.advance(self.now))
        self.log(f"advance   {seconds * 1000:g} ms", self._printed)

    def expect(self, offset: int, length: int, fin: bool = False, psh: bool | None = None
               ) -> Sent:
        """The next segment: our bytes [offset, offset + length) (and the FIN). PSH is only
        checked when `psh` is given."""
        wanted = f"seq={self.seq(offset)} len={length}{' FIN' if fin else ''}"
        if psh is not None:
            wanted += " PSH" if psh else " no PSH"
        if not self.out.sent:
            self.fail(f"expected a segment {wanted} (offset {offset}), got nothing")
        got = self.out.sent.popleft()
        shown = (f"{flag_text(got.flags)} seq={got.seq} len={len(got.data)}"
                 f"  (offset {(got.seq - self.iss - 1) % MOD})")
        ok = (got.seq == self.seq(offset) and len(got.data) == length
              and bool(got.flags & FLAG_FIN) == fin and got.flags & FLAG_ACK
              and (psh is None or bool(got.flags & FLAG_PSH) == psh))
        if not ok:
            self.fail(f"expected a segment {wanted} (offset {offset}), got {shown}")
        if got.data != self.data(offset, length):
            self.fail(f"the segment at offset {offset} carries other bytes than the "
                      "application wrote there")
        self.log(f"sent      {shown}")
        return got

    def expect_after(self, wait: float, offset: int, length: int, fin: bool = False) -> Sent:
        """Nothing until 1 ms before `wait` from now; then, by 1 ms after, this segment.
        (A millisecond either side: deadlines are sums of floats.)"""
        self.advance(wait - 0.001)
        self.expect_nothing()
        self.advance(0.002)
        return self.expect(offset, length, fin)

    def expect_nothing(self) -> None:
        if self.out.sent:
            got = self.out.sent[0]
            self.fail(f"expected nothing sent, got {flag_text(got.flags)} seq={got.seq} "
                      f"len={len(got.data)}")
        self.log("sent      nothing")

    def check_value(self, description: str, value: Any, expected: Any, tolerance: float = 0
                    ) -> None:
        ok = (abs(value - expected) <= tolerance if tolerance and value is not None
              else value == expected)
        if not ok:
            self.fail(f"expected {description} == {expected!r}, got {value!r}")
        self.log(f"check     {description} == {value!r}")

    def counter(self, name: str) -> int:
        return self.counters.get(name, 0)


# --- a whole stack with a peer ------------------------------------------------------------


@dataclass
class Scene:
    """An established connection; offsets count the stack's stream from 0."""

    harness: Any
    peer: TcpPeer
    conn: TcpConnection
    iss: int  # the stack's
    peer_next: int  # the peer's next sequence number
    written: bytearray = field(default_factory=bytearray)

    def seq(self, offset: int) -> int:
        return (self.iss + 1 + offset) % MOD

    def write(self, data: bytes) -> None:
        self.written += data

        def act(stack: Any, now: float) -> None:
            self.conn.write_app(data)
            self.conn.app_did_write(now)
        self.harness.call(f"the application writes {len(data)} bytes", act)

    def shutdown(self) -> None:
        self.harness.call("the application shuts its side down (FIN)",
                          lambda stack, now: self.conn.shutdown_write(now))

    def ack(self, offset: int, window: int = 65535, fin: bool = False) -> None:
        self.peer.send(FLAG_ACK, seq=self.peer_next, ack=(self.seq(offset) + fin) % MOD,
                       window=window)

    def expect(self, offset: int, length: int, fin: bool = False) -> Any:
        """The next segment carries our bytes [offset, offset + length) (and the FIN)."""
        flags = FLAG_ACK | (FLAG_FIN if fin else 0)
        return self.peer.expect(flags, seq=self.seq(offset), ack=self.peer_next,
                                payload=bytes(self.written[offset:offset + length]))


def open_connection(variant: Variant, iss: int | None = None, window: int = 65535,
                    rtt: float = HANDSHAKE_RTT) -> Scene:
    """The stack (its ISN `iss`) listens on the variant's port; the peer connects (MSS 1460,
    nothing else) and acknowledges the SYN-ACK `rtt` seconds later: SRTT = rtt."""
    iss = our_isn(variant) if iss is None else iss
    h = make_harness(variant, peer_known=True, tcp={"tail_loss_probe": False})
    peer, conn = accept_connection(h, variant, iss, MSS, window, rtt)
    return Scene(h, peer, conn, iss, (variant.peer_isn + 1) % MOD)
