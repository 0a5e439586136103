"""The link log mm-link writes (--uplink-log=FILE), written from a simulated link direction.

MahimahiLog is a LinkObserver (netstack/sim/link/observer.py): give it to a LinkDirection and
it writes, line for line, what mm-link would have written for the same events. The format, as
mm-link writes it and mm-throughput-graph / mm-delay-graph read it:

    # mahimahi mm-link (Uplink) [12mbps.trace] > bottleneck.up.log
    # command line: 'mm-link' '12mbps.trace' '12mbps.trace'
    # queue: droptail [bytes=45000]
    # init timestamp: 0
    # base timestamp: 0
    # mahimahi config: [delay 30 ms]          (only inside other shells: their prompt prefix)
    5 + 1514              a packet of 1514 bytes arrived at the link at 5 ms
    6 # 1500              a delivery opportunity of 1500 bytes at 6 ms
    6 - 1514 1            a packet left at 6 ms, after 1 ms in the link (6 - 5)
    9 d 1 1514            the queue dropped 1 packet, 1514 bytes, at 9 ms (drops=True only)

Time. mm-link stamps events with whole milliseconds since the process began (the "init
timestamp", wall-clock ms since 1970); the "base timestamp" is when the link itself started on
that clock, and the trace's schedule counts from it. Here the clock is the simulator's: the
init timestamp is 0 (virtual time has no date; `init_timestamp` may set one), the link starts
with the run, so the base timestamp is 0 too, and an event at virtual time t seconds is
stamped floor(t * 1000) ms (with a nanosecond of slack, so that 0.003 computed as
0.0029999999 still lands in ms 3). A departure's delay is computed as mm-link computes it,
from those whole-ms stamps: floor(departure) - floor(arrival), not a rounded float.

Drops. mm-link writes a "d" line when a packet is refused or pushed out as it is enqueued
(drop-tail, drop-head, PIE), one line per arriving packet with the count and bytes it cost.
It never logs CoDel's drops (made at dequeue) or mm-loss's (another shell). But
mm-throughput-graph stops at the first "d" line ("Unknown event type: d", mahimahi issue
#136), so drop lines are off by default and the log is exactly what that tool reads;
`drops=True` writes them as mm-link does.

Opportunities. mm-link logs every delivery opportunity as its time passes, busy or idle, so
its log shows the capacity of the whole run. A LinkDirection reports the ones it skipped when
it next does something; bring it up to the end of the run before close() for the same.

The first header line names the trace and the log file by their file names (mm-link prints
them as typed; `trace_name` and `log_name` may say so too), never the folders they sit in: the
same run writes the same bytes wherever its directory is.

Sizes are whatever the link reports: netstack's packets are Ethernet frames (mm-link's are
IP packets plus a 4-byte TUN header, and its opportunities 1504 bytes).

Writing costs one string format per event; lines are buffered and written in blocks. Call
close() (or use `with`) at the end of the run.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from netstack.sim.link.spec import LinkSpec, QueueSpec, RateSpec

SLACK_MS = 1e-6  # a nanosecond: float noise must not move an event into the previous ms
FLUSH_LINES = 4096
DIRECTION_NAMES = {"uplink": "Uplink", "downlink": "Downlink"}
LOGGED_DROPS = frozenset(("tail", "head", "pie"))  # those mm-link makes at enqueue


def virtual_ms(t: float) -> int:
    """The whole millisecond mm-link would stamp on an event at virtual time t (seconds)."""
    return int(t * 1000.0 + SLACK_MS)


def describe_queue(queue: QueueSpec) -> str:
    """The queue as mm-link's "# queue:" line names it: "droptail [bytes=45000]"."""
    if queue.kind == "infinite":
        return "infinite"
    limits = []
    if queue.bytes:
        limits.append(f"bytes={queue.bytes}")
    if queue.packets:
        limits.append(f"packets={queue.packets}")
    return f"{queue.kind} [{', '.join(limits)}]"


def describe_rate(rate: RateSpec) -> str:
    """What goes between the brackets of the first header line: mm-link's trace file name, or
    a description of a rate mahimahi has no trace for."""
    if rate.kind == "trace" and rate.trace:
        return Path(rate.trace).name
    if rate.kind == "constant":
        return f"constant {rate.bps:g} bit/s"
    if rate.kind == "onoff":
        return f"on/off {rate.bps:g} bit/s, {rate.on:g} s on, {rate.off:g} s off"
    return "infinite rate"


class MahimahiLog:
    """Writes one link direction's events to `path` in mm-link's log format (see the module
    docstring). Implements the LinkObserver protocol; `queue` events are not part of the
    format and are ignored."""

    __slots__ = ("path", "drops", "_file", "_lines", "_append", "_drop_line")

    def __init__(self, path: str | Path, *, direction: str = "uplink",
                 trace_name: str | None = None, queue_desc: str = "infinite",
                 command_line: str = "netstack sim", config: str | None = None,
                 drops: bool = False, init_timestamp: int = 0,
                 log_name: str | None = None) -> None:
        if direction not in DIRECTION_NAMES:
            raise ValueError(f"direction must be 'uplink' or 'downlink', got {direction!r}")
        self.path = Path(path)
        self.drops = drops
        self._lines: list[str] = []
        self._append = self._lines.append
        self._drop_line = -1  # index in _lines of the last "d" line, to merge into
        self._file = open(self.path, "w", encoding="utf-8", newline="\n")
        header = [
            f"# mahimahi mm-link ({DIRECTION_NAMES[direction]}) [{trace_name or 'none'}] "
            f"> {log_name or self.path.name}\n",
            f"# command line: {command_line}\n",
            f"# queue: {queue_desc}\n",
            f"# init timestamp: {init_timestamp}\n",
            "# base timestamp: 0\n",
        ]
        if config is not None:
            header.append(f"# mahimahi config: {config}\n")
        self._file.write("".join(header))

    @classmethod
    def for_link(cls, path: str | Path, spec: LinkSpec, *, direction: str = "uplink",
                 **kwargs) -> MahimahiLog:
        """A log whose headers describe `spec` (its trace's file name or its rate, and its
        queue)."""
        kwargs.setdefault("trace_name", describe_rate(spec.rate))
        kwargs.setdefault("queue_desc", describe_queue(spec.queue))
        return cls(path, direction=direction, **kwargs)

    # --- the LinkObserver protocol -------------------------------------------------------

    def arrival(self, t: float, size: int) -> None:
        self._append(f"{int(t * 1000.0 + SLACK_MS)} + {size}\n")
        if len(self._lines) >= FLUSH_LINES:
            self.flush()

    def opportunity(self, t: float, size: int) -> None:
        self._append(f"{int(t * 1000.0 + SLACK_MS)} # {size}\n")
        if len(self._lines) >= FLUSH_LINES:
            self.flush()

    def departure(self, t: float, size: int, queue_delay: float) -> None:
        # mm-link subtracts whole-ms stamps; so do we, from the packet's own arrival stamp
        ms = int(t * 1000.0 + SLACK_MS)
        self._append(f"{ms} - {size} {ms - int((t - queue_delay) * 1000.0 + SLACK_MS)}\n")

    def drop(self, t: float, size: int, reason: str) -> None:
        if not self.drops or reason not in LOGGED_DROPS:
            return
        ms = int(t * 1000.0 + SLACK_MS)
        lines = self._lines
        if self._drop_line == len(lines) - 1 >= 0:
            # one arrival that pushed out several packets: mm-link writes one line for it
            then, _, packets, nbytes = lines[-1].split()
            if int(then) == ms:
                lines[-1] = f"{ms} d {int(packets) + 1} {int(nbytes) + size}\n"
                return
        self._drop_line = len(lines)
        self._append(f"{ms} d 1 {size}\n")

    def queue(self, t: float, nbytes: int, npackets: int) -> None:
        pass  # not part of mm-link's log

    # --- the file ------------------------------------------------------------------------

    def flush(self) -> None:
        if self._lines:
            self._file.write("".join(self._lines))
            self._lines.clear()
        self._drop_line = -1
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> MahimahiLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
