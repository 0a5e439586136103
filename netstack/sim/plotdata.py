"""Reading a run directory's files back into numbers for plots (no matplotlib here).

    read_table(path)               a CSV with a header row -> {column: [floats]}
    read_link_log(path)            a mahimahi link log -> LinkLog (events by kind)
    binned_rate(events, bin_s)     bytes per event -> bit/s per time bin
    read_time_sequence(pcap)       one TCP connection's segments, ACKs, SACKs and window

The readers are tolerant: a line they cannot read is skipped and counted, because a plot of
a log cut short by an interrupted run is still worth drawing. A file that is missing or has
nothing usable in it is a ConfigError, one line naming the file.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from netstack.engine.pcapfile import read_pcap
from netstack.errors import ConfigError, MalformedPacket
from netstack.wire import ethernet, ipv4, tcp

SEQ_SPACE = 1 << 32
HALF_SEQ_SPACE = 1 << 31


def read_table(path: str | Path) -> dict[str, list[float]]:
    """The columns of a CSV file with a header row, as floats. Rows of the wrong length or
    with a cell that is not a number are skipped."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not rows:
        raise ConfigError(f"{path}: empty (expected a header row)")
    header = [name.strip() for name in rows[0]]
    columns: dict[str, list[float]] = {name: [] for name in header}
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        try:
            values = [float(cell) for cell in row]
        except ValueError:
            continue
        for name, value in zip(header, values, strict=True):
            columns[name].append(value)
    return columns


# --- mahimahi link logs ------------------------------------------------------------------


@dataclass
class LinkLog:
    """The events of one mahimahi link log, times in ms since the base timestamp."""

    base_ms: int = 0
    arrivals: list[tuple[int, int]] = field(default_factory=list)  # (ms, bytes): "+"
    opportunities: list[tuple[int, int]] = field(default_factory=list)  # (ms, bytes): "#"
    departures: list[tuple[int, int, int]] = field(default_factory=list)  # (ms, bytes, delay)
    drops: list[tuple[int, int, int]] = field(default_factory=list)  # (ms, packets, bytes): "d"
    skipped: int = 0  # event lines that could not be read

    @property
    def end_ms(self) -> int:
        """The last event's time (0 for no events)."""
        last = [events[-1][0] for events in (self.arrivals, self.opportunities,
                                             self.departures, self.drops) if events]
        return max(last, default=0)


BASE_PREFIX = "# base timestamp:"


def read_link_log(path: str | Path) -> LinkLog:
    """Read an mm-link log: '#' header lines ("# base timestamp: N" sets time zero), then
    one event a line, "<ms> + <bytes>" (arrival), "<ms> # <bytes>" (delivery opportunity),
    "<ms> - <bytes> <delay ms>" (departure), "<ms> d <packets> <bytes>" (drop). Unknown or
    malformed lines are counted in `skipped`."""
    log = LinkLog()
    base: int | None = None
    try:
        f = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ConfigError(f"cannot read link log {path}: {exc.strerror}") from None
    arrivals, opportunities = log.arrivals, log.opportunities
    departures, drops = log.departures, log.drops
    with f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if parts[0].startswith("#"):
                if line.startswith(BASE_PREFIX) and base is None:
                    try:
                        base = int(line[len(BASE_PREFIX):])
                    except ValueError:
                        log.skipped += 1
                continue
            try:
                kind = parts[1]
                if kind == "-":
                    departures.append((int(parts[0]), int(parts[2]), int(parts[3])))
                elif kind == "+":
                    arrivals.append((int(parts[0]), int(parts[2])))
                elif kind == "#":
                    opportunities.append((int(parts[0]), int(parts[2])))
                elif kind == "d":
                    drops.append((int(parts[0]), int(parts[2]), int(parts[3])))
                else:
                    log.skipped += 1
            except (IndexError, ValueError):
                log.skipped += 1
    log.base_ms = base or 0
    return log


def binned_rate(events: Iterable[tuple], bin_s: float, base_ms: int = 0,
                end_ms: int | None = None) -> tuple[list[float], list[float]]:
    """(bin start times in s, bit/s in each bin) for events (ms, bytes, ...), counted from
    `base_ms`, in bins of `bin_s` seconds up to `end_ms` (default: the last event)."""
    if bin_s <= 0:
        raise ConfigError(f"bin_s: must be more than 0 s, got {bin_s}")
    bin_ms = bin_s * 1000.0
    totals: dict[int, int] = {}
    last = base_ms
    for event in events:
        ms, size = event[0], event[1]
        index = int((ms - base_ms) // bin_ms)
        totals[index] = totals.get(index, 0) + size
        last = max(last, ms)
    end = last if end_ms is None else end_ms
    bins = max(int(math.ceil((end - base_ms) / bin_ms)), max(totals, default=-1) + 1)
    times = [i * bin_s for i in range(bins)]
    return times, [totals.get(i, 0) * 8 / bin_s for i in range(bins)]


# --- TCP time-sequence data from a pcap ----------------------------------------------------


class Connection(NamedTuple):
    """One direction of a TCP connection."""

    src: str
    sport: int
    dst: str
    dport: int

    def reverse(self) -> Connection:
        return Connection(self.dst, self.dport, self.src, self.sport)

    def __str__(self) -> str:
        return f"{self.src}:{self.sport} > {self.dst}:{self.dport}"


class _Segment(NamedTuple):
    time: float
    seq: int
    length: int  # payload bytes
    flags: int
    ack: int
    window: int
    window_shift: int | None  # the SYN's window scale option, if any
    sack: tuple[tuple[int, int], ...]


@dataclass
class TimeSequence:
    """What a tcptrace time-sequence graph shows for one data direction. Sequence numbers
    are relative to the first data byte (0) and unwrapped; times are the pcap's seconds."""

    connection: Connection
    start: float = 0.0  # the connection's first frame, either way (its SYN, usually)
    segments: list[tuple[float, int, int, bool]] = field(default_factory=list)
    # (time, first byte, end, retransmission?)
    acks: list[tuple[float, int]] = field(default_factory=list)  # (time, cumulative ACK)
    windows: list[tuple[float, int]] = field(default_factory=list)  # (time, ACK + rwnd)
    sacks: list[tuple[float, int, int]] = field(default_factory=list)  # (time, left, right)

    def rtt_before(self, when: float) -> float | None:
        """The RTT the last ACK before `when` measured: its time minus when the data it
        acknowledged was first sent (None without such an ACK)."""
        last = None
        for t, ack in self.acks:
            if t > when:
                break
            last = (t, ack)
        if last is None:
            return None
        # first transmissions never overlap, so their ends grow: bisect for the ACKed one
        originals = [(end, t) for t, _, end, again in self.segments if not again]
        i = bisect.bisect_left(originals, (last[1], -math.inf))
        if i == len(originals) or originals[i][1] > last[0]:
            return None
        return last[0] - originals[i][1]

    def first_loss_window(self, before_rtts: float = 2, after_rtts: float = 6,
                          default_rtt: float = 0.1) -> tuple[float, float] | None:
        """(start, end) in seconds from `start` around the first retransmission (cut at the
        last frame), or None without one."""
        resent = next((t for t, _, _, again in self.segments if again), None)
        if resent is None:
            return None
        rtt = self.rtt_before(resent) or default_rtt
        at = resent - self.start
        last = max(self.segments[-1][0], self.acks[-1][0] if self.acks else 0.0) - self.start
        return max(0.0, at - before_rtts * rtt), min(at + after_rtts * rtt, last)


class _Unwrapper:
    """32-bit sequence numbers as ever-growing integers relative to `base`: each number is
    taken as the nearest one (mod 2^32) to the previous."""

    __slots__ = ("raw", "value")

    def __init__(self, base: int) -> None:
        self.raw, self.value = base, 0

    def __call__(self, raw: int) -> int:
        self.value += (raw - self.raw + HALF_SEQ_SPACE) % SEQ_SPACE - HALF_SEQ_SPACE
        self.raw = raw
        return self.value


def _tcp_segments(pcap_path: str | Path) -> dict[Connection, list[_Segment]]:
    """Every TCP segment in the pcap, by direction. Frames that are not IPv4/TCP, fragments
    and malformed frames are skipped (a capture may hold ARP and pings too)."""
    directions: dict[Connection, list[_Segment]] = {}
    for time, frame in read_pcap(str(pcap_path)):
        try:
            eth, packet = ethernet.parse(frame)
            if eth.ethertype != ethernet.ETHERTYPE_IPV4:
                continue
            ip, segment = ipv4.parse(packet)
            if ip.protocol != ipv4.PROTO_TCP or ip.is_fragment:
                continue
            header, payload = tcp.parse(segment)
        except MalformedPacket:
            continue
        key = Connection(str(ip.src), header.src_port, str(ip.dst), header.dst_port)
        shift = None
        sack: tuple[tuple[int, int], ...] = ()
        for option in header.options:
            if isinstance(option, tcp.WindowScaleOption):
                shift = option.shift
            elif isinstance(option, tcp.SackOption):
                sack = option.blocks
        directions.setdefault(key, []).append(_Segment(
            time, header.seq, len(payload), header.flags, header.ack, header.window, shift, sack))
    return directions


def _payload_bytes(segments: list[_Segment]) -> int:
    return sum(s.length for s in segments)


def read_time_sequence(pcap_path: str | Path,
                       flow_filter: Callable[[Connection], bool] | None = None
                       ) -> TimeSequence:
    """The time-sequence data of the direction that carried the most payload among those
    `flow_filter` accepts (all, by default), with the ACKs, SACK blocks and receive window
    its peer sent back."""
    directions = _tcp_segments(pcap_path)
    candidates = [(c, s) for c, s in directions.items()
                  if (flow_filter is None or flow_filter(c)) and _payload_bytes(s) > 0]
    if not candidates:
        raise ConfigError(f"{pcap_path}: no TCP segment with data"
                          + (" matches the flow filter" if flow_filter else ""))
    connection, data = max(candidates, key=lambda item: _payload_bytes(item[1]))
    replies = directions.get(connection.reverse(), [])

    syn = next((s for s in data if s.flags & tcp.FLAG_SYN), None)
    # the first data byte is relative 0: the SYN takes the sequence number before it
    base = (syn.seq + 1) % SEQ_SPACE if syn else min(data, key=lambda s: s.time).seq
    # RFC 7323 §2.2: windows are scaled only when both SYNs carried the option
    peer_syn = next((s for s in replies if s.flags & tcp.FLAG_SYN), None)
    scaled = (syn is not None and peer_syn is not None and syn.window_shift is not None
              and peer_syn.window_shift is not None)
    shift = peer_syn.window_shift if scaled and peer_syn else 0

    out = TimeSequence(connection, min(s.time for s in data + replies))
    sequence = _Unwrapper(base)
    highest_end = None
    for s in data:
        start = sequence(s.seq)
        if s.length == 0:
            continue
        end = start + s.length
        retransmission = highest_end is not None and start < highest_end
        out.segments.append((s.time, start, end, retransmission))
        highest_end = end if highest_end is None else max(highest_end, end)

    acknowledged = _Unwrapper(base)
    for r in replies:
        if not r.flags & tcp.FLAG_ACK:
            continue
        ack = acknowledged(r.ack)
        out.acks.append((r.time, ack))
        window = r.window if r.flags & tcp.FLAG_SYN else r.window << (shift or 0)
        out.windows.append((r.time, ack + window))
        for left, right in r.sack:
            # SACK edges sit within a window of the ACK: unwrap them against it
            out.sacks.append((r.time, ack + _signed(left - r.ack), ack + _signed(right - r.ack)))
    return out


def _signed(delta: int) -> int:
    return (delta + HALF_SEQ_SPACE) % SEQ_SPACE - HALF_SEQ_SPACE
