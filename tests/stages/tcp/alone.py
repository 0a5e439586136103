"""Benches that drive a TCP Sender or Receiver alone, as CS144 tests its TCPSender: the unit
under test gets fakes of its collaborators (collaborators.py) instead of a connection,
a real timer wheel told a virtual time, and every step goes into a transcript. On a failed
step the whole transcript prints, then the first mismatch:

    transcript (sender alone, MSS 1460):
      1. t=0.000  app writes 3000 bytes
      2. t=0.000  sent      ACK seq=1001 len=1460
    step 3 failed at t=0.000:
      expected ACK seq=2461 len=1460, got nothing

The class under test comes from the units under test (`--impl tcp_sender=...`), so these
transcripts grade any implementation of the unit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from netstack.counters import Counters
from netstack.stages.tcp.collaborators import ReceiveBuffer, SendBuffer
from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.timestamps import Timestamps
from netstack.testing import TranscriptMismatch
from netstack.testing.harness import rerun_hint
from netstack.timers import TimerWheel
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_PSH, FLAG_RST, FLAG_SYN

from .support import graded_impl, units_under_test

MSS = 1460
ISS = 1000  # ours: data starts at 1001
IRS = 5000  # the peer's: its data starts at 5001
HANDSHAKE_RTT = 0.1  # SRTT 100 ms, RTTVAR 50 ms: the RTO is 300 ms

_FLAG_NAMES = ((FLAG_SYN, "SYN"), (FLAG_FIN, "FIN"), (FLAG_RST, "RST"), (FLAG_PSH, "PSH"),
               (FLAG_ACK, "ACK"))


def flag_names(flags: int) -> str:
    return "|".join(name for bit, name in _FLAG_NAMES if flags & bit) or "none"


@dataclass
class SentSegment:
    flags: int
    seq: int
    data: bytes

    def __str__(self) -> str:
        return f"{flag_names(self.flags)} seq={self.seq} len={len(self.data)}"


@dataclass
class SentAck:
    ack: int
    window: int | None  # None in an expectation: any window
    sack: tuple[tuple[int, int], ...]

    def __str__(self) -> str:
        blocks = " ".join(f"{left}-{right}" for left, right in self.sack)
        window = "" if self.window is None else f" win={self.window}"
        return f"ACK {self.ack}{window}" + (f" SACK {blocks}" if blocks else "")


class Transcript:
    """Numbered steps at virtual times; `fail` raises with all of them and the mismatch."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []
        self.now = 0.0
        self.timers = TimerWheel()
        self.counters = Counters()

    def log(self, text: str) -> None:
        self.lines.append(f"{len(self.lines) + 1:3d}. t={self.now:.3f}  {text}")

    def fail(self, message: str) -> None:
        head = f"transcript ({self.title}):"
        body = "\n".join([head, *self.lines]) if self.lines else head + "\n  (no steps)"
        raise TranscriptMismatch(
            f"{body}\nstep {len(self.lines) + 1} failed at t={self.now:.3f}:\n  {message}"
            + rerun_hint(graded_impl()))

    def advance(self, seconds: float) -> None:
        """Move the virtual clock; timers due by then fire (their segments are recorded)."""
        self.now += seconds
        self.timers.advance(self.now)
        self.log(f"advance {seconds * 1000:.0f} ms")

    def check(self, description: str, value: object, expected: object) -> None:
        """A named fact about the unit, e.g. check("cwnd", sender.cc.cwnd, 11 * MSS)."""
        if value != expected:
            self.fail(f"expected {description} = {expected}, got {value}")
        self.log(f"check     {description} = {value}")

    def check_that(self, description: str, holds: bool) -> None:
        if not holds:
            self.fail(f"expected {description}")
        self.log(f"check     {description}")

    def expect_counter(self, name: str, value: int) -> None:
        self.check(f"counter {name}", self.counters.get(name, 0), value)


# --- the sender ---------------------------------------------------------------------------


class SenderHostFake:
    """SenderHost: an established connection that records what it is told."""

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


class SegmentRecorder:
    """SegmentSink: keeps every segment, its payload copied from the send buffer."""

    tso_max = 0

    def __init__(self, stream: SendBuffer) -> None:
        self.stream = stream
        self.sent: deque[SentSegment] = deque()

    def emit(self, flags: int, seq: Seq, now: float, offset: int = 0, length: int = 0) -> None:
        self.sent.append(SentSegment(flags, seq.value, bytes(self.stream.data[offset:offset + length])))

    def sack_block_count(self) -> int:
        return 0

    def begin_tx_burst(self) -> None:
        pass

    def end_tx_burst(self) -> None:
        pass


class SenderBench(Transcript):
    """A Sender past the handshake (our SYN acknowledged by a SYN-ACK offering `window`),
    with congestion control from the units under test."""

    def __init__(self, window: int = 65535, nodelay: bool = False,
                 config: TcpConfig | None = None) -> None:
        super().__init__(f"sender alone, MSS {MSS}")
        units = units_under_test()
        self.config = config or TcpConfig(tail_loss_probe=False)
        self.options = TcpSocketOptions(nodelay=nodelay)
        self.stream = SendBuffer()
        self.out = SegmentRecorder(self.stream)
        self.host = SenderHostFake()
        c = self.config
        rto = units.tcp_rto(c.initial_rto, c.min_rto, c.max_rto, c.clock_granularity)
        self.sender = units.tcp_sender(Seq(ISS), self.stream, self.out, self.host, self.timers,
                                       rto, self.counters, self.options, self.config,
                                       Timestamps())
        sender = self.sender
        sender.mss = MSS
        # What the connection does: the SYN goes out, the SYN-ACK acknowledges it.
        sender.snd_nxt = sender.snd_max = Seq(ISS + 1)
        sender.start_handshake(self.now)
        self.now = HANDSHAKE_RTT  # the SYN-ACK: the first RTT sample
        sender.snd_wnd = sender.max_snd_wnd = window
        sender.snd_wl1 = Seq(IRS)
        sender.on_ack(Seq(IRS), Seq(ISS + 1), window, 0, self.now)
        sender.cc = units.congestion(MSS)
        self.log(f"established: ISS {ISS}, the peer's window {window}, cwnd {sender.cc.cwnd},"
                 f" RTO {sender.rto.rto * 1000:.0f} ms")

    # steps

    def write(self, n: int) -> None:
        """The application writes `n` bytes (a, b, c... one letter per MSS) and the
        connection asks the sender to send."""
        start = len(self.stream.data)
        self.stream.data += bytes(97 + (start + i) // MSS % 26 for i in range(n))
        self.log(f"app writes {n} bytes")
        self.sender.output(self.now)

    def ack(self, ack: int, window: int = 65535, seq: int = IRS + 1, seg_len: int = 0) -> None:
        """A segment from the peer acknowledging up to `ack` (not included); then, as the
        connection does after every acceptable ACK, the sender may send."""
        self.log(f"receive   ACK {ack} win={window}")
        self.sender.on_ack(Seq(seq), Seq(ack), window, seg_len, self.now)
        self.sender.output(self.now)

    def expect(self, seq: int, length: int, flags: int = FLAG_ACK,
               extra: int = 0) -> SentSegment:
        """The next segment sent: `flags` (PSH aside, unless given in `extra`)."""
        wanted = f"{flag_names(flags | extra)} seq={seq} len={length}"
        if not self.out.sent:
            self.fail(f"expected {wanted}, got nothing")
        got = self.out.sent.popleft()
        ignore = 0 if extra & FLAG_PSH else FLAG_PSH
        if (got.flags & ~ignore, got.seq, len(got.data)) != ((flags | extra) & ~ignore, seq, length):
            self.fail(f"expected {wanted}, got {got}")
        self.log(f"sent      {got}")
        return got

    def expect_nothing(self) -> None:
        if self.out.sent:
            self.fail(f"expected nothing sent, got {self.out.sent[0]}")
        self.log("sent      nothing")


# --- the receiver -------------------------------------------------------------------------


class ReceiverHostFake:
    """ReceiverHost: an open connection that records what it is told."""

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


class AckRecorder:
    """AckSink: each ACK takes the window and SACK blocks from the receiver, as the
    connection's emit does, and tells it the ACK went out."""

    def __init__(self) -> None:
        self.receiver: object = None
        self.sent: deque[SentAck] = deque()
        self.in_pass = False  # like an engine pass: "ACK now" waits for end_pass
        self.owed_at_end = False

    def send_ack(self, now: float) -> None:
        receiver = self.receiver
        window = receiver.advertise()  # type: ignore[attr-defined]
        blocks = receiver.sack_blocks()  # type: ignore[attr-defined]
        self.sent.append(SentAck(receiver.rcv_nxt.value, window, blocks))  # type: ignore[attr-defined]
        receiver.ack_sent()  # type: ignore[attr-defined]

    def ack_at_end_of_pass(self) -> bool:
        if self.in_pass:
            self.owed_at_end = True
        return self.in_pass


class ReceiverBench(Transcript):
    """A Receiver whose peer's SYN (ISN `IRS`) arrived, with a `rcvbuf`-byte buffer."""

    def __init__(self, rcvbuf: int = 8 * MSS, sack: bool = True,
                 config: TcpConfig | None = None) -> None:
        super().__init__(f"receiver alone, rcvbuf {rcvbuf}")
        units = units_under_test()
        self.config = config or TcpConfig()
        self.options = TcpSocketOptions(rcvbuf=rcvbuf)
        self.stream = ReceiveBuffer()
        self.out = AckRecorder()
        self.host = ReceiverHostFake()
        self.receiver = units.tcp_receiver(MSS, self.stream, self.out, self.host, self.timers,
                                           self.counters, self.options, self.config,
                                           Timestamps())
        self.out.receiver = self.receiver
        self.receiver.sack_enabled = sack
        self.receiver.start(Seq(IRS), self.receiver.window_for_syn())
        self.log(f"the peer's SYN: IRS {IRS}, our window {self.receiver.rcv_wnd}")

    # steps

    def segment(self, offset: int, length: int, fin: bool = False) -> bool:
        """The peer's bytes [offset, offset + length) of its stream (offset 0 is IRS + 1),
        each byte the low 8 bits of its offset; True when the FIN became in order."""
        seq = IRS + 1 + offset
        data = bytes((offset + i) & 0xFF for i in range(length))
        self.log(f"receive   seq={seq} len={length}{' FIN' if fin else ''}")
        return self.receiver.receive(Seq(seq), memoryview(data), fin, self.now)

    def read(self, n: int) -> bytes:
        data = self.receiver.take(n)
        self.log(f"app reads {len(data)} bytes")
        return data

    def expect_ack(self, ack: int, sack: tuple[tuple[int, int], ...] = (),
                   window: int | None = None) -> SentAck:
        wanted = SentAck(ack, window, sack)
        if not self.out.sent:
            self.fail(f"expected {wanted}, got nothing")
        got = self.out.sent.popleft()
        if got.ack != ack or got.sack != sack or (window is not None and got.window != window):
            self.fail(f"expected {wanted}, got {got}")
        self.log(f"sent      {got}")
        return got

    def expect_no_ack(self) -> None:
        if self.out.sent:
            self.fail(f"expected no ACK, got {self.out.sent[0]}")
        self.log("sent      nothing")


def stream_bytes(offset: int, length: int) -> bytes:
    """What ReceiverBench.segment sends for [offset, offset + length)."""
    return bytes((offset + i) & 0xFF for i in range(length))
