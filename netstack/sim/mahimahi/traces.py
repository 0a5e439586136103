"""mahimahi trace files: one delivery opportunity per line, as a time in milliseconds.

A trace line `n` says "at n ms the link may deliver one packet of up to 1500 bytes". Several
lines with the same n are several opportunities in that millisecond, so a constant
12 Mbit/s link is one line per ms (1500 B * 8 / 1 ms = 12 Mbit/s). The last line is the
trace's period: unless mm-link is given --once, the schedule starts again, shifted by that
many ms, when it runs out. mm-link itself accepts a file only if every line is a whole
number, no line is empty, the numbers never decrease, and the last one is above 0; the reader
here holds a file to the same rules, so anything it accepts mm-link accepts too.

(mm-link counts 1504 bytes per opportunity, because its packets carry a 4-byte TUN header in
front of a 1500-byte IP packet: either way one full-sized packet per line.)
"""

from __future__ import annotations

from pathlib import Path

from netstack.errors import ConfigError
from netstack.sim.link.trace import SHIPPED_TRACES, locate_trace

OPPORTUNITY_BYTES = 1500  # one full-sized IP packet per trace line


def read_trace_file(path: str | Path) -> list[int]:
    """The trace's opportunity times in ms, checked as mm-link checks them; a bad file raises
    ConfigError naming the file and line."""
    try:
        with open(path, encoding="ascii", errors="replace", newline="") as file:
            text = file.read()  # newline="": a "\r" stays, to be refused as mm-link does
    except OSError as exc:
        raise ConfigError(f"trace file {path}: cannot read it ({exc.strerror})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise ConfigError(f"trace file {path}: no delivery opportunities (the file is empty)")
    for number, line in enumerate(lines, 1):
        if not (line.isascii() and line.isdigit()):
            if line == "":
                why = "an empty line"
            elif line.endswith("\r"):
                why = "a Windows line ending (mm-link rejects it too)"
            else:
                why = f"{line[:20]!r}, not a whole number of milliseconds"
            raise ConfigError(f"trace file {path} line {number}: {why}")
    schedule = [int(line) for line in lines]
    for number in range(1, len(schedule)):
        if schedule[number] < schedule[number - 1]:
            raise ConfigError(f"trace file {path} line {number + 1}: {schedule[number]} ms "
                              f"comes after {schedule[number - 1]} ms (times must not decrease)")
    if schedule[-1] == 0:
        raise ConfigError(f"trace file {path}: its last line is 0 ms, but a trace must last "
                          f"more than 0 ms (the last line is its period)")
    return schedule


def trace_rate_bps(trace: str | Path | list[int],
                   opportunity_bytes: int = OPPORTUNITY_BYTES) -> float:
    """The mean capacity of a trace (a path, or a schedule from read_trace_file), in bit/s:
    opportunities per period times their size."""
    schedule = trace if isinstance(trace, list) else read_trace_file(trace)
    return len(schedule) * opportunity_bytes * 8 / (schedule[-1] / 1000.0)


resolve_trace = locate_trace  # one rule for finding traces, shared with scenarios


def shipped_traces() -> list[str]:
    """The names of the traces netstack ships (see netstack/sim/traces/README.md)."""
    return sorted(p.name for p in SHIPPED_TRACES.glob("*.trace"))
