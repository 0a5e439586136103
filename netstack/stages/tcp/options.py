"""Option negotiation on the SYNs: MSS (RFC 9293 §3.7.1), window scale (RFC 7323 §2),
SACK-permitted (RFC 2018) and timestamps (RFC 7323 §3).

We offer MSS and window scale. A peer's SACK-permitted and timestamps are read and kept, but
we do not offer them yet, so by the RFCs' rules neither is used on the connection: RFC 7323
§3.2 says timestamps are only sent when both SYNs carried them, and RFC 2018 §2 the same of
SACK. A segment carrying them anyway is processed normally (its options are ignored).
"""

from __future__ import annotations

from dataclasses import dataclass

from netstack.wire.tcp import (
    NOP,
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


@dataclass(frozen=True)
class PeerSynOptions:
    """What a peer's SYN told us."""

    mss: int | None = None  # None: no MSS option (assume the default, 536)
    window_shift: int | None = None  # None: no window scale option
    sack_permitted: bool = False
    timestamps: bool = False


def read_syn_options(header: TcpHeader) -> PeerSynOptions:
    mss = shift = None
    sack = timestamps = False
    for option in header.options:
        if isinstance(option, MssOption) and mss is None:
            mss = option.mss
        elif isinstance(option, WindowScaleOption) and shift is None:
            # RFC 7323 §2.3: a shift above 14 is logged and used as 14.
            shift = min(option.shift, MAX_WINDOW_SHIFT)
        elif isinstance(option, SackPermittedOption):
            sack = True
        elif isinstance(option, TimestampOption):
            timestamps = True
    return PeerSynOptions(mss, shift, sack, timestamps)


def mss_for_mtu(mtu: int) -> int:
    """The MSS we announce for a path MTU: what fits after the IPv4 and TCP headers."""
    return mtu - IPV4_TCP_HEADERS


def window_shift_for(rcvbuf: int) -> int:
    """The smallest shift that lets the 16-bit window field describe all of `rcvbuf`."""
    shift = 0
    while (rcvbuf >> shift) > MAX_UNSCALED_WINDOW and shift < MAX_WINDOW_SHIFT:
        shift += 1
    return shift


def syn_options(mss: int, window_shift: int | None) -> tuple[TcpOption, ...]:
    """Our SYN's options: MSS, then NOP + window scale so the list stays word-aligned."""
    if window_shift is None:
        return (MssOption(mss),)
    return (MssOption(mss), NOP, WindowScaleOption(window_shift))


def effective_send_mss(peer_mss: int | None, our_mss: int, default_mss: int) -> int:
    """RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: we send segments no larger than the peer's MSS
    (or 536 without one), nor than what our route's MTU carries."""
    announced = default_mss if peer_mss is None else peer_mss
    return max(1, min(announced, our_mss))
