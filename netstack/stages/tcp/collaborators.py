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
    append and delete in place, never replace it."""

    __slots__ = ("data", "guard")

    def __init__(self) -> None:
        self.data = bytearray()
        self.guard: AbstractContextManager = NO_LOCK  # the socket layer swaps in its own


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
