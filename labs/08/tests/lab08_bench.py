"""What lab 8's tests are written with: a whole stack (your connection inside it, every other
layer the reference) and a TcpPeer playing the other end, for transcripts of real segments.

- `listening(variant)`: the stack listens on the variant's port; `passive_open` adds the
  peer's three-way handshake (the peer offers MSS 1460 and nothing else: no timestamps,
  SACK or window scaling, so every segment below is plain).
- `active_open(variant)`: the stack connects from the variant's port to the peer's; the
  first step expects its SYN.
- `Scene`: the connection, what the peer sends next (`peer_next`) and what it acknowledges
  when all the stack sent arrived (`our_next`); steps for the application's side (`app`)
  and for checking the state (`expect_state`, `expect_gone`).

Every number comes from the variant: a hidden variant moves the peer's ISN (anywhere in
0 .. 2^32 - 1), the ports, the addresses, the initial RTO and the stack's own ISN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labs.kit import Variant, graded_impl, make_harness
from netstack.stages.tcp.state import TcpState
from netstack.testing import TcpPeer
from netstack.testing.frames import TranscriptMismatch
from netstack.testing.harness import Step
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, MssOption

ACK, SYN, FIN, RST = FLAG_ACK, FLAG_SYN, FLAG_FIN, FLAG_RST
MOD = 2**32
MSS = 1460
MSL = 5.0  # the tests' MSL: TIME-WAIT lasts 2 x MSL = 10 s of virtual time


def seq(n: int) -> int:
    return n % MOD


@dataclass
class Check(Step):
    """A fact about the stack, checked between segments: `problem()` says what is wrong
    (None: all is well)."""

    description: str
    problem: Callable[[], str | None]

    def apply(self, h: Any) -> str:
        wrong = self.problem()
        if wrong:
            raise TranscriptMismatch(f"expected {self.description}, but {wrong}")
        return f"check     {self.description}"


@dataclass
class Scene:
    harness: Any
    peer: TcpPeer
    variant: Variant
    conn: Any = None
    listener: Any = None
    peer_isn: int = 0
    our_isn: int = 0
    peer_next: int = 0  # the peer's next sequence number (the stack's RCV.NXT)
    our_next: int = 0  # what the peer acknowledges when everything the stack sent arrived

    @property
    def tcp(self) -> Any:
        return self.harness.stack.tcp

    @property
    def now(self) -> float:
        return self.harness.now

    # --- the application's side ----------------------------------------------------------

    def app(self, description: str, action: Callable[[Any, float], Any]) -> None:
        """The application does something to the connection (close, shutdown...)."""
        self.harness.call(description, lambda stack, now: action(self.conn, now))

    def close(self) -> None:
        self.app("the application calls close()", lambda conn, now: conn.close(now))

    def shutdown_write(self) -> None:
        self.app("the application calls shutdown(SHUT_WR)",
                 lambda conn, now: conn.shutdown_write(now))

    def abort(self) -> None:
        self.app("the application aborts (SO_LINGER 0)", lambda conn, now: conn.abort(now))

    def write(self, data: bytes) -> None:
        def write(conn: Any, now: float) -> None:
            taken = conn.write_app(data)
            if taken != len(data):
                raise TranscriptMismatch(f"write_app took {taken} of {len(data)} bytes")
            conn.app_did_write(now)
        self.app(f"the application writes {len(data)} bytes", write)

    def read(self, n: int = 65536) -> bytes:
        box: list[bytes] = []
        self.app(f"the application reads up to {n} bytes",
                 lambda conn, now: box.append(conn.read_app(n)))
        return box[0]

    # --- checks ---------------------------------------------------------------------------

    def expect_state(self, *states: TcpState) -> None:
        names = " or ".join(s.name for s in states)

        def problem() -> str | None:
            if self.conn.state not in states:
                return f"it is in {self.conn.state.name}"
            return None
        self.harness.step(Check(f"the connection is in {names}", problem))

    def expect_gone(self, error: int | None = None, check_error: bool = False) -> None:
        """The connection is CLOSED and out of the stage's table (its TCB deleted); with
        `check_error`, the error an application would see is `error`."""
        def problem() -> str | None:
            if self.conn.state != TcpState.CLOSED:
                return f"it is in {self.conn.state.name}"
            if self.conn in self.tcp.connections():
                return "it is CLOSED but still in the stage's connection table (call release)"
            if check_error and self.conn.error != error:
                return f"its error is {self.conn.error!r}, wanted {error!r}"
            return None
        shown = "" if not check_error else f" with error {error!r}"
        self.harness.step(Check(f"the connection is closed and forgotten{shown}", problem))

    def expect_true(self, description: str, value: Callable[[], bool], why: str) -> None:
        self.harness.step(Check(description, lambda: None if value() else why))

    # --- segments from the peer -----------------------------------------------------------

    def send(self, flags: int, data: bytes = b"", seq_offset: int = 0,
             ack: int | None = None) -> None:
        """The peer sends at its next sequence number (+ `seq_offset`), acknowledging
        everything the stack sent unless `ack` says otherwise; peer_next moves on."""
        self.peer.send(flags, seq=seq(self.peer_next + seq_offset),
                       ack=seq(self.our_next if ack is None else ack), data=data)
        if seq_offset == 0 and not flags & RST:
            self.peer_next = seq(self.peer_next + len(data) + (1 if flags & (SYN | FIN) else 0))

    def expect_ack(self) -> Any:
        """The stack's plain ACK of everything the peer sent."""
        return self.peer.expect(ACK, seq=self.our_next, ack=self.peer_next)

    def expect_fin(self) -> Any:
        segment = self.peer.expect(FIN | ACK, seq=self.our_next, ack=self.peer_next)
        self.our_next = seq(self.our_next + 1)
        return segment


def make_scene(variant: Variant, **tcp: Any) -> Scene:
    settings = {"msl": MSL, "rcvbuf_autotune": False, **tcp}
    h = make_harness(variant, peer_known=True, tcp=settings)
    peer = TcpPeer(h, variant.stack_port, variant.peer_port, variant.peer_ip, variant.peer_mac)
    return Scene(h, peer, variant, peer_isn=variant.peer_isn, peer_next=variant.peer_isn)


def listening(variant: Variant, **tcp: Any) -> Scene:
    s = make_scene(variant, **tcp)
    s.listener = s.tcp.listen(None, variant.stack_port, 8)
    return s


def syn_received(variant: Variant, **tcp: Any) -> Scene:
    """The peer's SYN reached the listener; the stack answered SYN-ACK."""
    s = listening(variant, **tcp)
    s.peer.send(SYN, seq=s.peer_isn, options=(MssOption(MSS),))
    s.peer_next = seq(s.peer_isn + 1)
    syn_ack = s.peer.expect(SYN | ACK, ack=s.peer_next)
    s.our_isn = syn_ack.seq
    s.our_next = seq(syn_ack.seq + 1)
    (s.conn,) = [c for c in s.tcp.connections() if c.remote[1] == variant.peer_port]
    return s


def passive_open(variant: Variant, **tcp: Any) -> Scene:
    """A whole three-way handshake to the listener; the application accepts."""
    s = syn_received(variant, **tcp)
    s.send(ACK)
    s.peer.expect_nothing()
    s.expect_true("the listener's accept queue holds the connection",
                  lambda: bool(s.listener.accept_queue),
                  "it is empty: the handshake's ACK did not establish the connection")
    s.listener.accept_queue.popleft()
    s.expect_state(TcpState.ESTABLISHED)
    return s


def active_open(variant: Variant, **tcp: Any) -> Scene:
    """The stack connects; the first step expects its SYN."""
    s = make_scene(variant, **tcp)
    box: list[Any] = []
    s.harness.call(f"the application connects to port {variant.peer_port}",
                   lambda stack, now: box.append(stack.tcp.connect(
                       None, variant.stack_port, variant.peer_ip, variant.peer_port, now)))
    s.conn = box[0]
    syn = s.peer.expect(SYN, ack=0)
    s.our_isn = syn.seq
    s.our_next = seq(syn.seq + 1)
    return s


def established_active(variant: Variant, **tcp: Any) -> Scene:
    s = active_open(variant, **tcp)
    s.peer.send(SYN | ACK, seq=s.peer_isn, ack=s.our_next, options=(MssOption(MSS),))
    s.peer_next = seq(s.peer_isn + 1)
    s.expect_ack()
    s.expect_state(TcpState.ESTABLISHED)
    return s


# --- the states of closing, from an established passive open -----------------------------


def fin_wait_1(variant: Variant, **tcp: Any) -> Scene:
    s = passive_open(variant, **tcp)
    s.shutdown_write()
    s.expect_fin()
    s.expect_state(TcpState.FIN_WAIT_1)
    return s


def fin_wait_2(variant: Variant, **tcp: Any) -> Scene:
    s = fin_wait_1(variant, **tcp)
    s.send(ACK)
    s.peer.expect_nothing()
    s.expect_state(TcpState.FIN_WAIT_2)
    return s


def close_wait(variant: Variant, **tcp: Any) -> Scene:
    s = passive_open(variant, **tcp)
    s.send(FIN | ACK)
    s.expect_ack()
    s.expect_state(TcpState.CLOSE_WAIT)
    return s


def last_ack(variant: Variant, **tcp: Any) -> Scene:
    s = close_wait(variant, **tcp)
    s.close()
    s.expect_fin()
    s.expect_state(TcpState.LAST_ACK)
    return s


def closing(variant: Variant, **tcp: Any) -> Scene:
    s = fin_wait_1(variant, **tcp)
    s.send(FIN | ACK, ack=s.our_next - 1)  # the peer's FIN crosses ours: ours not acked
    s.expect_ack()
    s.expect_state(TcpState.CLOSING)
    return s


def time_wait(variant: Variant, **tcp: Any) -> Scene:
    s = fin_wait_2(variant, **tcp)
    s.send(FIN | ACK)
    s.expect_ack()
    s.expect_state(TcpState.TIME_WAIT)
    return s


SYNCHRONIZED = {
    "established": passive_open,
    "fin_wait_1": fin_wait_1,
    "fin_wait_2": fin_wait_2,
    "close_wait": close_wait,
    "closing": closing,
    "last_ack": last_ack,
    "time_wait": time_wait,
}


def student_connection_module() -> str | None:
    """The module the graded TcpConnection comes from (None: the reference)."""
    path = graded_impl().get("tcp_connection")
    return path.partition(":")[0] if path else None
