"""tcptrace's time-sequence graph, from the sender's trace events.

    y: sequence number (relative to our ISN)      x: time
    |   blue bar: a data segment sent, from its first byte to its last
    |   red bar: a segment sent again (it starts below the highest byte already sent)
    |   green steps: the cumulative ACK the peer returned
    |   yellow steps: ACK + the peer's window, the most the sender may send
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MOD = 2**32


def _one_connection(events: Iterable[Any], conn: Any) -> tuple[list[Any], Any]:
    chosen = []
    for e in events:
        if getattr(e, "kind", "") not in ("segment_out", "segment_in"):
            continue
        if conn is None:
            conn = e.conn
        if e.conn == conn:
            chosen.append(e)
    return chosen, conn


def time_sequence(events: Iterable[Any], ax: Any = None, title: str | None = None,
                  conn: Any = None, window_scale: int = 0) -> Any:
    """Draw the graph for `conn` (by default the first connection with a segment event).
    Give the events of the SENDING stack: `segment_out` are its data, `segment_in` the
    peer's ACKs. `window_scale` is the shift the peer announced, `conn.sender.snd_shift`
    (the events carry the header's window field, unscaled)."""
    import matplotlib.pyplot as plt

    chosen, conn = _one_connection(events, conn)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 5.5))
    syn = next((e for e in chosen if e.kind == "segment_out" and "S" in e.flags), None)
    first_out = next((e for e in chosen if e.kind == "segment_out"), None)
    base = syn.seq if syn else (first_out.seq if first_out else 0)
    rel = lambda seq: (seq - base) % MOD  # noqa: E731 - relative to our ISN, through wraps
    highest = None
    sent = {"new": ([], [], []), "again": ([], [], [])}
    ack_t, ack_y, win_y = [], [], []
    for e in chosen:
        if e.kind == "segment_out" and e.length > 0:
            start = rel(e.seq)
            kind = "again" if highest is not None and start < highest else "new"
            times, lows, highs = sent[kind]
            times.append(e.time)
            lows.append(start)
            highs.append(start + e.length)
            highest = max(highest or 0, start + e.length)
        elif e.kind == "segment_in" and "." in e.flags:
            ack_t.append(e.time)
            ack_y.append(rel(e.ack))
            shift = 0 if "S" in e.flags else window_scale  # a SYN's window is never scaled
            win_y.append(rel(e.ack) + (e.window << shift))
    colours = {"new": "#1f4e79", "again": "#c0392b"}
    names = {"new": "data sent", "again": "retransmitted"}
    for kind, (times, lows, highs) in sent.items():
        if times:
            ax.vlines(times, lows, highs, colors=colours[kind], lw=1.6, label=names[kind])
            ax.plot(times, highs, linestyle="none", marker="_", color=colours[kind],
                    markersize=4)
    if ack_t:
        ax.step(ack_t, ack_y, where="post", color="#27ae60", lw=1.2, label="ACK")
        ax.step(ack_t, win_y, where="post", color="#d4ac0d", lw=1.0, label="ACK + window")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("sequence number (relative)")
    ax.legend(loc="upper left", fontsize=8)
    if conn:
        (lip, lport), (rip, rport) = conn
        ax.set_title(title or f"time-sequence graph {lip}:{lport} → {rip}:{rport}", fontsize=10)
    elif title:
        ax.set_title(title, fontsize=10)
    return ax
