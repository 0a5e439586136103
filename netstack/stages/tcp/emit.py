"""How a connection's segments leave: `emit`, and the options each segment carries.

`SegmentEmitter` is the sending half of TcpConnection (connection.py), kept apart so each
file reads on its own: every segment the connection sends (data, ACK, SYN, RST) is built
here, from the TCB's current values, and handed to the stage (TcpStage.send_fields, which
writes it straight into a pool mbuf). The options:

- on a SYN: MSS, window scale, SACK-permitted, timestamps (options.py's syn_options);
- on every other segment once timestamps are on: NOP NOP TS (RFC 7323 §3.2);
- on an ACK while data is held out of order: NOP NOP SACK (RFC 2018 §4).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from netstack.stages.tcp.options import syn_options
from netstack.stages.tcp.seq import Seq
from netstack.stages.tcp.state import TcpState
from netstack.wire import tcp as wire_tcp
from netstack.wire.tcp import (
    FLAG_ACK,
    FLAG_RST,
    FLAG_SYN,
    NOP,
    SackOption,
    TcpOption,
    TimestampOption,
)

if TYPE_CHECKING:
    from netstack.counters import Counters
    from netstack.stages.tcp.collaborators import SendBuffer, ZeroCopyExtent
    from netstack.stages.tcp.config import TcpConfig
    from netstack.stages.tcp.receiver import ReceiverUnit
    from netstack.stages.tcp.sender import SenderUnit
    from netstack.stages.tcp.stats import TcpStats
    from netstack.stages.tcp.timestamps import Timestamps


class SegmentWriter(Protocol):
    """What emit uses of the stage (TcpStage, with output.py)."""

    def send_fields(self, src: IPv4Address, dst: IPv4Address, pseudo_base: int,
                    src_port: int, dst_port: int, seq: int, ack: int, flags: int,
                    window: int, options: bytes, now: float,
                    payload: bytes | memoryview | None = None) -> bool: ...

    def send_zero_copy(self, src: IPv4Address, dst: IPv4Address, pseudo_base: int,
                       src_port: int, dst_port: int, seq: int, ack: int, flags: int,
                       window: int, options: bytes, now: float,
                       extent: ZeroCopyExtent) -> bool | None: ...

    def allow_challenge_ack(self, now: float) -> bool: ...


class SegmentEmitter:
    """The segment-sending methods of TcpConnection (which sets every attribute below)."""

    stage: SegmentWriter
    config: TcpConfig
    counters: Counters
    state: TcpState
    local: tuple[IPv4Address, int]
    remote: tuple[IPv4Address, int]
    send_stream: SendBuffer
    sender: SenderUnit
    receiver: ReceiverUnit
    timestamps: Timestamps
    stats: TcpStats
    our_mss: int
    offered_shift: int | None
    _pseudo_header: tuple[object, object, int]  # (our address, the peer's, their sum)

    def send_syn(self, now: float) -> None:
        sender = self.sender
        if self.state == TcpState.SYN_SENT:
            # RFC 7323 §3.2: TSecr is 0 in a SYN (the ACK bit is off, it means nothing).
            timestamp = TimestampOption(self.timestamps.clock(now), 0)
            options = syn_options(self.our_mss, self.offered_shift, self.config.sack,
                                  timestamp if self.config.timestamps else None)
            self.emit(FLAG_SYN, sender.iss, now, options=options)
        else:
            timestamp = self.timestamps.option(now)
            options = syn_options(self.our_mss, self.offered_shift, self.receiver.sack_enabled,
                                  timestamp if self.timestamps.enabled else None)
            self.emit(FLAG_SYN | FLAG_ACK, sender.iss, now, options=options)
        sender.snd_nxt = sender.iss + 1
        if sender.snd_max < sender.snd_nxt:
            sender.snd_max = sender.snd_nxt

    def emit(
        self,
        flags: int,
        seq: Seq,
        now: float,
        offset: int = 0,
        length: int = 0,
        options: tuple[TcpOption, ...] = (),
    ) -> None:
        """Send one segment: `length` bytes from the send buffer at `offset`, our current
        ACK and window when FLAG_ACK is set."""
        receiver = self.receiver
        if flags & FLAG_SYN:
            window = receiver.window_for_syn()
        elif flags & FLAG_ACK:
            window = receiver.advertise()
        else:
            window = 0
        ack = receiver.rcv_nxt.value if flags & FLAG_ACK else 0
        if flags & FLAG_SYN:
            option_bytes = wire_tcp.padded_options(options)
        else:
            option_bytes = self._segment_option_bytes(flags, now)
        if flags & FLAG_ACK:
            self.timestamps.last_ack_sent = receiver.rcv_nxt  # RFC 7323 §4.3's Last.ACK.sent
        (local_ip, local_port), (remote_ip, remote_port) = self.local, self.remote
        pseudo = self._pseudo_header
        if pseudo[0] is not local_ip or pseudo[1] is not remote_ip:
            pseudo = (local_ip, remote_ip, wire_tcp.pseudo_header_base(local_ip, remote_ip))
            self._pseudo_header = pseudo
        if length and self.send_stream.extents:
            self._emit_zero_copy(offset, length, pseudo[2], seq.value, ack, flags, window,
                                 option_bytes, now)
        elif length:
            stream = self.send_stream
            # Both views are released on the way out, the slice too: a frame that outlives
            # this call (a profiler thread sampling frames, a traceback) would otherwise
            # keep the send buffer exported, and the next ACK could not delete from it.
            with stream.guard, memoryview(stream.data) as view, \
                    view[offset : offset + length] as payload:
                self.stage.send_fields(local_ip, remote_ip, pseudo[2], local_port, remote_port,
                                       seq.value, ack, flags, window, option_bytes, now,
                                       payload)
        else:
            self.stage.send_fields(local_ip, remote_ip, pseudo[2], local_port, remote_port,
                                   seq.value, ack, flags, window, option_bytes, now)
        stats = self.stats  # TCP_INFO's counters (stats.py), kept inline: this runs per segment
        stats.segs_out += 1
        if length:
            stats.bytes_sent += length
            stats.last_data_sent = now
        wanted = stats.trace.wanted
        if "retransmit" in wanted or "segment_out" in wanted:
            stats.segment_sent(self.sender, flags, seq.value, ack, length, window, now)
        if flags & FLAG_ACK:
            receiver.ack_sent()

    def _emit_zero_copy(self, offset: int, length: int, pseudo_base: int, seq: int, ack: int,
                        flags: int, window: int, option_bytes: bytes, now: float) -> None:
        """A segment of a stream holding zero-copy payloads (api zc_send): exactly one
        extent goes out in its own mbuf, headers in its headroom; anything else (the window
        cut a segment short, a retransmission while the last copy is still in flight) is
        gathered into a fresh mbuf, a copy the ledger counts (`copy.resegment`)."""
        (local_ip, local_port), (remote_ip, remote_port) = self.local, self.remote
        stream = self.send_stream
        extent = stream.extent_at(offset, length)
        if extent is not None:
            sent = self.stage.send_zero_copy(local_ip, remote_ip, pseudo_base, local_port,
                                             remote_port, seq, ack, flags, window,
                                             option_bytes, now, extent)
            if sent is not None:
                return
        with stream.guard:
            payload = stream.gather(offset, length)
            for other in stream.extents or ():
                if other.start < stream.released + offset + length and \
                        stream.released + offset < other.start + other.length:
                    other.sent_copied = True
        self.counters.bump("copy.resegment", length)
        self.stage.send_fields(local_ip, remote_ip, pseudo_base, local_port, remote_port, seq,
                               ack, flags, window, option_bytes, now, payload)

    def _segment_option_bytes(self, flags: int, now: float) -> bytes:
        """NOP NOP TS on every segment once timestamps are on (RFC 7323 §3.2, a RST too);
        then NOP NOP SACK on an ACK while data is held out of order (RFC 2018 §4). The
        bytes `wire_tcp.padded_options` makes of `_segment_options`, built directly: this
        runs for every segment."""
        option_bytes = b""
        timestamps = self.timestamps
        if timestamps.enabled:
            option_bytes = wire_tcp.timestamp_option_bytes(timestamps.clock(now),
                                                           timestamps.ts_recent)
        if flags & FLAG_ACK and not flags & FLAG_RST and self.receiver.blocks:
            blocks = self.receiver.sack_blocks()
            if blocks:
                option_bytes += wire_tcp.padded_options((NOP, NOP, SackOption(blocks)))
                self.counters.bump("tcp.tx.sack_blocks", len(blocks))
        return option_bytes

    def _segment_options(self, flags: int, now: float) -> tuple[TcpOption, ...]:
        """The options `_segment_option_bytes` encodes, as objects (for tests and tools)."""
        options: tuple[TcpOption, ...] = ()
        if self.timestamps.enabled:
            options = (NOP, NOP, self.timestamps.option(now))
        if flags & FLAG_ACK and not flags & FLAG_RST:
            blocks = self.receiver.sack_blocks()
            if blocks:
                options += (NOP, NOP, SackOption(blocks))
        return options

    def send_ack(self, now: float) -> None:
        # SND.MAX rather than SND.NXT: after a go-back-N rewind it is still in the window
        # the peer expects, so the peer reads the ACK instead of dropping it.
        self.emit(FLAG_ACK, self.sender.snd_max, now)

    def send_challenge_ack(self, now: float) -> None:
        """RFC 5961 §3.2, §4.2, §5.2: an ACK that a genuine peer answers with an exact
        RST (or ignores), rate-limited stack-wide (§7)."""
        if self.stage.allow_challenge_ack(now):
            self.counters.bump("tcp.tx.challenge_ack")
            self.send_ack(now)

    def send_rst(self, now: float) -> None:
        self.emit(FLAG_RST | FLAG_ACK, self.sender.snd_max, now)
