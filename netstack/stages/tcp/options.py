"""Option negotiation on the SYNs: MSS (RFC 9293 §3.7.1), window scale (RFC 7323 §2),
SACK-permitted (RFC 2018) and timestamps (RFC 7323 §3).

We offer all four (SACK and timestamps unless TcpConfig turns them off). Each is used only
when both SYNs carried it: RFC 7323 §2.2 and §3.2 say so of window scale and timestamps,
RFC 2018 §2 of SACK. Our SYN's list is laid out as Linux's is, every option word-aligned:

    MSS (4) | SACK-permitted (2) TS (10) | NOP (1) window scale (3)       with timestamps
    MSS (4) | NOP NOP SACK-permitted (4) | NOP window scale (4)           without

On a connection with timestamps every later segment carries NOP NOP TS: 12 bytes the data
must make room for (RFC 6691), see `TIMESTAMP_OPTION_BYTES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from netstack.wire.tcp import (
    NOP,
    SACK_PERMITTED,
    MssOption,
    SackPermittedOption,
    TcpHeader,
    TcpOption,
    TimestampOption,
    WindowScaleOption,
)

MAX_WINDOW_SHIFT = 14  # RFC 7323 §2.3: larger shifts are used as 14
MAX_UNSCALED_WINDOW = 0xFFFF
IPV4_TCP_HEADERS = 40  # 20 bytes of IPv4 + 20 of TCP, both without options (RFC 9293 §3.7.1)
TIMESTAMP_OPTION_BYTES = 12  # NOP NOP TS(10) on every segment once timestamps are on
# The smallest send MSS we accept from a peer (Linux's TCP_MIN_MSS): an MSS option of 0 or 1
# would have us cut every write into one-byte segments, each with its 40 bytes of headers.
MIN_PEER_MSS = 88


@dataclass(frozen=True)
class PeerSynOptions:
    """What a peer's SYN told us."""

    mss: int | None = None  # None: no MSS option (assume the default, 536)
    window_shift: int | None = None  # None: no window scale option
    sack_permitted: bool = False
    timestamps: bool = False
    tsval: int = 0  # the SYN's TSval, when `timestamps`: the first TS.Recent (RFC 7323 §4.3)


def read_syn_options(header: TcpHeader) -> PeerSynOptions:
    mss = shift = None
    sack = timestamps = False
    tsval = 0
    for option in header.options:
        if isinstance(option, MssOption) and mss is None:
            mss = option.mss
        elif isinstance(option, WindowScaleOption) and shift is None:
            # RFC 7323 §2.3: a shift above 14 is logged and used as 14.
            shift = min(option.shift, MAX_WINDOW_SHIFT)
        elif isinstance(option, SackPermittedOption):
            sack = True
        elif isinstance(option, TimestampOption) and not timestamps:
            timestamps, tsval = True, option.tsval
    return PeerSynOptions(mss, shift, sack, timestamps, tsval)


def mss_for_mtu(mtu: int) -> int:
    """The MSS we announce for a path MTU: what fits after the IPv4 and TCP headers."""
    return mtu - IPV4_TCP_HEADERS


def window_shift_for(rcvbuf: int) -> int:
    """The smallest shift that lets the 16-bit window field describe all of `rcvbuf`."""
    shift = 0
    while (rcvbuf >> shift) > MAX_UNSCALED_WINDOW and shift < MAX_WINDOW_SHIFT:
        shift += 1
    return shift


def syn_options(
    mss: int,
    window_shift: int | None,
    sack_permitted: bool = False,
    timestamp: TimestampOption | None = None,
) -> tuple[TcpOption, ...]:
    """Our SYN's options, each word-aligned (see the module docstring)."""
    options: list[TcpOption] = [MssOption(mss)]
    if timestamp is not None:
        options += [SACK_PERMITTED, timestamp] if sack_permitted else [NOP, NOP, timestamp]
    elif sack_permitted:
        options += [NOP, NOP, SACK_PERMITTED]
    if window_shift is not None:
        options += [NOP, WindowScaleOption(window_shift)]
    return tuple(options)


def effective_send_mss(peer_mss: int | None, our_mss: int, default_mss: int) -> int:
    """RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: we send segments no larger than the peer's MSS
    (or 536 without one), nor than what our route's MTU carries. An absurdly small MSS
    (a hostile or broken peer's 0 or 1) is raised to MIN_PEER_MSS."""
    announced = default_mss if peer_mss is None else max(peer_mss, MIN_PEER_MSS)
    return max(1, min(announced, our_mss))
