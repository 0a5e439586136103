"""What one direction of a link is: plain values, checked once, named field by field.

A scenario gives each link direction as a table (TOML) or object (JSON); `link_spec_from_dict`
turns it into a LinkSpec and names the field of any bad value. The mahimahi adapter
(sim/mahimahi/command.py) builds the same LinkSpecs from mahimahi's command line.

    link_spec_from_dict({"rate": "12mbps", "delay": "30ms",
                         "queue": {"kind": "droptail", "bytes": 45000}},
                        where="links.bottleneck.up")

Accepted forms (any key may be left out):
    rate       "10mbps", "12Mbit/s", "1gbps", "500kbps", 1e7 (bits/s), "infinite",
               {trace = "cell.trace", once = false}, {bps = "10mbps", on = 1.0, off = 0.5}
    queue      {kind = "droptail" | "drophead", packets = 100, bytes = 45000}  (one or both)
               {kind = "codel", packets/bytes (optional), target = "5ms", interval = "100ms"}
               {kind = "pie", packets/bytes (optional), target = "15ms", interval = "15ms"}
               {kind = "infinite"}
    delay, jitter, reorder_delay   seconds: 0.02, "20ms", "1.5s", "500us"
    loss       0.01, "1%", {gilbert = {p_gb = 0.01, p_bg = 0.3, loss_good = 0, loss_bad = 1}}
    reorder, duplicate, corrupt    probabilities: 0.001 or "0.1%"

Bad values raise ConfigError("<where>.queue.packets: must be a positive integer, got -3").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netstack.errors import ConfigError
from netstack.sim.link.trace import locate_trace, read_trace, trace_name


@dataclass(frozen=True)
class RateSpec:
    kind: str = "infinite"  # "constant" | "trace" | "onoff" | "infinite" (no serializer)
    bps: float = 0.0  # constant, and onoff while on
    trace: str | None = None  # trace: a mahimahi trace file (one delivery opportunity a line)
    once: bool = False  # trace: stop at its end instead of wrapping around (mm-link --once)
    on: float = 1.0  # onoff: seconds on, then seconds off
    off: float = 0.0


@dataclass(frozen=True)
class QueueSpec:
    kind: str = "infinite"  # "droptail" | "drophead" | "codel" | "pie" | "infinite"
    packets: int | None = None  # limit in packets (None: no packet limit)
    bytes: int | None = None  # limit in bytes (None: no byte limit)
    # CoDel: target and interval. PIE: target (QDELAY_REF) and update period (T_UPDATE);
    # link_spec_from_dict gives PIE RFC 8033's 0.015 and 0.015 when they are not set, but
    # QueueSpec(kind="pie") built by hand keeps these CoDel defaults unless given both.
    target: float = 0.005
    interval: float = 0.100


@dataclass(frozen=True)
class LossSpec:
    kind: str = "none"  # "none" | "iid" | "gilbert"
    p: float = 0.0  # iid: probability a packet is lost
    p_gb: float = 0.0  # gilbert: probability good -> bad, per packet
    p_bg: float = 0.0  # gilbert: probability bad -> good, per packet
    loss_good: float = 0.0  # gilbert: loss probability in the good state
    loss_bad: float = 1.0  # gilbert: loss probability in the bad state


@dataclass(frozen=True)
class LinkSpec:
    """One direction. Stages in order: rate (serializer) -> queue -> delay/jitter -> impairments."""

    rate: RateSpec = field(default_factory=RateSpec)
    queue: QueueSpec = field(default_factory=QueueSpec)
    delay: float = 0.0  # one-way propagation delay, seconds
    jitter: float = 0.0  # extra delay, uniform in [0, jitter)
    loss: LossSpec = field(default_factory=LossSpec)
    reorder: float = 0.0  # probability a packet is held back reorder_delay extra
    reorder_delay: float = 0.002
    duplicate: float = 0.0  # probability a packet arrives twice
    corrupt: float = 0.0  # probability one bit of the packet flips


# --- from scenario values -------------------------------------------------------------

MIN_FRAME_BYTES = 64  # a byte limit below one minimum Ethernet frame holds nothing
QUEUE_KINDS = ("droptail", "drophead", "codel", "pie", "infinite")
PIE_DEFAULT_TARGET = 0.015  # RFC 8033 QDELAY_REF
PIE_DEFAULT_TUPDATE = 0.015  # RFC 8033 T_UPDATE

_NUMBER = r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_RATE = re.compile(_NUMBER + r"\s*(?P<prefix>[kmgt]?)(?P<unit>bps|bit/s|bits/s|bits|bit|b/s)?",
                   re.IGNORECASE)
_PREFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_DURATION = re.compile(_NUMBER + r"\s*(?P<unit>s|ms|us|µs|ns)?")
_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_rate(text: Any, where: str) -> float:
    """A rate in bits per second: a positive number, or "10mbps", "12Mbit/s", "500kbps"..."""
    if _is_number(text):
        bps = float(text)
    elif isinstance(text, str) and (m := _RATE.fullmatch(text.strip())):
        if m["unit"] and m["unit"][0] == "B" and m["unit"].lower() in ("bps", "b/s"):
            raise ConfigError(f"{where}: 'B' would mean bytes; write the rate in bits, "
                              f"e.g. '10mbps', got {text!r}")
        bps = float(m["number"]) * _PREFIXES[m["prefix"].lower()]
    else:
        raise ConfigError(f"{where}: must be a rate like '10mbps', '12Mbit/s' or a number "
                          f"of bits per second, got {text!r}")
    if not (bps > 0 and math.isfinite(bps)):
        raise ConfigError(f"{where}: must be a positive rate, got {text!r}")
    return bps


def parse_duration(text: Any, where: str) -> float:
    """A duration in seconds, >= 0: a number of seconds, or "20ms", "1.5s", "500us"..."""
    if _is_number(text):
        seconds = float(text)
    elif isinstance(text, str) and (m := _DURATION.fullmatch(text.strip())):
        seconds = float(m["number"]) * _UNITS[m["unit"]]
    else:
        raise ConfigError(f"{where}: must be a duration like '20ms', '1.5s' or a number of "
                          f"seconds, got {text!r}")
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ConfigError(f"{where}: must be a duration >= 0, got {text!r}")
    return seconds


def parse_probability(value: Any, where: str) -> float:
    """A probability: a number in [0, 1], or a percentage such as "1%"."""
    p: float | None = None
    if _is_number(value):
        p = float(value)
    elif isinstance(value, str) and value.strip().endswith("%"):
        try:
            p = float(value.strip()[:-1]) / 100
        except ValueError:
            p = None
    if p is None or not 0 <= p <= 1:
        raise ConfigError(f"{where}: must be a probability in [0, 1] or a percentage like "
                          f"'1%', got {value!r}")
    return p


def _check_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key (expected one of "
                              f"{', '.join(allowed)})")


def _table(value: Any, where: str, example: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table like {example}, got {value!r}")
    return value


def positive_duration(value: Any, where: str) -> float:
    seconds = parse_duration(value, where)
    if seconds <= 0:
        raise ConfigError(f"{where}: must be a duration > 0, got {value!r}")
    return seconds


def rate_from_value(value: Any, where: str, base_dir: Path | None = None) -> RateSpec:
    if value is None or value in ("infinite", "unlimited"):
        return RateSpec(kind="infinite")
    if not isinstance(value, dict):
        return RateSpec(kind="constant", bps=parse_rate(value, where))
    if "trace" in value:
        _check_keys(value, ("trace", "once"), where)
        path = value["trace"]
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}.trace: must be the path of a trace file, got {path!r}")
        once = value.get("once", False)
        if not isinstance(once, bool):
            raise ConfigError(f"{where}.once: must be true or false, got {once!r}")
        try:
            resolved = locate_trace(path, base_dir)
            schedule = read_trace(resolved)
        except ConfigError as exc:
            raise ConfigError(f"{where}.trace: {exc}") from None
        if not once and schedule[-1] == 0:
            raise ConfigError(f"{where}.trace: {resolved}: a repeating trace must last more "
                              f"than 0 ms (its last line is its period)")
        return RateSpec(kind="trace", trace=trace_name(resolved), once=once)
    if "bps" in value:
        _check_keys(value, ("bps", "on", "off"), where)
        for key in ("on", "off"):
            if key not in value:
                raise ConfigError(f"{where}.{key}: missing (an on/off rate needs bps, on, off)")
        return RateSpec(kind="onoff", bps=parse_rate(value["bps"], f"{where}.bps"),
                        on=positive_duration(value["on"], f"{where}.on"),
                        off=parse_duration(value["off"], f"{where}.off"))
    raise ConfigError(f"{where}: a rate table needs 'trace' (a trace file) or 'bps', 'on' "
                      f"and 'off' (an on/off rate), got {value!r}")


def _limit(table: dict, key: str, where: str, minimum: int, what: str) -> int | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}.{key}: must be {what}, got {value!r}")
    return value


def queue_from_value(value: Any, where: str) -> QueueSpec:
    if value is None:
        return QueueSpec(kind="infinite")
    table = _table(value, where, '{kind = "droptail", packets = 100}')
    _check_keys(table, ("kind", "packets", "bytes", "target", "interval"), where)
    kind = table.get("kind")
    if kind not in QUEUE_KINDS:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(QUEUE_KINDS)}, got {kind!r}")
    packets = _limit(table, "packets", where, 1, "a positive integer")
    nbytes = _limit(table, "bytes", where, MIN_FRAME_BYTES,
                    f"an integer >= {MIN_FRAME_BYTES} (one minimum frame)")
    if kind == "infinite" and (packets or nbytes):
        raise ConfigError(f"{where}: an infinite queue takes no packets/bytes limit")
    if kind in ("droptail", "drophead") and packets is None and nbytes is None:
        raise ConfigError(f"{where}: a {kind} queue needs a size: packets and/or bytes")
    if kind in ("codel", "pie"):
        pie = kind == "pie"
        target = (positive_duration(table["target"], f"{where}.target") if "target" in table
                  else PIE_DEFAULT_TARGET if pie else QueueSpec.target)
        interval = (positive_duration(table["interval"], f"{where}.interval")
                    if "interval" in table else PIE_DEFAULT_TUPDATE if pie else QueueSpec.interval)
        return QueueSpec(kind=kind, packets=packets, bytes=nbytes, target=target,
                         interval=interval)
    for key in ("target", "interval"):
        if key in table:
            raise ConfigError(f"{where}.{key}: only a codel or pie queue has a {key}")
    return QueueSpec(kind=kind, packets=packets, bytes=nbytes)


def loss_from_value(value: Any, where: str) -> LossSpec:
    if value is None:
        return LossSpec()
    if not isinstance(value, dict):
        p = parse_probability(value, where)
        return LossSpec(kind="iid", p=p) if p > 0 else LossSpec()
    _check_keys(value, ("gilbert",), where)
    where = f"{where}.gilbert"
    g = _table(value.get("gilbert"), where, "{p_gb = 0.01, p_bg = 0.3}")
    _check_keys(g, ("p_gb", "p_bg", "loss_good", "loss_bad"), where)
    for key in ("p_gb", "p_bg"):
        if key not in g:
            raise ConfigError(f"{where}.{key}: missing (Gilbert-Elliott needs p_gb and p_bg)")
    p_bg = parse_probability(g["p_bg"], f"{where}.p_bg")
    if p_bg == 0:
        raise ConfigError(f"{where}.p_bg: must be > 0, or the bad state never ends")
    return LossSpec(kind="gilbert", p_gb=parse_probability(g["p_gb"], f"{where}.p_gb"),
                    p_bg=p_bg,
                    loss_good=parse_probability(g.get("loss_good", 0.0), f"{where}.loss_good"),
                    loss_bad=parse_probability(g.get("loss_bad", 1.0), f"{where}.loss_bad"))


LINK_KEYS = ("rate", "queue", "delay", "jitter", "loss", "reorder", "reorder_delay",
             "duplicate", "corrupt")


def link_spec_from_dict(d: Any, where: str, base_dir: str | Path | None = None) -> LinkSpec:
    """One link direction from a scenario table. A relative trace path is taken relative to
    `base_dir` (e.g. the scenario file's folder) when given."""
    table = _table(d, where, '{rate = "10mbps", delay = "20ms"}')
    _check_keys(table, LINK_KEYS, where)
    base = None if base_dir is None else Path(base_dir)
    values: dict[str, Any] = {
        "rate": rate_from_value(table.get("rate"), f"{where}.rate", base),
        "queue": queue_from_value(table.get("queue"), f"{where}.queue"),
        "loss": loss_from_value(table.get("loss"), f"{where}.loss"),
    }
    for key in ("delay", "jitter", "reorder_delay"):
        if key in table:
            values[key] = parse_duration(table[key], f"{where}.{key}")
    for key in ("reorder", "duplicate", "corrupt"):
        if key in table:
            values[key] = parse_probability(table[key], f"{where}.{key}")
    return LinkSpec(**values)
