"""Reading an mm-link log the way mm-throughput-graph reads it.

mm-throughput-graph (a script shipped with mahimahi) accepts a log only if: "# base
timestamp: N" appears exactly once, before the first event; every other line starting with
'#' is a comment; every event line is "TIME TYPE BYTES [DELAY]" with TIME and BYTES whole
numbers and TYPE one of '+' (arrival), '#' (delivery opportunity) or '-' (departure, which
needs a DELAY >= 0 no larger than TIME - base); there is at least one departure, the events
span more than 0 ms, and more than one bin. Anything else stops it. summarize_log applies the
same rules, raising ConfigError where the script would die, and computes the numbers it
prints:

    Average capacity            opportunity bits / (last event - first event)
    Average throughput          departed bits over the same span, and its ratio to capacity
    95th percentile per-packet queueing delay    of the departures' delays (element
                                                 floor(0.95 n) of the sorted list)
    95th percentile signal delay  for each ms, the least delay of a packet that arrived at or
                                  after it; filled backwards a ms at a time

and the per-bin rates it plots (capacity, ingress and egress, in bit/s here).

It is a check that a netstack log is one mahimahi's tools read, and the way to get the
numbers a mahimahi user would quote from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from netstack.errors import ConfigError

_BASE = re.compile(r"^# base timestamp: (\d+)")
_WHOLE = re.compile(r"^\d+$")


@dataclass
class LogSummary:
    capacity_bps: float
    ingress_bps: float
    throughput_bps: float
    utilization: float  # throughput / capacity (0 when the log has no opportunities)
    delay_p95_ms: float  # per-packet time in the link
    signal_delay_p95_ms: float
    duration_s: float  # first to last event
    arrivals: int = 0
    opportunities: int = 0
    departures: int = 0
    drop_lines: int = 0  # "d" lines skipped (strict=False only)
    # (bin start in seconds, capacity, ingress, egress in bit/s), one row per bin
    series: list[tuple[float, float, float, float]] = field(default_factory=list)


def summarize_log(path: str | Path, ms_per_bin: int = 500, strict: bool = True) -> LogSummary:
    """mm-throughput-graph's reading of the log at `path` (see the module docstring). With
    strict=False, mm-link's drop lines ("TIME d PACKETS BYTES") are skipped instead of
    refused, as mm-throughput-graph would need."""
    base: int | None = None
    first = last = None
    bins: dict[int, list[int]] = {}  # bin -> [capacity, arrival, departure] bits
    sums = [0, 0, 0]
    counts = [0, 0, 0]
    delays: list[int] = []
    signal: dict[int, int] = {}  # arrival ms -> least delay of a packet that arrived then
    drop_lines = 0
    column = {"#": 0, "+": 1, "-": 2}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            where = f"{path} line {number}"
            line = line.rstrip("\n")
            if m := _BASE.match(line):
                if base is not None:
                    raise ConfigError(f"{where}: base timestamp given twice")
                base = int(m[1])
                continue
            if line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) < 3:
                raise ConfigError(f"{where}: expected 'TIME TYPE BYTES [DELAY]', got {line!r}")
            stamp, kind, size = fields[:3]
            if not _WHOLE.match(stamp):
                raise ConfigError(f"{where}: invalid timestamp {stamp!r}")
            if not _WHOLE.match(size):
                raise ConfigError(f"{where}: invalid byte count {size!r}")
            if base is None:
                raise ConfigError(f"{where}: the log has no '# base timestamp' line before it")
            if kind == "d" and not strict:
                drop_lines += 1
                continue
            if kind not in column:
                raise ConfigError(f"{where}: unknown event type {kind!r} "
                                  f"(mm-throughput-graph stops here too)")
            ms = int(stamp) - base
            first = ms if first is None else first
            last = ms if last is None else max(last, ms)
            bits = int(size) * 8
            slot = column[kind]
            bins.setdefault(ms // ms_per_bin, [0, 0, 0])[slot] += bits
            sums[slot] += bits
            counts[slot] += 1
            if kind == "-":
                if len(fields) < 4 or not _WHOLE.match(fields[3]):
                    raise ConfigError(f"{where}: a departure needs 'TIME - BYTES DELAY' with "
                                      f"a delay >= 0, got {line!r}")
                delay = int(fields[3])
                if ms - delay < 0:
                    raise ConfigError(f"{where}: delay {delay} ms reaches before the base "
                                      f"timestamp (time {ms} ms)")
                delays.append(delay)
                sent = ms - delay
                signal[sent] = min(delay, signal.get(sent, delay))
    if first is None or last is None:
        raise ConfigError(f"{path}: the log has no events")
    if last == first:
        raise ConfigError(f"{path}: the events span 0 ms, so no rate can be computed")
    if not delays:
        raise ConfigError(f"{path}: the log has no departures")
    if min(bins) == max(bins):
        raise ConfigError(f"{path}: all events fall in one {ms_per_bin} ms bin")
    duration = (last - first) / 1000.0
    delays.sort()
    # the least delay to get a message created at each ms across: a ms with no departure
    # inherits the next ms's value plus the 1 ms it would wait for it
    newest, oldest = max(signal), min(signal)
    for ms in range(newest - 1, oldest - 1, -1):
        if ms not in signal:
            signal[ms] = signal[ms + 1] + 1
    signal_delays = sorted(signal.values())
    capacity, ingress, throughput = (s / duration for s in sums)
    seconds_per_bin = ms_per_bin / 1000.0
    series = [(b * seconds_per_bin, *(v / seconds_per_bin for v in bins.get(b, (0, 0, 0))))
              for b in range(min(bins), max(bins) + 1)]
    return LogSummary(
        capacity_bps=capacity, ingress_bps=ingress, throughput_bps=throughput,
        utilization=throughput / capacity if capacity else 0.0,
        delay_p95_ms=float(delays[int(0.95 * len(delays))]),
        signal_delay_p95_ms=float(signal_delays[int(0.95 * len(signal_delays))]),
        duration_s=duration, arrivals=counts[1], opportunities=counts[0],
        departures=counts[2], drop_lines=drop_lines, series=series)
