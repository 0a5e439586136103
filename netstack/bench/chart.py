"""The PNG chart of a run: one bar per row, netstack relative to its reference, with the target.

Every bar reads "higher is better": for a row where lower is better (ping RTT, seconds, bytes
per connection) it shows reference / netstack instead of netstack / reference. The x axis is
logarithmic, 1.0 (as good as the reference) is a dashed line, and each row's speed target
is a black tick on its bar: green bars reach their target, red ones miss it, grey ones have
none. The figures themselves are written next to each bar.

matplotlib is imported only here, with its file-only Agg backend (no display needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from netstack.bench.common import BenchError, Result

PASS_COLOUR, MISS_COLOUR, NO_TARGET_COLOUR = "#4caf50", "#e53935", "#9e9e9e"


def relative(result: Result) -> float:
    """netstack against its reference, so that higher is better; NaN when there is none."""
    ratio = result.ratio
    if not ratio or math.isnan(ratio) or math.isinf(ratio):
        return float("nan")
    return ratio if result.higher_is_better else 1 / ratio


def target_position(result: Result) -> float | None:
    """Where the row's target falls on the same "higher is better" scale, if it has one."""
    target = result.target
    if target is None:
        return None
    if target.on == "ratio":
        return target.threshold if result.higher_is_better else 1 / target.threshold
    if not result.reference or math.isnan(result.reference):
        return None
    # A target on netstack's own figure, seen from the reference's figure.
    if result.higher_is_better:
        return target.threshold / result.reference
    return result.reference / target.threshold


def write_png(results: Sequence[Result], path: Path, title: str = "netstack bench") -> None:
    """Draw the chart of `results` into `path` (a PNG). BenchError without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise BenchError(f"matplotlib is not installed (make setup installs it): {exc}") from exc

    rows = [r for r in results if not math.isnan(relative(r))]
    if not rows:
        raise BenchError("no row has a figure to draw")
    figure, axes = plt.subplots(figsize=(13, 0.55 * len(rows) + 1.8))
    positions = list(range(len(rows)))[::-1]  # the first row at the top
    values = [relative(r) for r in rows]
    colours = [NO_TARGET_COLOUR if not r.verdict else PASS_COLOUR if r.verdict == "PASS"
               else MISS_COLOUR for r in rows]  # fmt: skip
    axes.barh(positions, values, color=colours, height=0.6)
    low = min([*values, *(t for r in rows if (t := target_position(r)))])
    high = max([*values, *(t for r in rows if (t := target_position(r)))])
    axes.set_xscale("log")
    axes.set_xlim(low / 3, high * 1000)  # room on the right for the figures
    axes.axvline(1.0, color="black", linestyle="--", linewidth=0.8)
    for y, row, value in zip(positions, rows, values, strict=True):
        mark = target_position(row)
        if mark is not None:
            axes.plot([mark, mark], [y - 0.4, y + 0.4], color="black", linewidth=2.5)
        note = f"{_short(row.subject, row.unit)} vs {_short(row.reference, row.unit)}"
        if row.target is not None:
            note += f"  (target {row.target.text}: {row.verdict or 'n/a'})"
        axes.text(max(value, mark or value) * 1.15, y, note, va="center", fontsize=8)
    axes.set_yticks(positions, [r.name for r in rows], fontsize=8)
    axes.set_xlabel("netstack relative to its reference (higher is better; 1 = as good; "
                    "black tick = the speed target)")
    axes.set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _short(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1000:.0f} us"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"
