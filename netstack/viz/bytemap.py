"""A byte map: a frame's hexdump, 16 bytes a row, each header field shaded and named."""

from __future__ import annotations

from typing import Any

from netstack.viz.fields import Field, header_fields

ROW = 16
# One hue per layer; fields of a layer alternate between a light and a darker shade.
LAYER_COLOURS = {
    "Ethernet": ("#cfe2f3", "#9fc5e8"), "ARP": ("#fff2cc", "#ffe599"),
    "IPv4": ("#d9ead3", "#b6d7a8"), "ICMP": ("#f4cccc", "#ea9999"),
    "UDP": ("#d9d2e9", "#b4a7d6"), "TCP": ("#fce5cd", "#f9cb9c"), "data": ("#eeeeee", "#eeeeee"),
}


def _axes(ax: Any, width: float, height: float) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(width, height))
    return ax


def byte_map(frame: bytes | bytearray | memoryview, fields: list[Field] | None = None,
             ax: Any = None, title: str | None = None, max_bytes: int = 96) -> Any:
    """Draw `frame` (its first `max_bytes`) as a grid of bytes; `fields` defaults to
    `header_fields(frame)`. Each cell shows the byte in hex; each field's name is written
    across its first row of cells."""
    frame = bytes(frame)
    shown = frame[:max_bytes]
    fields = header_fields(frame) if fields is None else fields
    rows = (len(shown) + ROW - 1) // ROW
    ax = _axes(ax, 12, 0.62 * rows + 0.8)
    shade_index: dict[str, int] = {}
    for f in fields:
        light, dark = LAYER_COLOURS.get(f.layer, LAYER_COLOURS["data"])
        k = shade_index.get(f.layer, 0)
        shade_index[f.layer] = k + 1
        colour = (light, dark)[k % 2]
        labelled = False
        for start in range(f.start, min(f.end, len(shown))):
            row, col = divmod(start, ROW)
            ax.add_patch(_rect(col, row, colour))
        for row_start, row_end in _row_spans(f.start, min(f.end, len(shown))):
            row, col = divmod(row_start, ROW)
            span = row_end - row_start
            if not labelled:
                name = f.name if span >= 2 or len(f.name) <= 4 else f.name[:4]
                ax.text(col + span / 2, row + 0.78, name, ha="center", va="center",
                        fontsize=6.5 if span > 1 else 5.5, color="#333333")
                labelled = True
    for i, byte in enumerate(shown):
        row, col = divmod(i, ROW)
        ax.text(col + 0.5, row + 0.35, f"{byte:02x}", ha="center", va="center",
                fontsize=8, family="monospace")
    for row in range(rows):
        ax.text(-0.2, row + 0.5, f"{row * ROW:04x}", ha="right", va="center",
                fontsize=7, family="monospace", color="#666666")
    ax.set_xlim(-1.2, ROW)
    ax.set_ylim(rows, 0)
    ax.set_axis_off()
    layers = list(dict.fromkeys(f.layer for f in fields))
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=LAYER_COLOURS.get(layer, LAYER_COLOURS["data"])[1], label=layer)
                       for layer in layers], loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=len(layers), fontsize=8, frameon=False)
    more = f" (first {max_bytes} of {len(frame)} bytes)" if len(frame) > max_bytes else ""
    ax.set_title((title or f"{len(frame)}-byte frame") + more, fontsize=10)
    return ax


def _rect(col: int, row: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle
    return Rectangle((col, row), 1, 1, facecolor=colour, edgecolor="white", linewidth=1.0)


def _row_spans(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) cut at row boundaries."""
    spans = []
    while start < end:
        row_end = min(end, (start // ROW + 1) * ROW)
        spans.append((start, row_end))
        start = row_end
    return spans
