"""`ss -i`'s line of TCP internals, from a TCP_INFO snapshot, in iproute2's own tokens.

People read `ss -ti` every day; a tool for a user-space stack that prints the same tokens
(`cwnd:10`, `rtt:0.21/0.1`, `retrans:0/3`) lets them reuse what they know, and their
scripts. Units follow ss: times in milliseconds, rates in bits per second. A token whose
value is zero or unknown is left out, as ss leaves it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INFINITE_SSTHRESH = 0x7FFFFFFF  # Linux's TCP_INFINITE_SSTHRESH: no loss seen yet
DEFAULT_REORDERING = 3


def _ms(microseconds: int) -> str:
    """ss prints milliseconds with %g: 204, 0.21, 1.5."""
    return f"{microseconds / 1000:g}"


def _rate(bits_per_second: float) -> str:
    """ss's sprint_bw: 12.3Mbps, 850Kbps, 96bps."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if bits_per_second >= scale:
            return f"{bits_per_second / scale:.1f}{unit}bps"
    return f"{bits_per_second:.0f}bps"


def ss_info_tokens(info: Any) -> list[str]:
    """The tokens of `ss -i` for one connection, in ss's order. `info` is a TcpInfo or its
    dict (as a tool receives it as JSON)."""
    i = info if isinstance(info, Mapping) else info.as_dict()
    tokens = [i["tcpi_congestion"]]
    if i["tcpi_snd_wscale"] or i["tcpi_rcv_wscale"]:
        tokens.append(f"wscale:{i['tcpi_snd_wscale']},{i['tcpi_rcv_wscale']}")
    tokens.append(f"rto:{_ms(i['tcpi_rto'])}")
    if i["tcpi_backoff"]:
        tokens.append(f"backoff:{i['tcpi_backoff']}")
    if i["tcpi_rtt"]:
        tokens.append(f"rtt:{_ms(i['tcpi_rtt'])}/{_ms(i['tcpi_rttvar'])}")
    if i["tcpi_ato"]:
        tokens.append(f"ato:{_ms(i['tcpi_ato'])}")
    tokens += [f"mss:{i['tcpi_snd_mss']}", f"pmtu:{i['tcpi_pmtu']}",
               f"rcvmss:{i['tcpi_rcv_mss']}", f"advmss:{i['tcpi_advmss']}",
               f"cwnd:{i['tcpi_snd_cwnd']}"]
    if i["tcpi_snd_ssthresh"] < INFINITE_SSTHRESH:
        tokens.append(f"ssthresh:{i['tcpi_snd_ssthresh']}")
    for name in ("bytes_sent", "bytes_retrans", "bytes_acked", "bytes_received"):
        if i[f"tcpi_{name}"]:
            tokens.append(f"{name}:{i[f'tcpi_{name}']}")
    tokens += [f"segs_out:{i['tcpi_segs_out']}", f"segs_in:{i['tcpi_segs_in']}"]
    if i["tcpi_rtt"]:  # ss's "send": what cwnd allows per RTT
        tokens.append("send " + _rate(i["tcpi_snd_cwnd"] * i["tcpi_snd_mss"] * 8e6 / i["tcpi_rtt"]))
    if i["tcpi_last_data_sent"]:
        tokens.append(f"lastsnd:{i['tcpi_last_data_sent']}")
    if i["tcpi_last_data_recv"]:
        tokens.append(f"lastrcv:{i['tcpi_last_data_recv']}")
    if i["tcpi_delivery_rate"]:
        tokens.append("delivery_rate " + _rate(i["tcpi_delivery_rate"] * 8))
    if i["tcpi_unacked"]:
        tokens.append(f"unacked:{i['tcpi_unacked']}")
    if i["tcpi_retrans"] or i["tcpi_total_retrans"]:
        tokens.append(f"retrans:{i['tcpi_retrans']}/{i['tcpi_total_retrans']}")
    for name in ("lost", "sacked"):
        if i[f"tcpi_{name}"]:
            tokens.append(f"{name}:{i[f'tcpi_{name}']}")
    if i["tcpi_reordering"] != DEFAULT_REORDERING:
        tokens.append(f"reordering:{i['tcpi_reordering']}")
    if i["tcpi_rcv_rtt"]:
        tokens.append(f"rcv_rtt:{_ms(i['tcpi_rcv_rtt'])}")
    tokens += [f"rcv_space:{i['tcpi_rcv_space']}", f"rcv_ssthresh:{i['tcpi_rcv_ssthresh']}"]
    if i["tcpi_notsent_bytes"]:
        tokens.append(f"notsent:{i['tcpi_notsent_bytes']}")
    if i["tcpi_min_rtt"]:
        tokens.append(f"minrtt:{_ms(i['tcpi_min_rtt'])}")
    tokens.append(f"snd_wnd:{i['tcpi_snd_wnd']}")
    return tokens


def ss_info_line(info: Any) -> str:
    """The indented line `ss -ti` prints under a connection."""
    return "\t " + " ".join(ss_info_tokens(info))


def ss_memory_line(skmem: Mapping[str, int], mbufs: int) -> str:
    """The line `ss -m` prints, `skmem:(r0,rb131072,t0,tb87040,d0)`, with the fields netstack
    can fill truthfully, then the mbufs the socket holds (netstack's own token)."""
    fields = ",".join(f"{key}{skmem[key]}" for key in ("r", "rb", "t", "tb", "d"))
    return f"\t skmem:({fields}) mbufs:{mbufs}"
