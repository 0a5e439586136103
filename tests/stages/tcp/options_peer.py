"""A TcpPeer that speaks timestamps and SACK, for test_timestamps*, test_paws* and test_sack*.

    p = open_connection(ts=True, sack=True)    # the handshake, the peer offering both
    p.send(ACK, data=b"x" * 100)               # seq, ack and TS filled in
    seg = p.expect(ACK, ack=p.seq)             # records the stack's TSval to echo later
    p.send(ACK, sack=((left, right),))         # SACK blocks, NOP-aligned

The peer's TSval clock is `p.tsval` (tests move it by hand); `p.echo` is the last TSval
the stack sent, which the peer's next segment echoes.
"""

from __future__ import annotations

from typing import Any

from netstack.stages.tcp import TcpConfig, TcpConnection
from netstack.testing.tcp import TcpSegment
from netstack.wire.tcp import (
    FLAG_ACK,
    FLAG_SYN,
    NOP,
    SACK_PERMITTED,
    MssOption,
    SackOption,
    TcpOption,
    TimestampOption,
)

from .states import PEER_ISN, STACK_ISN, Scene, listen

ACK, SYN = FLAG_ACK, FLAG_SYN
PEER_TSVAL = 5_000_000
PEER_MSS = 1460
TS_BYTES = 12  # NOP NOP TS


def timestamp_of(segment: TcpSegment) -> TimestampOption | None:
    return next((o for o in segment.options if isinstance(o, TimestampOption)), None)


def sack_of(segment: TcpSegment) -> tuple[tuple[int, int], ...]:
    option = next((o for o in segment.options if isinstance(o, SackOption)), None)
    return option.blocks if option is not None else ()


def syn_offer(ts: bool, sack: bool, tsval: int = PEER_TSVAL) -> tuple[TcpOption, ...]:
    """What the peer's SYN offers, laid out as Linux does."""
    options: list[TcpOption] = [MssOption(PEER_MSS)]
    if sack:
        options.append(SACK_PERMITTED)
    if ts:
        options.append(TimestampOption(tsval, 0))
    return tuple(options)


class OptionsPeer:
    def __init__(self, scene: Scene, ts: bool, sack: bool) -> None:
        self.scene = scene
        self.ts, self.sack = ts, sack
        self.tsval = PEER_TSVAL
        self.echo = 0

    @property
    def conn(self) -> TcpConnection:
        assert self.scene.conn is not None
        return self.scene.conn

    @property
    def seq(self) -> int:
        """The peer's next sequence number."""
        return self.scene.peer_seq

    @property
    def ack(self) -> int:
        """What the peer acknowledges when all the stack sent arrived."""
        return self.scene.peer_ack

    def options(self, sack: tuple[tuple[int, int], ...] = (), tsval: int | None = None,
                tsecr: int | None = None) -> tuple[TcpOption, ...]:
        options: tuple[TcpOption, ...] = ()
        if self.ts:
            stamp = TimestampOption(self.tsval if tsval is None else tsval,
                                    self.echo if tsecr is None else tsecr)
            options = (NOP, NOP, stamp)
        if sack:
            options += (NOP, NOP, SackOption(tuple(sack)))
        return options

    def send(self, flags: int = ACK, seq: int | None = None, ack: int | None = None,
             data: bytes = b"", sack: tuple[tuple[int, int], ...] = (),
             tsval: int | None = None, tsecr: int | None = None, window: int = 65535,
             options: tuple[TcpOption, ...] | None = None) -> None:
        self.scene.peer.send(
            flags, seq=self.seq if seq is None else seq, ack=self.ack if ack is None else ack,
            data=data, window=window,
            options=self.options(sack, tsval, tsecr) if options is None else options)

    def expect(self, flags: int | None = None, **want: Any) -> TcpSegment:
        segment = self.scene.peer.expect(flags, **want)
        stamp = timestamp_of(segment)
        if stamp is not None:
            self.echo = stamp.tsval
        return segment

    def expect_nothing(self) -> None:
        self.scene.peer.expect_nothing()

    def advance(self, seconds: float) -> None:
        self.scene.harness.advance(seconds)

    def counter(self, name: str) -> int:
        return self.scene.harness.stack.counters[name]


def open_connection(ts: bool = True, sack: bool = True, config: TcpConfig | None = None,
                    tsval: int = PEER_TSVAL) -> tuple[OptionsPeer, TcpSegment]:
    """An ESTABLISHED connection (a passive open) with a peer offering `ts` and `sack`;
    also returns the stack's SYN-ACK."""
    s = listen(config)
    s.peer.send(SYN, seq=PEER_ISN, options=syn_offer(ts, sack, tsval))
    p = OptionsPeer(s, ts, sack)
    p.tsval = tsval
    syn_ack = p.expect(SYN | ACK, seq=STACK_ISN, ack=PEER_ISN + 1)
    s.peer_seq, s.peer_ack = PEER_ISN + 1, STACK_ISN + 1
    p.ts = ts and timestamp_of(syn_ack) is not None  # the stack's answer decides
    p.send(ACK)
    assert s.listener is not None
    s.conn = s.listener.accept_queue.popleft()
    p.expect_nothing()
    return p, syn_ack
