"""What lab 9's tests are written with.

- `CcBench`: your congestion control alone, told what the sender saw (an ACK of so many
  bytes, a fast retransmit, a timeout...) one step at a time; each step shows cwnd and
  ssthresh after it, in bytes and in MSS.
- `Scene` / `open_connection`: a whole stack (your congestion control inside it, every other
  layer the reference) sending to a TcpPeer that plays the receiver, with no SACK and no
  timestamps, so loss recovery is NewReno's (RFC 6582). `expect_cwnd` checks cwnd and
  ssthresh between frames, and every CwndChange trace event is kept.

The numbers come from the variant: a hidden variant changes the MSS (536 to 8960 bytes for
the unit alone; at most 1460 through the stack, whose link MTU is 1500), the ports and the
ISNs. The expected values are computed from the MSS with the rules the handout states.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from labs.kit import Variant, graded_impl, make_harness
from labs.kit.checks import Checks
from labs.kit.tcp import accept_connection
from netstack.stages.tcp.connection import TcpConnection
from netstack.stages.tcp.info import tcp_info
from netstack.testing import TcpPeer, TranscriptMismatch
from netstack.testing.harness import Harness, Step
from netstack.units import UNITS, load
from netstack.wire.tcp import FLAG_ACK

MOD = 2**32
BIG = 1 << 30  # "arbitrarily high" (RFC 5681 §3.1): the least initial ssthresh accepted


def algorithm_path() -> str:
    """The class under test: yours (lab.toml [units]) when the grader says so."""
    return graded_impl().get("congestion", UNITS["congestion"].reference)


def unit_mss(variant: Variant) -> int:
    """The MSS of the unit tests: 1460 in public, any of these in a hidden variant (they
    cover each branch of RFC 6928's formula: 10 * MSS, 14600 and 2 * MSS)."""
    if variant.public:
        return 1460
    return random.Random(f"lab9-mss/{variant.seed}").choice([536, 1000, 1448, 1460, 4000, 8960])


def stack_mss(variant: Variant) -> int:
    """The MSS the peer offers through the stack (a 1500-byte MTU caps it at 1460)."""
    if variant.public:
        return 1460
    return random.Random(f"lab9-stack-mss/{variant.seed}").choice([536, 1000, 1220, 1460])


def iw(mss: int) -> int:
    """RFC 6928 §2, written out again here so the tests do not trust the code under test."""
    return min(10 * mss, max(2 * mss, 14600))


def in_mss(value: Any, mss: int) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value < BIG:
        return f"{value} ({value / mss:g} MSS)"
    return repr(value)


# --- the unit alone -------------------------------------------------------------------------

class CcBench(Checks):
    """Your class, made for one MSS, with the sender's events played to it."""

    def __init__(self, variant: Variant, mss: int | None = None) -> None:
        super().__init__("your congestion control alone", variant)
        self.mss = mss if mss is not None else unit_mss(variant)
        path = algorithm_path()
        cls = self.run(f"import {path}", lambda: load(path, "unit congestion"))
        self.cc = self.run(f"{path}({self.mss})", lambda: cls(self.mss))
        self.log(f"made {path.rsplit(':', 1)[-1]}(mss={self.mss})  {self.state()}", self._printed)

    def state(self) -> str:
        cc, mss = self.cc, self.mss
        return (f"cwnd={in_mss(getattr(cc, 'cwnd', None), mss)} "
                f"ssthresh={in_mss(getattr(cc, 'ssthresh', None), mss)} "
                f"in_recovery={getattr(cc, 'in_recovery', None)}")

    def event(self, description: str, action: Any) -> None:
        """One call into your code (the sender telling it something), then its state."""
        self.run(description, action)
        self.log(f"{description}  -> {self.state()}", self._printed)

    # what the sender tells the algorithm -------------------------------------------------
    def ack(self, nbytes: int, now: float = 0.0) -> None:
        self.event(f"on_ack({nbytes})", lambda: self.cc.on_ack(nbytes, now))

    def acks(self, count: int, nbytes: int) -> None:
        """`count` ACKs of `nbytes` each, as one step."""
        def all_of_them() -> None:
            for _ in range(count):
                self.cc.on_ack(nbytes, self.now)
        self.event(f"{count} x on_ack({nbytes})", all_of_them)

    def fast_retransmit(self, flight: int, dupacks: int = 3) -> None:
        self.event(f"on_fast_retransmit(dupacks={dupacks}, flight_size={in_mss(flight, self.mss)})",
                   lambda: self.cc.on_fast_retransmit(dupacks, flight, self.now))

    def dupack(self) -> None:
        self.event("on_dupack()", lambda: self.cc.on_dupack(self.now))

    def partial_ack(self, nbytes: int) -> None:
        self.event(f"on_partial_ack({nbytes})", lambda: self.cc.on_partial_ack(nbytes, self.now))

    def recovery_end(self, flight: int) -> None:
        self.event(f"on_recovery_end(flight_size={in_mss(flight, self.mss)})",
                   lambda: self.cc.on_recovery_end(flight, self.now))

    def timeout(self, flight: int) -> None:
        self.event(f"on_retransmit_timeout(flight_size={in_mss(flight, self.mss)})",
                   lambda: self.cc.on_retransmit_timeout(flight, self.now))

    def set_window(self, cwnd: int, ssthresh: int) -> None:
        """What the stack does when TCP_CONGESTION switches algorithms mid-connection: it
        writes cwnd and ssthresh from outside; your class must take them as they are."""
        def assign() -> None:
            self.cc.cwnd, self.cc.ssthresh = cwnd, ssthresh
        self.event(f"the stack sets cwnd={in_mss(cwnd, self.mss)}, "
                   f"ssthresh={in_mss(ssthresh, self.mss)}", assign)

    # what the test expects -----------------------------------------------------------------
    def expect(self, cwnd: int | None = None, ssthresh: int | None = None,
               in_recovery: bool | None = None) -> None:
        for name, wanted in (("cwnd", cwnd), ("ssthresh", ssthresh),
                             ("in_recovery", in_recovery)):
            if wanted is None:
                continue
            got = getattr(self.cc, name, "(missing)")
            if got != wanted or type(got) is not type(wanted):
                self.fail(f"expected {name} == {in_mss(wanted, self.mss)}, got "
                          f"{in_mss(got, self.mss)}")
            self.log(f"check {name} == {in_mss(wanted, self.mss)}")

    def expect_one_of(self, name: str, allowed: list[int], why: str) -> None:
        got = getattr(self.cc, name, "(missing)")
        if got not in allowed:
            shown = " or ".join(in_mss(a, self.mss) for a in allowed)
            self.fail(f"expected {name} == {shown} ({why}), got {in_mss(got, self.mss)}")
        self.log(f"check {name} == {in_mss(got, self.mss)} ({why})")


# --- a whole stack with a peer ------------------------------------------------------------

@dataclass
class CheckCwnd(Step):
    """Between frames: the connection's cwnd (and ssthresh) must be these."""

    scene: Scene
    cwnd: int | None
    ssthresh: int | None

    def apply(self, h: Harness) -> str:
        cc, mss = self.scene.conn.sender.cc, self.scene.mss
        if cc is None:
            raise TranscriptMismatch("the connection has no congestion control yet")
        for name, wanted in (("cwnd", self.cwnd), ("ssthresh", self.ssthresh)):
            if wanted is not None and getattr(cc, name) != wanted:
                raise TranscriptMismatch(f"expected {name} == {in_mss(wanted, mss)}, got "
                                         f"{in_mss(getattr(cc, name), mss)}")
        return f"check     cwnd={in_mss(cc.cwnd, mss)} ssthresh={in_mss(cc.ssthresh, mss)}"


@dataclass
class Scene:
    """An established connection; offsets count the stack's stream from 0 and lengths are
    in segments of `mss` bytes where the helpers say so."""

    harness: Any
    peer: TcpPeer
    conn: TcpConnection
    iss: int  # the stack's
    peer_next: int  # the peer's next sequence number
    mss: int
    written: bytearray = field(default_factory=bytearray)
    cwnd_events: list[Any] = field(default_factory=list)  # CwndChange trace events

    def seq(self, offset: int) -> int:
        return (self.iss + 1 + offset) % MOD

    def write(self, nbytes: int) -> None:
        data = bytes((i * 7 + 3) % 251 for i in range(len(self.written), len(self.written) + nbytes))
        self.written += data

        def act(stack: Any, now: float) -> None:
            self.conn.write_app(data)
            self.conn.app_did_write(now)
        self.harness.call(f"the application writes {nbytes} bytes", act)

    def ack(self, offset: int, window: int = 65535) -> None:
        self.peer.send(FLAG_ACK, seq=self.peer_next, ack=self.seq(offset), window=window)

    def ack_segments(self, n: int) -> None:
        self.ack(n * self.mss)

    def expect_segment(self, index: int) -> Any:
        """The next frame out carries segment number `index` (bytes index*mss onwards)."""
        start = index * self.mss
        return self.peer.expect(FLAG_ACK, seq=self.seq(start), ack=self.peer_next,
                                payload=bytes(self.written[start:start + self.mss]))

    def expect_segments(self, first: int, count: int) -> None:
        for i in range(first, first + count):
            self.expect_segment(i)

    def expect_cwnd(self, cwnd: int | None = None, ssthresh: int | None = None) -> None:
        self.harness.step(CheckCwnd(self, cwnd, ssthresh))

    def info(self) -> Any:
        return tcp_info(self.conn, self.harness.now)


def open_connection(variant: Variant, window: int = 65535, rtt: float = 0.1) -> Scene:
    """The stack listens on the variant's port; the peer connects offering the variant's MSS
    (no SACK, no timestamps, no window scaling) and acknowledges the SYN-ACK `rtt` seconds
    later. The stack's tail loss probe is off, so only ACKs and the RTO make it send."""
    mss = stack_mss(variant)
    iss = 1000 if variant.public else (variant.peer_isn * 7 + 99991) % MOD
    h = make_harness(variant, peer_known=True, tcp={"tail_loss_probe": False})
    events: list[Any] = []
    h.stack.trace.subscribe(events.append, {"cwnd"})
    peer, conn = accept_connection(h, variant, iss, mss, window, rtt)
    return Scene(h, peer, conn, iss, (variant.peer_isn + 1) % MOD, mss, cwnd_events=events)


def check_in_transcript(scene: Scene, description: str, problem: Any) -> None:
    """A step that checks something about the connection: `problem()` returns None when
    all is well, else what is wrong (one line)."""
    def act(stack: Any, now: float) -> None:
        found = problem()
        if found:
            raise TranscriptMismatch(f"{description}: {found}")
    scene.harness.call(f"check {description}", act)
