"""Ladder (sequence) diagrams: one vertical line per endpoint, one arrow per message.

Messages come from a transcript harness (`messages_from_harness`), a pcap
(`messages_from_pcap`) or any (time, frame) pairs (`messages_from_frames`); each frame gets
a short tcpdump-like label, TCP sequence numbers relative to each side's first one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from netstack.viz.fields import header_fields


@dataclass(frozen=True)
class Message:
    time: float  # when it was sent (seconds)
    src: str  # endpoint names
    dst: str
    label: str
    arrival: float | None = None  # when it arrived; None: the same instant as sent
    lost: bool = False  # drawn as an arrow that stops halfway, with a cross
    broadcast: bool = False  # sent to every host on the link: drawn dashed


def _label(f: dict[str, str], frame_len: int, relative: dict) -> str:
    if "ARP.op" in f:
        if f["ARP.op"] == "request":
            return f"ARP who-has {f.get('ARP.target ip')}"
        return f"ARP {f.get('ARP.sender ip')} is-at {f.get('ARP.sender mac', '')[-5:]}"
    if "IPv4.src" not in f:
        return {"0x86dd": "IPv6"}.get(f.get("Ethernet.type", ""), f"type {f.get('Ethernet.type')}")
    if "TCP.seq" in f:
        direction = (f["IPv4.src"], f["TCP.src port"], f["IPv4.dst"], f["TCP.dst port"])
        back = (direction[2], direction[3], direction[0], direction[1])
        flags = f["TCP.offset/flags"].split()[1]
        seq = int(f["TCP.seq"])
        base = relative.setdefault(direction, seq)
        text = f"[{flags}] seq {(seq - base) % 2**32}"
        if "." in flags:  # the ACK bit
            ack_base = relative.get(back)
            ack = int(f["TCP.ack"])
            text += f" ack {(ack - ack_base) % 2**32 if ack_base is not None else ack}"
        payload = int(f["_ip_end"]) - int(f["_tcp_end"])  # not frame_len: Ethernet pads short frames
        return text + (f" len {payload}" if payload > 0 else "")
    if "ICMP.type" in f:
        names = {"0": "echo reply", "8": "echo request", "3": "unreachable", "11": "time exceeded"}
        text = names.get(f["ICMP.type"], f"ICMP type {f['ICMP.type']}")
        if "ICMP.seq" in f:
            return f"{text} seq {f['ICMP.seq']}"
        return f"{text} code {f['ICMP.code']}"
    if "UDP.src port" in f:
        return f"UDP {f['UDP.src port']} > {f['UDP.dst port']} len {int(f['UDP.length']) - 8}"
    return f"IPv4 {f.get('IPv4.flags/offset', '')}"


def _is_broadcast(frame: bytes) -> bool:
    return frame[:6] == b"\xff" * 6


def _describe(frame: bytes, relative: dict) -> tuple[str, str, str]:
    """(source address, destination address, label) of a frame. A broadcast ARP request is
    drawn to the host it asks about (every host receives it; that one answers)."""
    fields = header_fields(frame)
    f = {f"{x.layer}.{x.name}": x.value for x in fields}
    f["_tcp_end"] = str(max((x.end for x in fields if x.layer == "TCP"), default=0))
    ip_start = min((x.start for x in fields if x.layer == "IPv4"), default=0)
    f["_ip_end"] = str(ip_start + int(f.get("IPv4.total length", 0)))
    if "ARP.op" in f:
        src, dst = f.get("ARP.sender ip", "?"), f.get("ARP.target ip", "?")
        if f["ARP.op"] == "request" and f.get("Ethernet.dst") == "ff:ff:ff:ff:ff:ff":
            dst = f.get("ARP.target ip", "?")
        return src, dst, _label(f, len(frame), relative)
    if "IPv4.src" in f:
        return f["IPv4.src"], f["IPv4.dst"], _label(f, len(frame), relative)
    return f.get("Ethernet.src", "?"), f.get("Ethernet.dst", "?"), _label(f, len(frame), relative)


def messages_from_frames(records: Iterable[tuple[float, bytes]],
                         names: Mapping[str, str] | None = None) -> list[Message]:
    """One Message per (time, frame): endpoints by IPv4 address (the sender and target
    address for ARP; MACs otherwise), renamed through `names` (address or MAC -> name)."""
    names = names or {}
    relative: dict = {}
    out = []
    for time, frame in records:
        src, dst, label = _describe(bytes(frame), relative)
        out.append(Message(time, names.get(src, src), names.get(dst, dst), label,
                           broadcast=_is_broadcast(frame)))
    return out


def messages_from_pcap(path: str, names: Mapping[str, str] | None = None) -> list[Message]:
    """The frames of a pcap file, times from the first frame's."""
    from netstack.engine.pcapfile import read_pcap
    records = list(read_pcap(path))
    origin = records[0][0] if records else 0.0
    return messages_from_frames(((t - origin, frame) for t, frame in records), names)


def messages_from_harness(harness: Any, stack_name: str = "netstack",
                          peer_name: str = "peer") -> list[Message]:
    """The frames a transcript harness fed in ("in": peer -> stack) and saw sent ("out")."""
    relative: dict = {}
    out = []
    for time, direction, frame in harness.frames:
        _, _, label = _describe(bytes(frame), relative)
        src, dst = (peer_name, stack_name) if direction == "in" else (stack_name, peer_name)
        out.append(Message(time, src, dst, label, broadcast=_is_broadcast(frame)))
    return out


def ladder(messages: list[Message], endpoints: list[str] | None = None, ax: Any = None,
           title: str | None = None, by: str = "auto") -> Any:
    """Draw the messages top to bottom. `by="time"` puts each at its time; `"order"` one
    row per message (time shown on the left), which keeps same-instant messages apart;
    `"auto"` picks order when two messages share a send time."""
    endpoints = endpoints or list(dict.fromkeys(e for m in messages for e in (m.src, m.dst)))
    column = {name: i for i, name in enumerate(endpoints)}
    times = [m.time for m in messages]
    if by == "auto":
        by = "order" if len(set(times)) < len(times) else "time"
    if ax is None:
        import matplotlib.pyplot as plt
        height = 1.0 + 0.42 * len(messages) if by == "order" else 6
        _, ax = plt.subplots(figsize=(2.6 * max(len(endpoints), 2) + 1.5, min(height, 14)))
    step = 1.0
    span = (max(times) - min(times)) if times and by == "time" else 0.0
    slant = 0.6 * step if by == "order" else max(span / 60, 1e-9)
    for i, m in enumerate(messages):
        y0 = i * step if by == "order" else m.time
        if m.arrival is not None and by == "time":
            y1 = m.arrival
        else:
            y1 = y0 + slant
        x0, x1 = column[m.src], column[m.dst]
        if m.lost:
            x1, y1 = (x0 + x1) / 2, (y0 + y1) / 2
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "-|>" if not m.lost else "-", "lw": 1.2,
                                "color": "#c0392b" if m.lost else "#1f4e79",
                                "linestyle": "--" if m.broadcast else "-"})
        if m.lost:
            ax.plot([x1], [y1], marker="x", color="#c0392b", markersize=8)
        label = m.label + (" (broadcast)" if m.broadcast else "")
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, ha="center", va="bottom", fontsize=7.5,
                rotation=0, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        if by == "order":
            ax.text(-0.35, y0, f"{m.time:.3f}s", ha="right", va="center", fontsize=7,
                    color="#666666")
    bottom = (len(messages) - 1) * step + slant + 0.4 if by == "order" else (
        max(times, default=0.0) + slant * 2)
    top = -0.6 if by == "order" else min(times, default=0.0) - slant * 2
    for name, x in column.items():
        ax.plot([x, x], [top, bottom], color="#888888", lw=1, zorder=0)
        ax.text(x, top, name, ha="center", va="bottom", fontsize=10, weight="bold")
    ax.set_ylim(bottom, top - (0.5 if by == "order" else slant * 3))
    ax.set_xlim(-0.9, len(endpoints) - 0.4)
    ax.set_xticks([])
    if by == "order":
        ax.set_yticks([])
        for side in ("left", "right", "top", "bottom"):
            ax.spines[side].set_visible(False)
    else:
        ax.set_ylabel("time (s)")
        for side in ("right", "top"):
            ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=11, pad=18)
    return ax
