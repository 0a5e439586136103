"""SYN cookies (RFC 4987 §3.6): answering a SYN while keeping no state at all.

A SYN flood fills a listener's SYN queue with half-open connections that will never
complete; once it is full, a real client's SYN is dropped too. A SYN cookie lets the
listener answer without remembering anything: everything it would have kept about the
SYN is packed into our SYN-ACK's initial sequence number, which the client must echo
(plus one) in the ACK that completes the handshake. If that ACK comes, the ISS is rebuilt
from it, checked, and the connection is created there and then, directly ESTABLISHED.

The cookie (our ISS, 32 bits) is laid out as RFC 4987 §3.6 describes:

    bits 31..27  t mod 32: a coarse clock, one tick every COUNTER_PERIOD (64 s)
    bits 26..24  an index into MSS_TABLE: the largest entry not above the peer's MSS
    bits 23..0   a MAC: a keyed hash (BLAKE2s with the stack's secret) of the 4-tuple,
                 the peer's ISN, the full clock value and the MSS index

Only someone who saw our SYN-ACK (or knows the secret) can produce the matching ACK; a
blind guess succeeds with probability 2^-24. A cookie is accepted for MAX_AGE periods
after the one it was made in (up to about three minutes), then it is stale.

Three bits leave no room for the rest of the SYN's options. When the SYN carried
timestamps (RFC 7323), they go in the low TS_OPTION_BITS bits of our SYN-ACK's TSval,
which the client echoes in TSecr on its ACK, as Linux does:

    bits 3..0   the peer's window shift (0..14), or 15: no window scaling
    bit  4      SACK permitted (RFC 2018)
    bit  5      ECN (we never offer it: always 0)

The TSval is moved back (never forward) to the nearest value with those bits, so the
connection's later TSvals are all newer than it. A SYN without timestamps gets a SYN-ACK
without window scale and SACK, since nothing could carry them back.

This module only encodes and decodes: the listener (listener.py) decides when to use it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from ipaddress import IPv4Address

COUNTER_PERIOD = 64.0  # seconds per tick of the cookie clock
MAX_AGE = 2  # a cookie made in period t is valid in periods t, t+1 and t+2
LIFETIME = (MAX_AGE + 1) * COUNTER_PERIOD  # seconds an ACK may take to bring a cookie back
# MSS values a cookie can carry (3 bits): common ones (Ethernet 1460, PPPoE 1452, tunnels,
# RFC 9293's default 536), each a lower bound the peer announced at least.
MSS_TABLE = (256, 536, 1024, 1200, 1300, 1400, 1440, 1460)

COUNTER_SHIFT, COUNTER_MASK = 27, 0x1F  # 5 bits
MSS_SHIFT, MSS_MASK = 24, 0x7  # 3 bits
MAC_MASK = 0xFFFFFF  # 24 bits
SEQ_MASK = 0xFFFFFFFF

TS_OPTION_BITS = 6
TS_OPTION_MASK = (1 << TS_OPTION_BITS) - 1
WSCALE_MASK = 0xF
NO_WSCALE = 0xF  # no window scale option on the SYN
SACK_BIT = 0x10
ECN_BIT = 0x20

STALE = "stale"  # the clock in the cookie is too old (or from the future)
FORGED = "forged"  # the MAC does not match: not a cookie of ours


def mss_index(mss: int) -> int:
    """The table entry for a peer's MSS: the largest not above it (the smallest entry
    when the peer announced less than every one)."""
    index = 0
    for i, value in enumerate(MSS_TABLE):
        if value <= mss:
            index = i
    return index


@dataclass(frozen=True)
class CookieCheck:
    """What a returning cookie says: `mss` when it is valid, else why not (`problem`)."""

    mss: int | None
    problem: str | None = None


@dataclass(frozen=True)
class CookieOptions:
    """The SYN's options as the low bits of our TSval carried them back."""

    window_shift: int | None
    sack_permitted: bool
    ecn: bool


class SynCookies:
    """Makes and checks cookies with one secret (the stack's, as the ISN generator has)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret[:32]

    def counter(self, now: float) -> int:
        return int(now // COUNTER_PERIOD)

    def _mac(self, local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
             peer_isn: int, counter: int, index: int) -> int:
        message = (local[0].packed + local[1].to_bytes(2, "big") + remote[0].packed
                   + remote[1].to_bytes(2, "big") + (peer_isn & SEQ_MASK).to_bytes(4, "big")
                   + counter.to_bytes(8, "big", signed=True) + bytes((index,)))
        digest = hashlib.blake2s(message, digest_size=4, key=self.secret,
                                 person=b"tcp-syn").digest()
        return int.from_bytes(digest, "big") & MAC_MASK

    def make(self, local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
             peer_isn: int, peer_mss: int, now: float) -> tuple[int, int]:
        """The cookie (our ISS) for a SYN with sequence number `peer_isn` that announced
        `peer_mss`, and the MSS the cookie will give back (an entry of MSS_TABLE)."""
        counter, index = self.counter(now), mss_index(peer_mss)
        cookie = ((counter & COUNTER_MASK) << COUNTER_SHIFT | index << MSS_SHIFT
                  | self._mac(local, remote, peer_isn, counter, index))
        return cookie, MSS_TABLE[index]

    def check(self, local: tuple[IPv4Address, int], remote: tuple[IPv4Address, int],
              peer_isn: int, cookie: int, now: float) -> CookieCheck:
        """Is `cookie` (the ACK's number minus one) one we made for this SYN (the ACK's
        sequence number minus one) no more than MAX_AGE periods ago?"""
        now_counter = self.counter(now)
        age = (now_counter - (cookie >> COUNTER_SHIFT & COUNTER_MASK)) & COUNTER_MASK
        if age > MAX_AGE:
            return CookieCheck(None, STALE)
        index = cookie >> MSS_SHIFT & MSS_MASK
        mac = self._mac(local, remote, peer_isn, now_counter - age, index)
        if mac != cookie & MAC_MASK:
            return CookieCheck(None, FORGED)
        return CookieCheck(MSS_TABLE[index])


def encode_ts_options(tsval: int, window_shift: int | None, sack_permitted: bool,
                      ecn: bool = False) -> int:
    """Our SYN-ACK's TSval: `tsval` (our clock now) moved back to carry the options."""
    bits = (NO_WSCALE if window_shift is None else window_shift & WSCALE_MASK)
    bits |= (SACK_BIT if sack_permitted else 0) | (ECN_BIT if ecn else 0)
    encoded = (tsval & ~TS_OPTION_MASK | bits) & SEQ_MASK
    if (encoded - tsval) & SEQ_MASK and (encoded - tsval) & SEQ_MASK < 1 << 31:
        encoded = (encoded - (1 << TS_OPTION_BITS)) & SEQ_MASK  # it was ahead: step back
    return encoded


def decode_ts_options(tsecr: int) -> CookieOptions:
    """The options a returning ACK's TSecr (our cookie SYN-ACK's TSval) carries."""
    shift = tsecr & WSCALE_MASK
    return CookieOptions(None if shift == NO_WSCALE else shift, bool(tsecr & SACK_BIT),
                         bool(tsecr & ECN_BIT))
