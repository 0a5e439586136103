# Lab 8 starter, generated from netstack/stages/tcp/connection.py (python -m labs.kit.starter).
# Fill in each NotImplementedError; labs/README.md says how to test your work.
"""One TCP connection: the transmission control block (TCB) of RFC 9293 §3.3.1.

The TCB is split in three: `Sender` (sender.py) owns the SND.* variables and the send
buffer, `Receiver` (receiver.py) the RCV.* variables and the receive buffer, and this class
holds the rest: the state, the timers that are not about sending or receiving, the
application's side. Every segment of the connection leaves through `emit` (emit.py, with the
options each segment carries). What happens when a segment arrives, the heart of the RFC, is
in segment_arrives.py.

Two threads meet here. The loop thread runs everything. An application thread may only call
`write_app` and `read_app`, holding `guard` (the socket layer swaps in its lock), and
those only move bytes into or out of the buffers; the loop thread takes `guard` whenever it
touches the buffers. After anything an application may wait for (data, room, a state change,
an error), the loop thread calls `on_event` with `guard` held.

The sender and the receiver hold no pointer to this class: each is given its byte stream
(`send_stream`, `receive_stream`, which share `guard`), the timers, and this connection
through the small interfaces of collaborators.py (SegmentSink, SenderHost, AckSink,
ReceiverHost), whose methods are at the end of the class. The stage is seen through
`ConnectionStage` (connection_unit.py, with this unit's interface `ConnectionUnit`), what a
connection uses of it, so this module never imports stage.py.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from netstack.stages.ports import os_error
from netstack.stages.tcp.collaborators import ReceiveBuffer, SendBuffer
from netstack.stages.tcp.config import TcpSocketOptions
from netstack.stages.tcp.connection_unit import (  # noqa: F401 (ConnectionUnit: re-exported)
    Address,
    ConnectionListener,
    ConnectionStage,
    ConnectionUnit,
)
from netstack.stages.tcp.emit import SegmentEmitter
from netstack.stages.tcp.keepalive import Keepalive
from netstack.stages.tcp.options import (
    TIMESTAMP_OPTION_BYTES,
    PeerSynOptions,
    effective_send_mss,
)

from segment_arrives import process as process_segment
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.state import RECEIVING_STATES, SENDING_STATES, TcpState
from netstack.stages.tcp.stats import TcpStats, TracedState
from netstack.stages.tcp.timestamps import Timestamps, timestamp_offset
from netstack.timers import Timer
from netstack.wire.tcp import TcpHeader

if TYPE_CHECKING:
    from netstack.stages.tcp.receiver import ReceiverUnit
    from netstack.stages.tcp.sender import SenderUnit

WRITABLE_STATES = frozenset(
    {TcpState.SYN_SENT, TcpState.SYN_RECEIVED, TcpState.ESTABLISHED, TcpState.CLOSE_WAIT}
)
# A blocked writer is woken when this share of SO_SNDBUF is free (Linux wakes writers at a
# third); waking on every ACK would make a bulk sendall copy a few bytes at a time.
# api/tcp_socket.py waits for the same share.
SEND_LOW_WATER_SHARE = 4
# RFC 9293 §3.10.4 (ABORT): these states send a RST; the others just delete the TCB.
RESET_ON_ABORT = frozenset(
    {
        TcpState.SYN_RECEIVED,
        TcpState.ESTABLISHED,
        TcpState.FIN_WAIT_1,
        TcpState.FIN_WAIT_2,
        TcpState.CLOSE_WAIT,
    }
)


class TcpConnection(SegmentEmitter):
    state = TracedState()  # a plain attribute that also emits StateChange (stats.py)

    def __init__(
        self,
        stage: ConnectionStage,
        local: Address,
        remote: Address,
        iss: Seq,
        options: TcpSocketOptions,
        listener: ConnectionListener | None = None,
    ) -> None:
        self.stage = stage
        self.config = stage.config
        self.counters = stage.stack.counters
        self.state = TcpState.CLOSED
        self.local = local
        self.remote = remote
        self.reuse_addr = False  # for the port table, when connect() bound our port
        self.options = options
        self.send_stream = SendBuffer()  # what the application wrote, from SND.UNA on
        self.receive_stream = ReceiveBuffer()  # what it may read
        self.on_event: Callable[[], None] | None = None
        self.error: int | None = None  # ECONNREFUSED, ECONNRESET or ETIMEDOUT
        self.soft_error: int | None = None  # the last ICMP error that did not abort us
        self.listener = listener  # set while a passive open waits to be established
        self.passive = listener is not None
        self.our_mss = stage.mss_for(remote[0])
        self.offered_shift = stage.window_shift_to_offer(options.rcvbuf, options.rcvbuf_locked)
        self.peer_options = PeerSynOptions()
        self.timestamps = Timestamps()  # RFC 7323 state (timestamps.py)
        timers = stage.stack.timers
        # The units the stack chose (units.tcp_sender, tcp_receiver, tcp_rto): each gets
        # its stream, and this connection as its segment sink and its host.
        self.sender: SenderUnit = stage.sender_class(
            iss, self.send_stream, self, self, timers, stage.new_rto_estimator(),
            self.counters, options, self.config, self.timestamps)
        self.receiver: ReceiverUnit = stage.receiver_class(
            self.our_mss, self.receive_stream, self, self, timers, self.counters, options,
            self.config, self.timestamps)
        # TCP_INFO's counters and the trace, shared with the sender (stats.py, info.py)
        self.stats = self.sender.stats = TcpStats(stage.stack.trace, self._endpoints)
        self.rcvbuf_tuner = stage.new_rcvbuf_tuner()  # autotune.py (None when turned off)
        self.app_closed = False  # close() was called: nobody will read or write any more
        self.fin_after_handshake = False  # shutdown/close before the handshake completed
        self.close_timer: Timer | None = None  # TIME-WAIT, or an orphaned FIN-WAIT-2
        self.keepalive = Keepalive(self, timers)
        self._event_pending = False
        # (our address, the peer's, their pseudo-header sum): the same for every segment
        self._pseudo_header: tuple[object, object, int] = (None, None, 0)

    def _endpoints(self) -> tuple[Address, Address]:
        return self.local, self.remote

    def __repr__(self) -> str:
        (lip, lport), (rip, rport) = self.local, self.remote
        return f"<TcpConnection {lip}:{lport} -> {rip}:{rport} {self.state}>"

    # --- SegmentSink's burst calls: the stage's own (see TcpStage.begin_tx_burst) --------

    def begin_tx_burst(self) -> None:
        self.stage.begin_tx_burst()

    def end_tx_burst(self) -> None:
        self.stage.end_tx_burst()

    @property
    def guard(self) -> AbstractContextManager:
        """The lock an application thread holds to touch the streams (one for both)."""
        return self.send_stream.guard

    @guard.setter
    def guard(self, lock: AbstractContextManager) -> None:
        self.send_stream.guard = self.receive_stream.guard = lock

    # --- what an application sees ---------------------------------------------------------

    @property
    def readable(self) -> int:
        """Bytes waiting to be read."""
        return len(self.receive_stream.data)

    @property
    def at_eof(self) -> bool:
        """The peer's FIN arrived and every byte before it was read."""
        return self.receiver.fin_received and not self.receive_stream.data

    @property
    def writable(self) -> int:
        """Free bytes in the send buffer (0 once writing is shut down)."""
        if self.sender.fin_queued or self.fin_after_handshake or self.state not in WRITABLE_STATES:
            return 0
        return max(self.options.sndbuf - len(self.send_stream.data), 0)

    @property
    def send_low_water(self) -> int:
        """Free send-buffer bytes worth waking a writer for: a quarter of SO_SNDBUF (what
        api/tcp_socket.py's SEND_LOW_WATER_SHARE waits for, and Linux's sk_stream_wspace)."""
        return max(1, self.options.sndbuf // SEND_LOW_WATER_SHARE)

    # --- application thread (holding guard) -----------------------------------------------

    def write_app(self, data: bytes | bytearray | memoryview) -> int:
        """Copy up to the free send-buffer space; returns how many bytes were taken.
        Raises OSError(EPIPE) once writing was shut down or the connection is gone."""
        if self.sender.fin_queued or self.fin_after_handshake or self.state not in WRITABLE_STATES:
            raise os_error(errno.EPIPE)
        stream = self.send_stream
        n = min(len(data), max(self.options.sndbuf - len(stream.data), 0))
        if n:
            with memoryview(data) as view, view[:n] as taken:  # released at once: the
                stream.data += taken  # caller may resize `data` next (see emit.py)
        return n

    def read_app(self, max_n: int) -> bytes:
        """Take up to `max_n` bytes from the receive buffer (b"" if none)."""
        return self.receiver.take(max_n)

    # --- loop thread: the application's requests -------------------------------------------

    def app_did_write(self, now: float) -> None:
        self.sender.output(now)
        self.notify_if_needed()

    def app_did_read(self, now: float) -> None:
        self.stage.autotune_receive_buffer(self, now)
        # A window update of its own only when the peer's window ran low (see
        # Receiver.window_update_worthwhile); otherwise the next ACK carries the window.
        if self.state in RECEIVING_STATES and self.receiver.window_update_worthwhile():
            self.counters.bump("tcp.tx.window_update")
            self.send_ack(now)
        self.notify_if_needed()

    def options_changed(self, now: float) -> None:
        """Call after changing `options` (nodelay, keepalive...) on an open connection."""
        if self.options.keepalive:
            self.keepalive.restart(now)
        else:
            self.keepalive.cancel()
        self.event()  # a new SO_SNDBUF moves the low-water mark a blocked writer waits for
        self.sender.output(now)
        self.notify_if_needed()

    def shutdown_write(self, now: float) -> None:
        """Send a FIN after the queued data (RFC 9293 §3.10.4 CLOSE, as a half-close)."""
        # TODO(lab 8): SYN-SENT/SYN-RECEIVED: FIN later; ESTABLISHED/CLOSE-WAIT: queue_fin
        raise NotImplementedError("lab 8: TcpConnection.shutdown_write")
        self.notify_if_needed()

    def close(self, now: float) -> None:
        """The application is done. Unread data (RFC 2525 §2.17) or SO_LINGER 0 make it
        an abort; otherwise a FIN follows the data and the connection closes on its own."""
        if self.app_closed:
            return
        self.app_closed = True
        if self.options.linger_zero or self.receive_stream.data:
            if self.receive_stream.data:
                self.counters.bump("tcp.close.unread_data")
            self.abort(now)
            return
        if self.state == TcpState.SYN_SENT:
            self.release(now)
        else:
            self.shutdown_write(now)
            if self.state == TcpState.FIN_WAIT_2:
                self.arm_orphan_timer(now)
        self.notify_if_needed()

    def abort(self, now: float) -> None:
        """RFC 9293 §3.10.5: a RST to the peer if it knows us, and the TCB is gone."""
        # TODO(lab 8): a RST only in RESET_ON_ABORT's states (§3.10.5), then release
        raise NotImplementedError("lab 8: TcpConnection.abort")
        self.notify_if_needed()

    # --- opening ---------------------------------------------------------------------------

    def open_active(self, now: float) -> None:
        """RFC 9293 §3.10.1 OPEN: send a SYN and wait in SYN-SENT."""
        # TODO(lab 8): SYN-SENT; keepalive + _start_clock; send the SYN; start_handshake
        raise NotImplementedError("lab 8: TcpConnection.open_active")

    def open_passive(self, header: TcpHeader, peer: PeerSynOptions, now: float) -> None:
        """A SYN reached our listener (RFC 9293 §3.10.7.2): answer with SYN-ACK."""
        self.stats.segs_in += 1  # the SYN, for TCP_INFO and the trace (stats.py)
        self.stats.segment_received(header.flags, header.seq, header.ack, 0, header.window, now)
        self.state = TcpState.SYN_RECEIVED
        self.keepalive.heard_from_peer(now)
        self._start_clock(now)
        self.use_peer_options(peer, offered=peer.window_shift is not None, now=now)
        self.receiver.start(Seq(header.seq), self.receiver.window_for_syn())
        sender = self.sender
        sender.snd_wnd = sender.max_snd_wnd = header.window  # never scaled in a SYN
        sender.snd_wl1 = Seq(header.seq)
        self.send_syn(now)
        sender.start_handshake(now)

    def open_from_cookie(self, ack: TcpHeader, peer: PeerSynOptions, now: float) -> None:
        """An ACK brought back a valid SYN cookie (listener.py, syncookie.py): rebuild
        SYN-RECEIVED as if our SYN-ACK (its ISS the cookie) had gone out from here, so the
        ACK is then processed as any third segment of a handshake. No timer is armed, and
        no RTT is sampled: when the SYN-ACK left is not known."""
        irs = Seq(ack.seq) - 1
        self.state = TcpState.SYN_RECEIVED
        self.keepalive.heard_from_peer(now)
        self._start_clock(now)
        self.use_peer_options(peer, offered=peer.window_shift is not None, now=now)
        self.receiver.start(irs, self.receiver.window_for_syn())
        self.timestamps.last_ack_sent = irs + 1  # what our SYN-ACK acknowledged
        sender = self.sender
        sender.snd_nxt = sender.snd_max = sender.iss + 1  # the SYN-ACK took the ISS
        sender.snd_wl1 = irs  # the ACK's window (scaled) is taken as the first one

    def _start_clock(self, now: float) -> None:
        self.timestamps.opened_at = now
        self.timestamps.offset = timestamp_offset(
            self.stage.isn_generator.secret, self.local, self.remote)

    def use_peer_options(self, peer: PeerSynOptions, offered: bool, now: float) -> None:
        """Window scaling, timestamps and SACK are on only if both SYNs carried the option
        (RFC 7323 §2.2 and §3.2, RFC 2018 §2). We offer the last two whenever the config
        says so (and answer a SYN with them only if it had them)."""
        self.peer_options = peer
        mss = effective_send_mss(peer.mss, self.our_mss, self.config.default_mss)
        if self.config.timestamps and peer.timestamps:
            self.timestamps.start(peer.tsval, now)
            mss -= TIMESTAMP_OPTION_BYTES  # RFC 6691: every segment carries them
        self.sender.mss = max(mss, 1)
        self.sender.sack_enabled = self.receiver.sack_enabled = (
            self.config.sack and peer.sack_permitted)
        if offered and peer.window_shift is not None and self.offered_shift is not None:
            self.sender.snd_shift = peer.window_shift
            self.receiver.window_shift = self.offered_shift
        else:
            self.offered_shift = None
            self.sender.snd_shift = self.receiver.window_shift = 0

    def resend_syn(self, now: float) -> bool:
        """The retransmission timer during the handshake; False once past it."""
        if self.state not in (TcpState.SYN_SENT, TcpState.SYN_RECEIVED):
            return False
        self.counters.bump("tcp.tx.retransmits")
        self.stats.retransmitted(0)
        self.send_syn(now)
        return True

    def establish(self, now: float) -> None:
        self.state = TcpState.ESTABLISHED
        self.sender.cc = self.stage.new_congestion_control(self)
        self.counters.bump("tcp.conn.established")
        self.event()
        if self.listener is not None:
            listener, self.listener = self.listener, None
            listener.connection_established(self)
        self.keepalive.start(now)
        if self.fin_after_handshake:
            self.fin_after_handshake = False
            self.queue_fin(now)
        self.sender.output(now)

    def retry_limit(self) -> int:
        if self.state == TcpState.SYN_SENT:
            return self.config.syn_retries
        if self.state == TcpState.SYN_RECEIVED:
            return self.config.synack_retries
        return self.config.max_retries

    # --- closing ---------------------------------------------------------------------------

    def queue_fin(self, now: float) -> None:
        # TODO(lab 8): FIN after the data: ESTABLISHED->FIN-WAIT-1, CLOSE-WAIT->LAST-ACK
        raise NotImplementedError("lab 8: TcpConnection.queue_fin")

    def enter_time_wait(self, now: float) -> None:
        """RFC 9293 §3.10.7.4: wait 2 x MSL so stray segments of this connection die."""
        if not self.stage.admit_time_wait(self):
            # The stack holds as many TIME-WAIT connections as it may (a peer opening and
            # closing connections fast could otherwise fill memory): this one ends now,
            # as Linux's does past tcp_max_tw_buckets. Its last ACK still goes out.
            self.receiver.send_owed_ack(now)
            self.release(now)
            return
        # TODO(lab 8): stop the other timers; release after 2 x MSL
        raise NotImplementedError("lab 8: TcpConnection.enter_time_wait")

    def restart_time_wait(self, now: float) -> None:
        self._arm_close_timer(now + 2 * self.config.msl)

    def arm_orphan_timer(self, now: float) -> None:
        """An orphaned FIN-WAIT-2 (the application closed) waits only so long for the
        peer's FIN, as Linux's tcp_fin_timeout does."""
        if self.app_closed:
            self._arm_close_timer(now + self.config.fin_wait_2_timeout)

    def _arm_close_timer(self, deadline: float) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.close_timer = self.stage.stack.timers.schedule(deadline, self._close_timer_fired)

    def _close_timer_fired(self, now: float) -> None:
        self.close_timer = None
        self.release(now)
        self.notify_if_needed()

    def give_up(self, now: float) -> None:
        """Retries are exhausted (RFC 9293 §3.8.3, R2): ETIMEDOUT."""
        self.counters.bump("tcp.conn.timeout")
        if not self.passive or self.state != TcpState.SYN_RECEIVED:
            self.error = errno.ETIMEDOUT
        self.release(now)
        self.notify_if_needed()

    def reset_by_peer(self, code: int | None, now: float) -> None:
        self.counters.bump("tcp.conn.reset")
        self.error = code
        self.release(now)

    def reset_after_close(self, now: float) -> None:
        self.counters.bump("tcp.drop.data_after_close")
        self.send_rst(now)
        self.release(now)

    def release(self, now: float) -> None:
        """Enter CLOSED: no timers left, no place in the stage's tables."""
        if self.state == TcpState.CLOSED and not self.stage.knows(self):
            return
        self.state = TcpState.CLOSED
        if self.send_stream.extents:
            with self.send_stream.guard:
                self._let_go(self.send_stream.release_all())
        self.sender.cancel_timers()
        self.receiver.cancel_timers()
        self.keepalive.cancel()
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        self.stage.forget(self)
        self.counters.bump("tcp.conn.closed")
        self.event()

    # --- segments ----------------------------------------------------------------------------

    def segment_arrives(self, header: TcpHeader, data: memoryview, now: float) -> None:
        # TODO(lab 8): hand the segment to process_segment (your segment_arrives.py)
        raise NotImplementedError("lab 8: TcpConnection.segment_arrives")

    def icmp_error(self, code: int, hard: bool, now: float) -> None:
        """RFC 1122 §4.2.3.9 / RFC 5927: only a hard error during the handshake aborts."""
        if hard and self.state == TcpState.SYN_SENT:
            self.error = code
            self.release(now)
        else:
            self.soft_error = code
        self.notify_if_needed()

    # --- telling the application ---------------------------------------------------------------

    def event(self) -> None:
        """Something an application may wait for happened; `notify_if_needed` tells it."""
        self._event_pending = True

    def notify_if_needed(self) -> None:
        if self._event_pending:
            self._event_pending = False
            callback = self.on_event
            if callback is not None:
                with self.send_stream.guard:  # `guard`, without the property's call
                    callback()

    # --- what the sender and the receiver ask of the connection (collaborators.py) ---------

    def sending_allowed(self) -> bool:
        return self.state in SENDING_STATES

    def send_space_freed(self, freed: int) -> None:
        """Wake a writer once there is a useful amount of room, not on every ACK: a writer
        (or poller) waits for at least this much (the socket layer's rule)."""
        done = self.send_stream.release_acked(freed)  # keeps count even without extents
        if done:
            self._let_go(done)
        room_now = self.writable
        if max(room_now - freed, 0) < self.send_low_water <= room_now:
            self.event()

    def _let_go(self, extents: list) -> None:
        """Zero-copy payloads nobody needs any more (acknowledged, or the connection is
        gone): back to the pool once the port lets go too (Mbuf.refcnt), and the sender
        told (api zero_copy.py's completions)."""
        pool = self.stage.stack.pool
        for extent in extents:
            pool.free(extent.mbuf)
            extent.owner.completed(extent)

    def sack_block_count(self) -> int:
        return self.receiver.sack_block_count()

    @property
    def tso_max(self) -> int:
        return self.stage.tso_max

    def ack_at_end_of_pass(self) -> bool:
        return self.stage.owe_ack(self)

    def is_closed(self) -> bool:
        return self.state == TcpState.CLOSED
