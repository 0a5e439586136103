# Lab 6 starter, generated from netstack/stages/tcp/receiver.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""The receiving half of a connection: the receive buffer, reassembly, the window, ACKs.

Positions in the peer's byte stream are kept as plain ints, `offsets`, counted from the
first byte after its SYN, so reassembly never has to think about wrapping; `rcv_nxt` (a
Seq) and `rcv_nxt_offset` always name the same place.

    ready (unread, in order) | rcv_nxt | out-of-order blocks and holes | rcv_adv
                                       |<------ the window we advertised ------>|

- The window is what is free in the receive buffer (SO_RCVBUF less the unread bytes), never
  a constant. Its right edge `rcv_adv` never moves left (RFC 9293 §3.8.6.2.2), and moves
  right only by a useful amount: min(half the buffer, one MSS). That is receiver-side silly
  window avoidance (RFC 1122 §4.2.3.3).
- Out-of-order data is kept only inside the window, so memory is bounded by the buffer, in
  at most `max_out_of_order` blocks. Where a segment overlaps bytes we already hold, the
  bytes received first win, consistently (new bytes only ever fill holes).
- ACKs: at once for out-of-order data, for data filling a hole, and for a FIN (RFC 5681 §4.2,
  RFC 9293 §3.10.7.4); otherwise delayed, by at most `delayed_ack` seconds and never past a
  second full-sized segment (RFC 1122 §4.2.3.2). A read that opens the window gets an
  ACK of its own only when the window the peer knows is down to half of the largest or
  less, and would at least double (`window_update_worthwhile`, as Linux does); otherwise
  the next ACK carries the new window. "At once" means at the end of the engine
  pass when an engine drives the stack (`ack_soon`, TcpStage.end_pass): whatever the
  connection sends in that pass (an answer, its FIN) carries the ACK instead of a bare one.
- With SACK on, the out-of-order blocks are what the ACKs' SACK blocks report (sack.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.collaborators import AckSink, ReceiveBuffer, ReceiverHost, TimerService
from netstack.stages.tcp.options import MAX_UNSCALED_WINDOW
from netstack.stages.tcp.sack import MAX_BLOCKS, MAX_BLOCKS_WITH_TIMESTAMPS, SackReporter
from netstack.stages.tcp.seq import Seq
from netstack.timers import Timer

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.config import TcpConfig, TcpSocketOptions
    from netstack.stages.tcp.timestamps import Timestamps


class ReceiverUnit(Protocol):
    """The receiving half of a connection, as the connection and the stage use it.

    Built as `Receiver(our_mss, stream, out, host, timers, counters, options, config,
    timestamps)` (see `Receiver.__init__`). It is given each acceptable segment's text
    (`receive`), puts in-order bytes into `stream` for the application, and decides about
    ACKs: it calls `out.send_ack` (or owes one to the end of the engine pass) and arms its
    delayed-ACK timer. Every segment the connection sends asks it for the window
    (`advertise`) and tells it an ACK went out (`ack_sent`).
    """

    irs: Seq
    rcv_nxt: Seq
    rcv_nxt_offset: int  # rcv_nxt as a count of stream bytes (the FIN takes one)
    rcv_adv: Seq
    window_shift: int  # ours, once negotiated
    sack_enabled: bool
    fin_received: bool
    blocks: list  # out-of-order data held: empty when nothing is (a quick check per segment)

    @property
    def rcv_wnd(self) -> int: ...

    def start(self, irs: Seq, syn_window: int) -> None: ...

    def window_for_syn(self) -> int: ...

    def advertise(self) -> int:
        """The window field of the segment about to go out (moves rcv_adv)."""

    def window_update_worthwhile(self) -> bool: ...

    def receive(self, seq: Seq, data: memoryview, fin: bool, now: float) -> bool:
        """A segment's text and FIN; True when the FIN became in order just now."""

    def sack_block_count(self) -> int: ...

    def sack_blocks(self) -> tuple[tuple[int, int], ...]: ...

    def ack_soon(self, now: float) -> None: ...

    def send_owed_ack(self, now: float) -> None: ...

    def ack_sent(self) -> None: ...

    def cancel_timers(self) -> None: ...

    def take(self, max_n: int) -> bytes:
        """Up to `max_n` in-order bytes, for the application (holding the guard)."""


class Receiver:
    def __init__(self, our_mss: int, stream: ReceiveBuffer, out: AckSink, host: ReceiverHost,
                 timers: TimerService, counters: Counters, options: TcpSocketOptions,
                 config: TcpConfig, timestamps: Timestamps) -> None:
        self.stream = stream
        self.out = out  # where ACKs go
        self.host = host  # the connection, through the few calls of ReceiverHost
        self.timers = timers
        self.counters = counters
        self.options = options  # SO_RCVBUF (autotuning may grow it)
        self.config = config  # delayed_ack, max_out_of_order
        self.timestamps = timestamps  # on or off: how many SACK blocks fit
        self.irs = Seq(0)
        self.rcv_nxt = Seq(0)
        self.rcv_nxt_offset = 0  # rcv_nxt as a stream offset
        self.rcv_adv = Seq(0)  # the right edge of the window we advertised
        self.window_shift = 0  # our window scale shift, once negotiated
        self.our_mss = our_mss
        self.ready = stream.data  # in order, not yet read by the application
        self.blocks: list[tuple[int, bytearray]] = []  # out of order: (offset, bytes), sorted
        self.fin_offset: int | None = None  # where the peer's FIN is, once seen
        self.fin_received = False  # the FIN is in order: rcv_nxt is past it
        self.unacked_bytes = 0  # in-order bytes received since we last sent an ACK
        self.largest_segment = min(our_mss, 536)  # our guess of the peer's full segment size
        self.delayed_ack_timer: Timer | None = None
        self.ack_owed = False  # an "ACK now" waits for the end of the engine pass
        self.sack_enabled = False  # both SYNs carried SACK-permitted
        self.sack_reporter = SackReporter()

    def start(self, irs: Seq, syn_window: int) -> None:
        """The peer's SYN arrived: its data starts after IRS."""
        # TODO(lab 6): rcv_nxt is just past the SYN; the window we offered in our SYN sets rcv_adv
        raise NotImplementedError("lab 6: Receiver.start")

    @property
    def rcv_wnd(self) -> int:
        """What is left of the window we advertised (RFC 9293's RCV.WND)."""
        # TODO(lab 6): what is left of the advertised window (never negative)
        raise NotImplementedError("lab 6: Receiver.rcv_wnd")

    @property
    def out_of_order_bytes(self) -> int:
        return sum(len(data) for _, data in self.blocks)

    # --- the window ----------------------------------------------------------------------

    def _free_space(self) -> int:
        return max(self.options.rcvbuf - len(self.ready), 0)

    def _useful_increase(self) -> int:
        return min(self.options.rcvbuf // 2, self.our_mss)

    def window_for_syn(self) -> int:
        """RFC 7323 §2.2: the window in a SYN is never scaled."""
        return min(self._free_space(), MAX_UNSCALED_WINDOW)

    def advertise(self) -> int:
        """The window field for the segment we are about to send; moves rcv_adv.

        RFC 7323 §2.4: the field is the window shifted right, so rounded down, and we never
        offer more than is free. Only when rounding down would move the right edge left
        (RFC 9293 §3.8.6.2.2 forbids shrinking) is it rounded up instead, by less than
        2^shift. Always rounding up (as we once did) offered up to 2^shift - 1 bytes past
        the buffer on every ACK, so a full buffer never showed a zero window.
        """
        # TODO(lab 6): the window field (scaled by window_shift); never move rcv_adv left; open it only by a useful amount (receiver SWS avoidance); set rcv_adv
        raise NotImplementedError("lab 6: Receiver.advertise")

    def window_update_worthwhile(self) -> bool:
        """After the application read: must the peer hear of the opened window at once,
        in an ACK of its own (a window update)?

        RFC 1122 §4.2.3.3 and RFC 9293 §3.8.6.2.2 say how far the window may open, not
        that each opening must be announced as it happens: the next ACK carries it anyway
        (one per two full segments, or the delayed-ACK timer). Announcing every read
        doubles the ACKs of a bulk transfer. So, as Linux decides after a read: only
        when the window the peer knows has fallen to half of the largest we could offer
        (the buffer, or what the window field can say) or less, and the window we would
        offer now is at least twice it. A closed or nearly closed window is reopened as
        soon as a read frees a useful amount; a window still half open lets the sender
        keep sending, and its data brings the ACKs that carry the new window.
        """
        known = self.rcv_wnd
        if 2 * known > self._largest_window():
            return False
        free = self._free_space()
        if free - known < self._useful_increase():
            return False  # advertise() would keep the window as it is (receiver SWS)
        return free > 0 and free >= 2 * known

    def _largest_window(self) -> int:
        """The largest window we could offer now (Linux's window_clamp): the receive
        buffer, or what the window field can say with our scale."""
        return min(self.options.rcvbuf, MAX_UNSCALED_WINDOW << self.window_shift)

    # --- segment text --------------------------------------------------------------------

    def receive(self, seq: Seq, data: memoryview, fin: bool, now: float) -> bool:
        """Take a segment's text and FIN (RFC 9293 §3.10.7.4, seventh and eighth checks).

        Returns True when the FIN became in order just now (the caller changes state).
        Decides about the ACK: sends one now or arms the delayed-ACK timer.
        """
        # TODO(lab 6): trim to the window, deliver in order or store out of order, track the FIN, decide the ACK (now, every second full segment, or the delayed-ACK timer)
        raise NotImplementedError("lab 6: Receiver.receive")

    def _advance(self, n: int) -> None:
        self.rcv_nxt = self.rcv_nxt + n
        self.rcv_nxt_offset += n

    def _deliver(self, data: memoryview | bytearray) -> None:
        with self.stream.guard:
            self.ready += data
        self._advance(len(data))
        self.host.event()

    def _store(self, low: int, piece: memoryview) -> None:
        """Keep the parts of `piece` (at offset `low`) that fill holes; merge neighbours."""
        # TODO(lab 6): keep only the bytes of `piece` that fill holes (bytes already held win); keep self.blocks sorted and merged
        raise NotImplementedError("lab 6: Receiver._store")

    def _drain_blocks(self) -> None:
        # TODO(lab 6): deliver the stored blocks that are now in order
        raise NotImplementedError("lab 6: Receiver._drain_blocks")

    # --- ACKs ----------------------------------------------------------------------------

    def _max_sack_blocks(self) -> int:
        if self.timestamps.enabled:
            return MAX_BLOCKS_WITH_TIMESTAMPS
        return MAX_BLOCKS

    def sack_block_count(self) -> int:
        """How many SACK blocks our next ACK carries (RFC 2018 §3: as many as fit)."""
        return min(len(self.blocks), self._max_sack_blocks()) if self.sack_enabled else 0

    def sack_blocks(self) -> tuple[tuple[int, int], ...]:
        """The SACK blocks for our next ACK, as (left, right) sequence numbers, in RFC 2018
        §4's order; empty when nothing is held out of order (or SACK is off)."""
        if not self.sack_enabled or not self.blocks:
            return ()
        held = [(start, start + len(data)) for start, data in self.blocks]
        base = self.rcv_nxt - self.rcv_nxt_offset  # the sequence number of offset 0
        chosen = self.sack_reporter.blocks(held, self._max_sack_blocks())
        return tuple(((base + low).value, (base + high).value) for low, high in chosen)

    def ack_soon(self, now: float) -> None:
        """An ACK is due "at once": in an engine pass, at its end (TcpStage.end_pass), so a
        segment the connection sends meanwhile carries it; otherwise now."""
        if self.out.ack_at_end_of_pass():
            self.ack_owed = True
        else:
            self.out.send_ack(now)

    def send_owed_ack(self, now: float) -> None:
        """Send the ACK owed since earlier in this pass, if no segment carried it yet.
        Called before a segment that must get its own ACK (a duplicate ACK is counted by
        the peer, RFC 5681 §4.2), and at the end of the pass."""
        if self.ack_owed:
            self.ack_owed = False
            if not self.host.is_closed():
                self.out.send_ack(now)

    def ack_sent(self) -> None:
        """Any segment carrying our current ACK makes a pending delayed ACK unnecessary."""
        self.unacked_bytes = 0
        self.ack_owed = False
        if self.delayed_ack_timer is not None:
            self.delayed_ack_timer.cancel()
            self.delayed_ack_timer = None

    def _delayed_ack(self, now: float) -> None:
        self.delayed_ack_timer = None
        self.out.send_ack(now)
        self.host.notify_if_needed()

    def cancel_timers(self) -> None:
        if self.delayed_ack_timer is not None:
            self.delayed_ack_timer.cancel()
            self.delayed_ack_timer = None

    # --- the application's side ----------------------------------------------------------

    def take(self, max_n: int) -> bytes:
        """Up to `max_n` in-order bytes (the caller holds the guard)."""
        # TODO(lab 6): up to max_n bytes from the front of self.ready, removed from it
        raise NotImplementedError("lab 6: Receiver.take")


def _count_runs(blocks: list[tuple[int, bytearray]]) -> int:
    """How many blocks remain once touching neighbours are merged."""
    runs = 0
    previous_end = None
    for start, data in blocks:
        if start != previous_end:
            runs += 1
        previous_end = start + len(data)
    return runs
