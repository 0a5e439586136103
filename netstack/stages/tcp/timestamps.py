"""TCP timestamps (RFC 7323 §3-5): the TSval clock, TS.Recent, PAWS and RTT samples.

Both SYNs carried a Timestamps option, so every later segment but a RST carries one (§3.2):

    TSval  our clock: a millisecond tick taken from the `now` we are given, plus a per-
           connection offset hashed from the 4-tuple and a secret (§7.1), so a peer learns
           nothing about our uptime nor about our other connections. The secret is the ISN
           generator's (seeded by the stack), hashed under another personalisation ("tcp-ts"),
           so the offset reveals nothing about the ISN and one seed reproduces both
    TSecr  TS.Recent: the TSval of the peer's segment we should echo (§4.3)

TS.Recent follows §4.3: a segment's TSval replaces it when SEG.TSval >= TS.Recent and
SEG.SEQ <= Last.ACK.sent (the ACK field of the last segment we sent). With delayed ACKs
that keeps the TSval of the earliest segment not yet acknowledged, so the peer's RTT
sample includes our delay; after a hole, that of the segment that filled it.

PAWS (§5), protection against wrapped sequence numbers: a segment (not a RST) whose TSval
is older than TS.Recent is an old duplicate even if its sequence number looks right. It is
dropped and answered with an ACK (§5.3 R1). TS.Recent older than 24 days is no longer
trusted (§5.5): a connection idle that long skips the test, the peer's clock may have wrapped.

RTT (§4): the ACK of new data echoes in TSecr a TSval of ours, so now - TSecr is a round
trip, even for retransmitted segments (no Karn's rule needed). Times are in ticks modulo
2^32, compared as serial numbers as sequence numbers are.
"""

from __future__ import annotations

import hashlib
from ipaddress import IPv4Address

from netstack.stages.tcp.seq import Seq
from netstack.wire.tcp import TcpHeader, TimestampOption

TICK = 0.001  # seconds per TSval tick (RFC 7323 §5.4: between 1 ms and 1 s)
MASK = 0xFFFFFFFF
HALF = 1 << 31
PAWS_IDLE_LIMIT = 24 * 24 * 3600.0  # RFC 7323 §5.5: 24 days, in seconds


def ts_before(a: int, b: int) -> bool:
    """a < b in the 32-bit timestamp space (RFC 7323 §5.2, as for sequence numbers)."""
    return a != b and ((a - b) & MASK) >= HALF


def find_timestamp(header: TcpHeader) -> TimestampOption | None:
    for option in header.options:
        if isinstance(option, TimestampOption):
            return option
    return None


def tsval_at(offset: int, now: float) -> int:
    """The TSval at `now` of a clock that starts at `offset` (see timestamp_offset)."""
    return (int(now / TICK) + offset) & MASK


def timestamp_offset(secret: bytes, local: tuple[IPv4Address, int],
                     remote: tuple[IPv4Address, int]) -> int:
    """A per-connection random-looking start for the TSval clock (RFC 7323 §7.1)."""
    key = local[0].packed + local[1].to_bytes(2, "big") + remote[0].packed
    key += remote[1].to_bytes(2, "big")
    digest = hashlib.blake2s(key, digest_size=4, key=secret[:32], person=b"tcp-ts").digest()
    return int.from_bytes(digest, "big")


class Timestamps:
    """One connection's timestamp state. `enabled` is RFC 7323's Snd.TS.OK."""

    def __init__(self) -> None:
        self.enabled = False
        self.offset = 0
        self.ts_recent = 0
        self.ts_recent_time = 0.0  # when TS.Recent was last set (for the 24-day rule)
        self.last_ack_sent = Seq(0)  # Last.ACK.sent of §4.3
        self.opened_at = 0.0  # when the first SYN went out or came in (bounds RTT samples)

    def clock(self, now: float) -> int:
        """Our TSval at `now`."""
        return tsval_at(self.offset, now)

    def option(self, now: float) -> TimestampOption:
        """The option for any segment once timestamps are on."""
        return TimestampOption(self.clock(now), self.ts_recent)

    def start(self, peer_tsval: int, now: float) -> None:
        """Both SYNs had the option: timestamps are on, TS.Recent is the peer's SYN's."""
        self.enabled = True
        self.ts_recent, self.ts_recent_time = peer_tsval, now

    def echoes_ours(self, tsecr: int, now: float) -> bool:
        """`tsecr` is a TSval we may have sent on this connection: none is older than its
        first SYN, nor newer than `now`."""
        return not ts_before(tsecr, self.clock(self.opened_at)) and not ts_before(
            self.clock(now), tsecr)

    def recent_valid(self, now: float) -> bool:
        return now - self.ts_recent_time <= PAWS_IDLE_LIMIT

    def paws_rejects(self, tsval: int, now: float) -> bool:
        """RFC 7323 §5.3 R1: the segment is older than TS.Recent (which is still valid)."""
        return self.recent_valid(now) and ts_before(tsval, self.ts_recent)

    def update_recent(self, tsval: int, seg_seq: Seq, now: float) -> None:
        """RFC 7323 §4.3 (2) and §5.3 R3, for a segment that passed the checks. An invalid
        (stale) TS.Recent takes the next value whatever it is (§5.5)."""
        newer = not ts_before(tsval, self.ts_recent) or not self.recent_valid(now)
        if newer and seg_seq <= self.last_ack_sent:
            self.ts_recent, self.ts_recent_time = tsval, now

    def rtt_sample(self, tsecr: int, now: float, longest: float) -> float | None:
        """The round trip that `tsecr`, echoed on an ACK of new data, measures, in seconds;
        None when it cannot be one of our TSvals (from the future, or older than `longest`,
        the time the connection has existed)."""
        ticks = (self.clock(now) - tsecr) & MASK
        if ticks >= HALF or ticks * TICK > longest + TICK:
            return None
        return ticks * TICK
