"""The plots researchers publish, each one call that writes a PNG and returns its path.

    plot_pantheon_scatter(groups, path)      throughput vs 95th-percentile delay, over runs
    plot_capacity_vs_throughput(run_dir, link, path)   like mm-throughput-graph
    plot_bufferbloat(run_dir, flow, link, path)        cwnd, RTT and queue, one time axis
    plot_series(run_dir, flows, column, path)          any time-series column
    plot_time_sequence(pcap_path, path)                tcptrace's time-sequence graph
    plot_cdf(samples, path, xlabel)                    empirical CDFs
    plot_run(run_dir)                                  all of a run's plots, in plots/

matplotlib is imported only when a plot is drawn, so `import netstack.sim` stays light.
Figures are drawn on matplotlib's Agg canvas directly (Figure + FigureCanvasAgg, no pyplot):
no window opens and the backend of a notebook that calls us is left alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from netstack.errors import ConfigError
from netstack.sim.plotdata import (
    Connection,
    binned_rate,
    read_link_log,
    read_table,
    read_time_sequence,
)
from netstack.sim.runinfo import RunInfo
from netstack.sim.stats import cdf, confidence_ellipse

__all__ = ["plot_pantheon_scatter", "plot_capacity_vs_throughput", "plot_bufferbloat",
           "plot_series", "plot_time_sequence", "plot_cdf", "plot_run", "read_link_log"]

log = logging.getLogger(__name__)

WIDTH_IN = 8.0
DPI = 110
ELLIPSE_POINTS = 120

# How to show a series column: (label, unit, factor from the CSV's unit).
SERIES_UNITS = {
    "cwnd": ("congestion window", "kB", 1e-3),
    "ssthresh": ("slow-start threshold", "kB", 1e-3),
    "srtt": ("smoothed RTT", "ms", 1e3),
    "rttvar": ("RTT variation", "ms", 1e3),
    "rto": ("retransmission timeout", "ms", 1e3),
    "bytes_acked": ("bytes acknowledged", "MB", 1e-6),
    "bytes_received": ("bytes received", "MB", 1e-6),
    "total_retrans": ("retransmitted segments", "segments", 1.0),
    "delivery_rate": ("delivery rate", "Mbit/s", 8e-6),
    "pacing_rate": ("pacing rate", "Mbit/s", 8e-6),
    "one_way_delay": ("one-way delay", "ms", 1e3),
}


def _figure(rows: int = 1, height: float = 4.5, sharex: bool = False) -> tuple[Any, list]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=sharex, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, list(axes)


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})  # no version stamp in the file
    return path


# --- Pantheon's scatter ------------------------------------------------------------------


def plot_pantheon_scatter(groups: dict[str, list[tuple[float, float]]],
                          path: str | Path, level: float = 0.95) -> Path:
    """Pantheon's summary plot. `groups` maps a scheme ("cc=cubic") to its runs, each a
    point (throughput in Mbit/s, 95th-percentile one-way delay in ms), as
    campaign.scatter_points gives them. Delay is on a log axis, inverted so that better is
    up and to the right; each scheme shows its runs as dots, their mean as a large marker
    and the ellipse holding `level` of the spread (stats.confidence_ellipse), both taken on
    the log-delay axis the reader sees."""
    fig, (ax,) = _figure(height=5.5)
    colors = _colors()
    drawn = 0
    for label, points in groups.items():
        usable = [(t, d) for t, d in points if d > 0 and math.isfinite(t) and math.isfinite(d)]
        if not usable:
            continue
        color = next(colors)
        drawn += 1
        ax.scatter([d for _, d in usable], [t for t, _ in usable], s=18, color=color,
                   alpha=0.55, linewidths=0)
        logged = [(math.log10(d), t) for t, d in usable]
        (cx, cy), width, height, angle = confidence_ellipse(logged, level)
        ax.scatter([10 ** cx], [cy], s=90, color=color, edgecolors="black", linewidths=0.8,
                   label=f"{label} ({len(usable)} run{'s' if len(usable) != 1 else ''})",
                   zorder=3)
        if width > 0:
            xs, ys = _ellipse_outline((cx, cy), width, height, angle)
            ax.fill([10 ** x for x in xs], ys, color=color, alpha=0.15, zorder=1)
            ax.plot([10 ** x for x in xs], ys, color=color, linewidth=1.2)
    if not drawn:
        raise ConfigError("pantheon scatter: no run has a positive delay to plot")
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.invert_xaxis()
    ax.set_xlabel("95th-percentile one-way delay (ms, log scale; better →)")
    ax.set_ylabel("average throughput (Mbit/s)")
    ax.set_title(f"Throughput vs delay: runs, mean and {level:.0%} ellipse (better: up, right)")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def _ellipse_outline(center: tuple[float, float], width: float, height: float,
                     angle: float) -> tuple[list[float], list[float]]:
    cx, cy = center
    a, b, theta = width / 2, height / 2, math.radians(angle)
    xs, ys = [], []
    for i in range(ELLIPSE_POINTS + 1):
        t = 2 * math.pi * i / ELLIPSE_POINTS
        u, v = a * math.cos(t), b * math.sin(t)
        xs.append(cx + u * math.cos(theta) - v * math.sin(theta))
        ys.append(cy + u * math.sin(theta) + v * math.cos(theta))
    return xs, ys


def _plain_log_ticks(axis: Any) -> None:
    """Label a log axis 20, 50, 100 rather than 2x10^1: delays read better as plain ms."""
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _colors() -> Iterable[str]:
    import itertools

    from matplotlib import rcParams

    return itertools.cycle(rcParams["axes.prop_cycle"].by_key()["color"])


# --- capacity and throughput of a link ------------------------------------------------


def plot_capacity_vs_throughput(run_dir: str | Path, link: str, path: str | Path,
                                bin_s: float = 0.5) -> Path:
    """links/<link>.log drawn as mm-throughput-graph draws it: in bins of `bin_s`, the
    capacity the link offered (delivery opportunities), the traffic that arrived and the
    throughput it delivered (departures), in Mbit/s over time."""
    log_path = Path(run_dir) / "links" / f"{link}.log"
    events = read_link_log(log_path)
    if not (events.departures or events.arrivals or events.opportunities):
        raise ConfigError(f"{log_path}: no events to plot")
    end = events.end_ms
    base = events.base_ms
    fig, (ax,) = _figure()
    summary = []
    if events.opportunities:
        times, mbps = _bins(*binned_rate(events.opportunities, bin_s, base, end), bin_s)
        ax.fill_between(times, mbps, step="post", color="tab:blue",
                        alpha=0.25, label="capacity")
        summary.append(f"capacity {_mean_rate(events.opportunities, base, end):.2f}")
    if events.arrivals:
        times, mbps = _bins(*binned_rate(events.arrivals, bin_s, base, end), bin_s)
        ax.step(times, mbps, where="post", color="tab:gray", linewidth=0.9,
                linestyle="--", label="traffic arriving (ingress)")
    if events.departures:
        times, mbps = _bins(*binned_rate(events.departures, bin_s, base, end), bin_s)
        ax.step(times, mbps, where="post", color="tab:red", linewidth=1.4,
                label="throughput (egress)")
        summary.append(f"throughput {_mean_rate(events.departures, base, end):.2f}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"rate (Mbit/s, {bin_s:g} s bins)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{link}: " + (", ".join(summary) + " Mbit/s on average" if summary
                                else "throughput over time"))
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


def _bins(times: list[float], bps: list[float], bin_s: float) -> tuple[list, list]:
    """Bin starts and rates in Mbit/s, with the last bin's end added so a post-step draws
    every bin its full width."""
    return times + [times[-1] + bin_s], [b / 1e6 for b in bps] + [bps[-1] / 1e6]


def _mean_rate(events: list[tuple], base_ms: int, end_ms: int) -> float:
    span_s = (end_ms - base_ms) / 1000.0
    return sum(e[1] for e in events) * 8 / span_s / 1e6 if span_s > 0 else 0.0


# --- time series ---------------------------------------------------------------------


def _column(table: dict[str, list[float]], column: str, where: Path) -> list[float]:
    if column not in table:
        raise ConfigError(f"{where}: no column {column!r} (columns: {', '.join(table)})")
    return table[column]


def _series_file(run_dir: Path, flow: str, column: str) -> Path:
    folder = "delays" if column == "one_way_delay" else "series"
    return run_dir / folder / f"{flow}.csv"


def plot_series(run_dir: str | Path, flows: str | Iterable[str], column: str,
                path: str | Path) -> Path:
    """One column of series/<flow>.csv (or "one_way_delay" from delays/<flow>.csv) against
    time, one line per flow, in readable units (kB, ms, Mbit/s)."""
    run_dir = Path(run_dir)
    names = [flows] if isinstance(flows, str) else list(flows)
    if not names:
        raise ConfigError("plot_series: no flow given")
    label, unit, factor = SERIES_UNITS.get(column, (column, "as recorded", 1.0))
    fig, (ax,) = _figure()
    for name in names:
        where = _series_file(run_dir, name, column)
        table = read_table(where)
        times, values = _column(table, "time", where), _column(table, column, where)
        # a negative value stands for "unset" (ssthresh before the first loss): not drawn
        points = [(t, v * factor) for t, v in zip(times, values, strict=True) if v >= 0]
        ax.step([t for t, _ in points], [v for _, v in points], where="post", label=name,
                marker="." if column == "one_way_delay" else None, linewidth=1.1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{label} ({unit})")
    ax.set_title(f"{label} over time")
    ax.set_ylim(bottom=0)
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def plot_bufferbloat(run_dir: str | Path, flow: str, link: str, path: str | Path) -> Path:
    """The bufferbloat trio on one time axis: the flow's congestion window (kB), its RTT
    (ms: the smoothed RTT and, when rtts/<flow>.csv exists, every sample) and the queue of
    `link` (packets, from queues/<link>.csv). Needs series/<flow>.csv; a missing queue file
    leaves its panel out."""
    run_dir = Path(run_dir)
    where = run_dir / "series" / f"{flow}.csv"
    series = read_table(where)
    times = _column(series, "time", where)
    queue_file = run_dir / "queues" / f"{link}.csv"
    queue = read_table(queue_file) if queue_file.exists() else None
    fig, axes = _figure(rows=3 if queue else 2, height=8.0 if queue else 6.0, sharex=True)

    cwnd = _column(series, "cwnd", where)
    axes[0].step(times, [c / 1e3 for c in cwnd], where="post", color="tab:blue", label="cwnd")
    axes[0].set_ylabel("cwnd (kB)")
    axes[0].set_title(f"Bufferbloat: {flow} through {link}")

    srtt = _column(series, "srtt", where)
    rtt_ax = axes[1]
    samples_file = run_dir / "rtts" / f"{flow}.csv"
    if samples_file.exists():
        samples = read_table(samples_file)
        rtt_ax.plot(_column(samples, "time", samples_file),
                    [r * 1e3 for r in _column(samples, "rtt", samples_file)], ".",
                    markersize=2, color="tab:gray", alpha=0.5, label="RTT samples")
    kept = [(t, s * 1e3) for t, s in zip(times, srtt, strict=True) if s > 0]
    rtt_ax.step([t for t, _ in kept], [s for _, s in kept], where="post", color="tab:orange",
                label="smoothed RTT")
    rtt_ax.set_ylabel("RTT (ms)")
    rtt_ax.legend(loc="upper left", fontsize="small")

    if queue:
        packets = _column(queue, "packets", queue_file)
        axes[2].step(_column(queue, "time", queue_file), packets, where="post",
                     color="tab:green")
        axes[2].set_ylabel("queue (packets)")
    for ax in axes:
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("time (s)")
    return _save(fig, path)


# --- tcptrace's time-sequence graph ---------------------------------------------------


def plot_time_sequence(pcap_path: str | Path, path: str | Path,
                       flow_filter: Callable[[Connection], bool] | None = None,
                       zoom: tuple[float, float] | None = None) -> Path:
    """tcptrace's time-sequence graph of the busiest TCP direction in the pcap (among those
    `flow_filter` accepts): each data segment a vertical bar from its first to its last
    byte (retransmissions in red), the cumulative ACK (green), the ACK plus the receive
    window (olive) and SACK blocks (purple), against time from the connection's first frame.

    The whole connection is a straight line at this scale, so a second panel zooms in on
    `zoom` (start, end in seconds), by default on the first loss recovery: from two RTTs
    before the first retransmission to six after it. Without a retransmission and without
    `zoom`, only the whole connection is drawn."""
    trace = read_time_sequence(pcap_path, flow_filter)
    if zoom is None:
        zoom = trace.first_loss_window()
    elif not zoom[0] < zoom[1]:
        raise ConfigError(f"zoom: start must be before end, got {zoom}")
    top = max(_visible_top(trace, -math.inf, math.inf), 1)
    unit, scale = ("MB", 1e-6) if top >= 2e6 else ("kB", 1e-3)
    fig, axes = _figure(rows=2 if zoom else 1, height=9.0 if zoom else 5.5)
    _draw_time_sequence(axes[0], trace, scale, -math.inf, math.inf)
    axes[0].set_title(f"Time-sequence graph: {trace.connection}")
    if zoom:
        _draw_time_sequence(axes[1], trace, scale, *zoom)
        axes[1].set_title(f"zoom: {zoom[0]:.3f} s to {zoom[1]:.3f} s")
    for ax in axes:
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"relative sequence number ({unit})")
    axes[0].legend(loc="upper left", fontsize="small")
    return _save(fig, path)


def _visible_top(trace: Any, lo: float, hi: float) -> int:
    t0 = trace.start
    return max([end for t, _, end, _ in trace.segments if lo <= t - t0 <= hi]
               + [a for t, a in trace.acks if lo <= t - t0 <= hi]
               + [right for t, _, right in trace.sacks if lo <= t - t0 <= hi], default=0)


def _draw_time_sequence(ax: Any, trace: Any, scale: float, lo: float, hi: float) -> None:
    """The segments, ACKs, window and SACKs with lo <= time <= hi (s from the start)."""
    from matplotlib.collections import LineCollection

    t0 = trace.start
    segments = [s for s in trace.segments if lo <= s[0] - t0 <= hi]
    for retransmitted, color, width, name in ((False, "tab:blue", 1.2, "data"),
                                              (True, "tab:red", 2.2, "retransmission")):
        bars = [[(t - t0, start * scale), (t - t0, end * scale)]
                for t, start, end, again in segments if again is retransmitted]
        if bars:
            ax.add_collection(LineCollection(bars, colors=color, linewidths=width, label=name,
                                             zorder=3 if retransmitted else 2))
    # one ACK before the window keeps the step line continuous at the panel's left edge
    first = max(0, next((i for i, (t, _) in enumerate(trace.acks) if t - t0 >= lo), 0) - 1)
    acks = [a for a in trace.acks[first:] if a[0] - t0 <= hi]
    windows = [w for w in trace.windows[first:] if w[0] - t0 <= hi]
    if acks:
        ax.step([t - t0 for t, _ in acks], [a * scale for _, a in acks], where="post",
                color="tab:green", linewidth=1.0, label="ACK")
        ax.step([t - t0 for t, _ in windows], [w * scale for _, w in windows], where="post",
                color="tab:olive", linewidth=0.8, alpha=0.8, label="ACK + receive window")
    sacks = [[(t - t0, left * scale), (t - t0, right * scale)]
             for t, left, right in trace.sacks if lo <= t - t0 <= hi]
    if sacks:
        ax.add_collection(LineCollection(sacks, colors="tab:purple", linewidths=1.5,
                                         alpha=0.5, label="SACK", zorder=1))
    # the window line may run far above the data: stop just above what was sent and acked
    bottom = min([s[1] for s in segments] + [a for _, a in acks[1:]], default=0)
    top = max(_visible_top(trace, lo, hi), bottom + 1)
    margin = 0.03 * (top - bottom)
    ax.set_ylim((bottom - margin) * scale, (top + margin) * scale)
    times = [s[0] - t0 for s in segments] + [t - t0 for t, _ in acks]
    ax.set_xlim(max(lo, 0.0) if math.isfinite(lo) else 0.0,
                hi if math.isfinite(hi) else max(times, default=1.0))


# --- CDFs ------------------------------------------------------------------------------


def plot_cdf(samples: dict[str, list[float]], path: str | Path, xlabel: str,
             title: str = "Empirical CDF") -> Path:
    """One empirical CDF per named sample set (empty sets are left out)."""
    fig, (ax,) = _figure()
    drawn = 0
    for label, values in samples.items():
        xs, ps = cdf(values)
        if xs:
            ax.step(xs, ps, where="post", label=f"{label} (n={len(xs)})")
            drawn += 1
    if not drawn:
        raise ConfigError("plot_cdf: no samples to plot")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of samples ≤ x")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


# --- a whole run -----------------------------------------------------------------------


def plot_run(run_dir: str | Path) -> list[Path]:
    """Draw a run directory's plots into its plots/ folder and return their paths: for
    the first bulk flow and the bottleneck direction, the bufferbloat trio, capacity vs
    throughput, the time-sequence graph (when a pcap exists) and the delay CDF. A plot
    whose files are missing or unreadable is skipped (logged), never fatal."""
    info = RunInfo.load(Path(run_dir))
    out = info.run_dir / "plots"
    jobs: list[tuple[str, Callable[[], Path]]] = []
    flow, link = info.main_flow(), info.bottleneck_direction()
    if flow and link and (info.run_dir / "series" / f"{flow}.csv").exists():
        jobs.append(("bufferbloat", lambda: plot_bufferbloat(
            info.run_dir, flow, link, out / "bufferbloat.png")))
    if link and (info.run_dir / "links" / f"{link}.log").exists():
        jobs.append(("capacity", lambda: plot_capacity_vs_throughput(
            info.run_dir, link, out / "capacity.png")))
    pcap = info.pcap_for(flow)
    if pcap:
        jobs.append(("time-sequence", lambda: plot_time_sequence(
            pcap, out / "time_sequence.png", info.flow_filter(flow))))
    delays = info.delay_samples_ms()
    if delays:
        jobs.append(("delay CDF", lambda: plot_cdf(
            delays, out / "delay_cdf.png", "delay (ms)", "RTT and one-way delay CDF")))
    written = []
    for name, draw in jobs:
        try:
            written.append(draw())
        except ConfigError as exc:
            log.warning("%s: %s plot skipped: %s", info.run_dir, name, exc)
    return written

