"""RFC 9293's state diagram (its Figure 5), with the path one connection took drawn over it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Where each state sits (x, y), y growing downwards. CLOSED appears twice, as in the RFC's
# figure: at the top (before opening) and at the bottom (after closing).
POSITIONS = {
    "CLOSED": (2.0, 0.0), "LISTEN": (2.0, 1.0), "SYN-RECEIVED": (0.6, 2.0),
    "SYN-SENT": (3.4, 2.0), "ESTABLISHED": (2.0, 3.0), "FIN-WAIT-1": (0.6, 4.0),
    "CLOSE-WAIT": (3.4, 4.0), "FIN-WAIT-2": (0.0, 5.0), "CLOSING": (1.3, 5.0),
    "LAST-ACK": (3.4, 5.5), "TIME-WAIT": (0.65, 6.0), "CLOSED ": (2.0, 7.0),
}
# The figure's transitions: (from, to, what causes it / what is sent).
TRANSITIONS = [
    ("CLOSED", "LISTEN", "passive open"), ("CLOSED", "SYN-SENT", "active open\nsnd SYN"),
    ("LISTEN", "SYN-RECEIVED", "rcv SYN\nsnd SYN,ACK"), ("LISTEN", "SYN-SENT", "send\nsnd SYN"),
    ("LISTEN", "CLOSED", "close"),
    ("SYN-SENT", "SYN-RECEIVED", "rcv SYN\nsnd SYN,ACK"),
    ("SYN-SENT", "ESTABLISHED", "rcv SYN,ACK\nsnd ACK"), ("SYN-SENT", "CLOSED", "close"),
    ("SYN-RECEIVED", "ESTABLISHED", "rcv ACK of SYN"), ("SYN-RECEIVED", "LISTEN", "rcv RST"),
    ("SYN-RECEIVED", "FIN-WAIT-1", "close\nsnd FIN"),
    ("ESTABLISHED", "FIN-WAIT-1", "close\nsnd FIN"),
    ("ESTABLISHED", "CLOSE-WAIT", "rcv FIN\nsnd ACK"),
    ("FIN-WAIT-1", "FIN-WAIT-2", "rcv ACK of FIN"), ("FIN-WAIT-1", "CLOSING", "rcv FIN\nsnd ACK"),
    ("FIN-WAIT-2", "TIME-WAIT", "rcv FIN\nsnd ACK"), ("CLOSING", "TIME-WAIT", "rcv ACK of FIN"),
    ("CLOSE-WAIT", "LAST-ACK", "close\nsnd FIN"), ("LAST-ACK", "CLOSED ", "rcv ACK of FIN"),
    ("TIME-WAIT", "CLOSED ", "timeout 2MSL"),
]
LOWER_HALF = {"ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSING", "TIME-WAIT", "CLOSE-WAIT",
              "LAST-ACK"}
PATH_COLOUR, GREY = "#c0392b", "#9e9e9e"


def state_path(events: Iterable[Any], conn: Any = None) -> list[str]:
    """The states one connection went through, from its trace `StateChange` events (other
    events are ignored): [first old state, then each new one]. `conn` picks a connection
    (its ((ip, port), (ip, port)) id); by default, the first one the events mention."""
    path: list[str] = []
    for event in events:
        if getattr(event, "kind", "") != "state":
            continue
        if conn is None:
            conn = event.conn
        if event.conn != conn:
            continue
        if not path:
            path.append(event.old)
        path.append(event.new)
    return path


def _node(state: str, previous: str | None) -> str:
    """Which drawn node a state is: CLOSED after the connection existed is the bottom one."""
    if state == "CLOSED" and previous in LOWER_HALF:
        return "CLOSED "
    return state


def state_diagram(path: list[str] | None = None, ax: Any = None, title: str | None = None) -> Any:
    """Draw the diagram; the transitions of `path` (state names as netstack spells them)
    are drawn thick and numbered in order, those the figure does not have dashed."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 9))
    path = path or []
    nodes = [_node(s, path[i - 1] if i else None) for i, s in enumerate(path)]
    visited = set(nodes)
    taken = list(zip(nodes, nodes[1:], strict=False))
    standard = {(a, b) for a, b, _ in TRANSITIONS}
    for a, b, label in TRANSITIONS:
        _arrow(ax, a, b, GREY, 0.9, label=label if (a, b) not in taken else None)
    for number, (a, b) in enumerate(taken, 1):
        _arrow(ax, a, b, PATH_COLOUR, 2.6, dashed=(a, b) not in standard, number=number)
    for state, (x, y) in POSITIONS.items():
        on_path = state in visited
        ax.add_patch(FancyBboxPatch((x - 0.5, y - 0.2), 1.0, 0.4,
                                    boxstyle="round,pad=0.02,rounding_size=0.1",
                                    facecolor="#fdebd0" if on_path else "white",
                                    edgecolor=PATH_COLOUR if on_path else "#555555",
                                    linewidth=2 if on_path else 1, zorder=3))
        ax.text(x, y, state.strip(), ha="center", va="center", fontsize=8.5, zorder=4,
                weight="bold" if on_path else "normal")
    ax.set_xlim(-0.7, 4.1)
    ax.set_ylim(7.5, -0.5)
    ax.set_axis_off()
    ax.set_title(title or ("TCP states (RFC 9293 Figure 5)" + (
        ": " + " → ".join(path) if 0 < len(path) <= 6 else "")), fontsize=10)
    return ax


def _arrow(ax: Any, a: str, b: str, colour: str, width: float, label: str | None = None,
           dashed: bool = False, number: int | None = None) -> None:
    (x0, y0), (x1, y1) = POSITIONS[a], POSITIONS[b]
    # Two states joined both ways: the way back up the figure is drawn as an arc beside the
    # straight way down.
    bend = 0.35 if y0 > y1 and (b, a) in {(s, t) for s, t, _ in TRANSITIONS} else 0.0
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2 if colour != GREY else 1,
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": width,
                            "linestyle": "--" if dashed else "-", "shrinkA": 14, "shrinkB": 14,
                            "connectionstyle": f"arc3,rad={bend}"})
    # The arc's middle (matplotlib bends in screen space, where our y axis is flipped).
    mx, my = (x0 + x1) / 2 - bend * (y1 - y0) / 2, (y0 + y1) / 2 + bend * (x1 - x0) / 2
    if x0 == x1 and not bend:
        mx -= 0.3  # beside a vertical arrow, clear of the arc that may come back up
    if label:
        ax.text(mx, my, label, fontsize=6, color="#666666", ha="center", va="center", zorder=1)
    if number is not None:
        ax.text(mx, my, str(number), fontsize=8, color="white", ha="center", va="center",
                zorder=5, weight="bold",
                bbox={"boxstyle": "circle,pad=0.2", "facecolor": colour, "edgecolor": "none"})
