"""What the sender and the receiver are given instead of their connection.

Neither half of a connection holds a pointer to the whole of it. Each gets its byte stream
(the bytes and the lock an application thread takes to touch them), the timer service, and
two small interfaces: where its segments go (`SegmentSink`, `AckSink`) and the few things it
asks or tells the connection (`SenderHost`, `ReceiverHost`). A test can hand a sender or
receiver fakes of these and drive it alone (tests/stages/tcp/test_sender_alone.py).

`SenderCore` is the sender as its own parts (tlp.py, newreno.py, sack_recovery.py) see it:
the sequence variables and the few methods they call.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Protocol

from netstack.timers import Timer, TimerCallback

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
    from netstack.stages.tcp.congestion import CongestionControl
    from netstack.stages.tcp.rto import RtoUnit
    from netstack.stages.tcp.seq import Seq


# No lock until the socket layer gives one: a nullcontext holds no state, so one is shared
# by every stream (two objects less per connection, of the 10,000 a server may hold).
NO_LOCK: AbstractContextManager = nullcontext()


class SendBuffer:
    """Every byte from SND.UNA on (sent or not), and the lock that guards them: the
    application thread appends under `guard`, the loop thread deletes what is acked.
    `data` stays one bytearray for the stream's life (the sender keeps a reference to it):
    append and delete in place, never replace it.

    Zero-copy sends (api zc_send) add `ZeroCopyExtent`s: the payload stays in the pool
    mbufs the application filled, and `data` holds a placeholder of the same length, so
    the sender's arithmetic (a lab unit's) is unchanged. emit.py sends an extent's mbuf
    itself instead of copying. Positions in `extents` count from the stream's start;
    `released` is how many bytes were acknowledged and deleted from `data`."""

    __slots__ = ("data", "guard", "extents", "released")

    def __init__(self) -> None:
        self.data = bytearray()
        self.guard: AbstractContextManager = NO_LOCK  # the socket layer swaps in its own
        self.extents: list[ZeroCopyExtent] | None = None  # None until a zero-copy send
        self.released = 0

    def add_zero_copy(self, extent: ZeroCopyExtent) -> None:
        """Take an mbuf's payload into the stream (the caller holds `guard`)."""
        extent.start = self.released + len(self.data)
        self.data += bytes(extent.length)  # the placeholder: zeros, never the payload
        if self.extents is None:
            self.extents = []
        self.extents.append(extent)

    def extent_at(self, offset: int, length: int) -> ZeroCopyExtent | None:
        """The extent holding exactly bytes [offset, offset + length) of `data`, if any."""
        at = self.released + offset
        for extent in self.extents or ():
            if extent.start == at and extent.length == length:
                return extent
            if extent.start > at:
                break
        return None

    def overlaps_zero_copy(self, offset: int, length: int) -> bool:
        at = self.released + offset
        return any(e.start < at + length and at < e.start + e.length for e in self.extents or ())

    def gather(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) with zero-copy payloads read from their mbufs:
        a segment that does not match one extent (re-segmentation) is a copy."""
        out = bytearray(self.data[offset:offset + length])
        at = self.released + offset
        for extent in self.extents or ():
            lo, hi = max(at, extent.start), min(at + length, extent.start + extent.length)
            if lo < hi:
                out[lo - at:hi - at] = extent.payload()[lo - extent.start:hi - extent.start]
        return bytes(out)

    def release_acked(self, freed: int) -> list[ZeroCopyExtent] | tuple[()]:
        """`freed` bytes were acknowledged and deleted: the extents now wholly behind."""
        self.released += freed
        if not self.extents:
            return ()
        done = [e for e in self.extents if e.start + e.length <= self.released]
        if done:
            self.extents = [e for e in self.extents if e.start + e.length > self.released]
        return done

    def release_all(self) -> list[ZeroCopyExtent]:
        done, self.extents = self.extents or [], None
        return done


class ZeroCopyExtent:
    """One application-filled mbuf in the send stream: its payload is
    `mbuf.buf[payload_off : payload_off + length]`. `sent_copied` notes whether any
    (re)transmission of it had to copy (reported with the completion)."""

    __slots__ = ("mbuf", "payload_off", "length", "start", "owner", "sent_copied")

    def __init__(self, mbuf: object, payload_off: int, length: int, owner: object) -> None:
        self.mbuf = mbuf
        self.payload_off = payload_off
        self.length = length
        self.start = 0  # set by SendBuffer.add_zero_copy
        self.owner = owner  # whoever is told when it is acknowledged (api/zero_copy.py)
        self.sent_copied = False

    def payload(self) -> memoryview:
        return memoryview(self.mbuf.buf)[self.payload_off:self.payload_off + self.length]


class ReceiveBuffer:
    """In-order bytes not yet read, and the lock that guards them: the loop thread appends
    under `guard`, the application thread takes from the front (in place, as above)."""

    __slots__ = ("data", "guard")

    def __init__(self) -> None:
        self.data = bytearray()
        self.guard: AbstractContextManager = NO_LOCK


class TimerService(Protocol):
    """The stack's timer wheel (netstack/timers.py), as the TCP units use it."""

    def schedule(self, deadline: float, callback: TimerCallback) -> Timer: ...


class SegmentSink(Protocol):
    """Where the sender's segments go (the connection's emit.py)."""

    tso_max: int  # >0: the port cuts segments up to this size itself (TSO)

    def emit(self, flags: int, seq: Seq, now: float, offset: int = 0, length: int = 0) -> None:
        """One segment: `length` bytes of the send buffer from `offset`, with our ACK."""

    def sack_block_count(self) -> int:
        """How many SACK blocks the next segment carries (they take room from the data)."""

    def begin_tx_burst(self) -> None:
        """Several segments follow at once (they may share one route lookup)."""

    def end_tx_burst(self) -> None: ...


class SenderHost(Protocol):
    """What the sender asks or tells the connection that owns it."""


    def sending_allowed(self) -> bool:
        """Whether the connection's state lets data and FIN go out (RFC 9293 §3.10)."""

    def retry_limit(self) -> int:
        """How many expiries of the retransmission timer before giving up."""

    def give_up(self, now: float) -> None:
        """The retries are exhausted: the connection ends with ETIMEDOUT."""

    def resend_syn(self, now: float) -> bool:
        """The timer fired during the handshake: resend the SYN (False once past it)."""

    def send_space_freed(self, freed: int) -> None:
        """`freed` acknowledged bytes just left the send buffer (called holding its guard):
        a blocked writer may be woken."""

    def notify_if_needed(self) -> None:
        """Tell the application about whatever happened (after a timer's work)."""


class AckSink(Protocol):
    """Where the receiver's ACKs go (the connection's emit.py and the stage)."""

    def send_ack(self, now: float) -> None: ...

    def ack_at_end_of_pass(self) -> bool:
        """True: an engine pass is running, and the stage will call `send_owed_ack` at its
        end (so a segment sent meanwhile can carry the ACK). False: send it now."""


class ReceiverHost(Protocol):
    """What the receiver asks or tells the connection that owns it."""

    app_closed: bool  # the application closed: data that arrives now has no reader

    def reset_after_close(self, now: float) -> None:
        """Data arrived after close(): reset the connection (as Linux does)."""

    def is_closed(self) -> bool: ...

    def event(self) -> None:
        """Something a reader waits for happened (data, the FIN)."""

    def notify_if_needed(self) -> None: ...


class TailProbe(Protocol):
    def arm(self, now: float) -> None: ...

    def cancel(self) -> None: ...


class SenderCore(Protocol):
    """The sender as its parts (tail loss probe, NewReno and SACK recovery) use it."""

    iss: Seq
    snd_una: Seq
    snd_nxt: Seq
    snd_max: Seq
    snd_wnd: int
    recover: Seq
    prev_highest_ack: Seq
    buffer: bytearray
    buffer_seq: Seq
    fin_queued: bool
    mss: int
    dupacks: int
    rtt_seq: Seq | None
    in_timeout_recovery: bool
    cc: CongestionControl | None
    rto: RtoUnit
    retransmit_timer: Timer | None
    tlp: TailProbe
    timers: TimerService
    counters: Counters
    options: TcpSocketOptions
    config: TcpConfig
    host: SenderHost
    out: SegmentSink

    @property
    def fin_seq(self) -> Seq: ...

    @property
    def flight_size(self) -> int: ...

    def segment_limit(self) -> int: ...

    def dupack_threshold(self) -> int: ...

    def arm_retransmit_timer(self, now: float) -> None: ...

    def resend(self, start: Seq, end: Seq, now: float) -> None: ...

    def _send_data(self, offset: int, n: int, fin: bool, now: float) -> None: ...
