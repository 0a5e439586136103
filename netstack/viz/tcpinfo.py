"""TCP_INFO over time: a recorder that snapshots it whenever something changes, and a plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netstack.stages.tcp.info import TcpInfo, tcp_info

# The trace events after which a connection's TCP_INFO is worth a new row.
CHANGE_KINDS = frozenset({"cwnd", "rtt", "rto", "state", "retransmit"})


class TcpInfoRecorder:
    """Snapshots `tcp_info` of the connection an event is about, after every change event
    on `stack.trace`. `samples[conn]` is a list of (time, TcpInfo); `series(conn, field)`
    gives (times, values). Call `close()` to stop listening."""

    def __init__(self, stack: Any, kinds: frozenset[str] = CHANGE_KINDS) -> None:
        self.stack = stack
        self.samples: dict[Any, list[tuple[float, TcpInfo]]] = {}
        self._unsubscribe = stack.trace.subscribe(self._record, kinds=set(kinds))

    def _record(self, event: Any) -> None:
        conn = self._connection(event.conn)
        if conn is not None:
            self.samples.setdefault(event.conn, []).append((event.time, tcp_info(conn, event.time)))

    def _connection(self, conn_id: Any) -> Any:
        for conn in self.stack.tcp.connections():
            if (conn.local, conn.remote) == conn_id:
                return conn
        return None

    @property
    def connections(self) -> list[Any]:
        return list(self.samples)

    def series(self, conn: Any = None, field: str = "tcpi_snd_cwnd") -> tuple[list[float], list]:
        rows = self.samples[conn if conn is not None else self.connections[0]]
        return [t for t, _ in rows], [getattr(info, field) for _, info in rows]

    def close(self) -> None:
        self._unsubscribe()


def _value(info: Any, field: str) -> Any:
    return info[field] if isinstance(info, Mapping) else getattr(info, field)


def tcp_info_series(samples: Sequence[tuple[float, Any]],
                    fields: Sequence[str] = ("tcpi_snd_cwnd", "tcpi_snd_ssthresh"),
                    axes: Any = None, marks: Mapping[str, Sequence[float]] | None = None,
                    title: str | None = None) -> list[Any]:
    """One panel per field over time (steps: a value holds until the next sample), from
    [(time, TcpInfo or dict)]. `marks` ({label: times}) are drawn as vertical lines on every
    panel, e.g. {"loss": [...], "RTO": [...]}. ssthresh's "infinite" value (before any loss)
    is left out of the plot."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(len(fields), 1, figsize=(10, 2.3 * len(fields) + 0.6),
                               sharex=True, squeeze=False)
        axes = [row[0] for row in axes]
    times = [t for t, _ in samples]
    palette = ["#c0392b", "#8e44ad", "#d68910", "#17202a"]
    for ax, field in zip(axes, fields, strict=False):
        values = [_value(info, field) for _, info in samples]
        values = [v if not (field == "tcpi_snd_ssthresh" and v >= 0x7FFFFFFF) else float("nan")
                  for v in values]
        ax.step(times, values, where="post", color="#1f4e79", lw=1.2)
        ax.set_ylabel(field.removeprefix("tcpi_"), fontsize=9)
        for i, (label, at) in enumerate((marks or {}).items()):
            for j, t in enumerate(at):
                ax.axvline(t, color=palette[i % len(palette)], lw=0.8, alpha=0.7,
                           linestyle="--", label=label if j == 0 else None)
        ax.grid(alpha=0.3)
    if marks:
        axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title, fontsize=10)
    return list(axes)
