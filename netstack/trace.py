"""Typed trace events, and the `Tracer` that hands them to subscribers.

A stack has one tracer (`stack.trace`). Code that could report something checks
`tracer.active` first, one attribute read, and builds an event only when someone listens:
with no subscriber, tracing costs that read and nothing else. Per-segment events also check
`tracer.wanted` (the kinds some subscriber asked for), so a subscriber to cwnd changes does
not make every segment build a SegmentIn and a SegmentOut that nobody receives.

    unsubscribe = stack.trace.subscribe(print, kinds={"state", "retransmit"})
    ...
    unsubscribe()

Every event is a frozen dataclass with the time it happened (`time`, seconds on the stack's
clock) and, for TCP, the connection it is about (`conn`: ((our ip, port), (peer ip, port))).
`kind` names the event's class for filters and `--trace`; `describe()` gives one line.

The events (`KINDS`):

    state       StateChange   a connection changed state
    cwnd        CwndChange    cwnd or ssthresh changed, and why
    rtt         RttSample     an RTT was measured; the estimator's new srtt, rttvar, rto
    retransmit  Retransmit    a segment was sent again, and why
    rto         RtoFired      the retransmission timer expired
    segment     SegmentIn, SegmentOut   a TCP segment, summarised
    drop        Drop          a packet was dropped: the counter it bumped
    highwater   HighWater     a queue or ring filled past its high-water mark
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ConnId = tuple[tuple[Any, int], tuple[Any, int]]  # ((our ip, port), (peer ip, port))
Subscriber = Callable[["TraceEvent"], None]


def describe_conn(conn: ConnId | None) -> str:
    if not conn:
        return "-"
    (lip, lport), (rip, rport) = conn
    return f"{lip}:{lport}>{rip}:{rport}"


@dataclass(frozen=True)
class TraceEvent:
    time: float

    kind = "event"
    layer = "stack"

    def details(self) -> str:
        return ""

    def describe(self, origin: float = 0.0) -> str:
        """One readable line: `0.001234 tcp 192.0.2.2:80>192.0.2.1:40000 state A->B`,
        the time counted from `origin`."""
        conn = getattr(self, "conn", None)
        where = f" {describe_conn(conn)}" if conn is not None else ""
        line = f"{self.time - origin:.6f} {self.layer}{where} {self.kind} {self.details()}"
        return line.rstrip()


@dataclass(frozen=True)
class TcpEvent(TraceEvent):
    conn: ConnId | None

    layer = "tcp"


@dataclass(frozen=True)
class StateChange(TcpEvent):
    old: str
    new: str

    kind = "state"

    def details(self) -> str:
        return f"{self.old}->{self.new}"


@dataclass(frozen=True)
class CwndChange(TcpEvent):
    cwnd: int  # bytes
    ssthresh: int  # bytes
    reason: str  # "ack", "fast_retransmit", "recovery", "recovery_exit", "rto"

    kind = "cwnd"

    def details(self) -> str:
        return f"cwnd={self.cwnd} ssthresh={self.ssthresh} reason={self.reason}"


@dataclass(frozen=True)
class RttSample(TcpEvent):
    rtt: float  # seconds, this sample
    srtt: float | None  # the estimator after it
    rttvar: float | None
    rto: float

    kind = "rtt"

    def details(self) -> str:
        srtt = self.srtt if self.srtt is not None else 0.0
        rttvar = self.rttvar if self.rttvar is not None else 0.0
        return (f"rtt={self.rtt * 1e3:.3f}ms srtt={srtt * 1e3:.3f}ms "
                f"rttvar={rttvar * 1e3:.3f}ms rto={self.rto * 1e3:.0f}ms")


@dataclass(frozen=True)
class Retransmit(TcpEvent):
    seq: int
    length: int  # data bytes (a SYN or FIN alone is 0)
    reason: str  # "rto", "fast_retransmit", "sack", "tlp", "probe"

    kind = "retransmit"

    def details(self) -> str:
        return f"seq={self.seq} len={self.length} reason={self.reason}"


@dataclass(frozen=True)
class RtoFired(TcpEvent):
    rto: float  # seconds: the timeout that just expired
    backoff: int  # consecutive expiries, this one included

    kind = "rto"

    def details(self) -> str:
        return f"rto={self.rto * 1e3:.0f}ms backoff={self.backoff}"


@dataclass(frozen=True)
class SegmentSummary(TcpEvent):
    seq: int
    ack: int
    flags: str  # tcpdump's letters: "S", "S.", ".", "P.", "F.", "R."
    length: int
    window: int  # the header's field, unscaled (as tcpdump shows it)

    def details(self) -> str:
        return (f"[{self.flags}] seq={self.seq} ack={self.ack} len={self.length} "
                f"win={self.window}")


@dataclass(frozen=True)
class SegmentIn(SegmentSummary):
    kind = "segment_in"


@dataclass(frozen=True)
class SegmentOut(SegmentSummary):
    kind = "segment_out"


@dataclass(frozen=True)
class Drop(TraceEvent):
    counter: str  # e.g. "tcp.drop.bad_ack"

    kind = "drop"

    def details(self) -> str:
        return self.counter


@dataclass(frozen=True)
class HighWater(TraceEvent):
    queue: str  # e.g. "engine.in_ring"
    depth: int
    limit: int  # the queue's capacity

    kind = "highwater"
    layer = "engine"

    def details(self) -> str:
        return f"{self.queue} {self.depth}/{self.limit}"


# --trace names -> event kinds ("segment" covers both directions).
KINDS: dict[str, frozenset[str]] = {
    "state": frozenset({"state"}),
    "cwnd": frozenset({"cwnd"}),
    "rtt": frozenset({"rtt"}),
    "retransmit": frozenset({"retransmit"}),
    "rto": frozenset({"rto"}),
    "segment": frozenset({"segment_in", "segment_out"}),
    "drop": frozenset({"drop"}),
    "highwater": frozenset({"highwater"}),
}
KINDS["tcp"] = frozenset().union(*(KINDS[k] for k in
                                   ("state", "cwnd", "rtt", "retransmit", "rto", "segment")))
KINDS["all"] = frozenset().union(*KINDS.values())


def parse_kinds(text: str) -> frozenset[str]:
    """"tcp", "all", or a comma list of KINDS names -> event kinds. ValueError names the
    unknown one."""
    kinds: set[str] = set()
    for name in (part.strip() for part in text.split(",")):
        if name not in KINDS:
            raise ValueError(f"unknown trace kind {name!r} (one of {', '.join(sorted(KINDS))})")
        kinds |= KINDS[name]
    return frozenset(kinds)


class Tracer:
    """Subscribers and the `active` flag hooks check before building an event.

    `now` (set by the stack each time it is driven, and by the engine at each pass) gives
    `time()` to events raised where no time is at hand (a state change, a drop), so every
    event carries the time of the pass it happened in, in virtual time too."""

    def __init__(self) -> None:
        self.active = False
        # The KINDS some subscriber wants (all of them for one that gave no `kinds`).
        self.wanted: frozenset[str] = frozenset()
        self.now = 0.0
        self._subscribers: list[tuple[Subscriber, frozenset[str] | None]] = []
        # Called after every subscribe and unsubscribe (the stack: drop reporting).
        self.on_activity: Callable[[], None] | None = None

    def time(self) -> float:
        return self.now

    def wants(self, kind: str) -> bool:
        """Does a subscriber want events of `kind` (one of KINDS' event kinds)?"""
        return kind in self.wanted

    def subscribe(self, callback: Subscriber,
                  kinds: Iterable[str] | None = None) -> Callable[[], None]:
        """Call `callback(event)` for every event (of `kinds`, when given); returns the
        function that unsubscribes it."""
        entry = (callback, frozenset(kinds) if kinds is not None else None)
        self._subscribers.append(entry)
        self._subscriptions_changed()

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)
                self._subscriptions_changed()

        return unsubscribe

    def _subscriptions_changed(self) -> None:
        self.active = bool(self._subscribers)
        self.wanted = frozenset().union(
            *(KINDS["all"] if kinds is None else kinds for _, kinds in self._subscribers))
        if self.on_activity is not None:
            self.on_activity()

    def emit(self, event: TraceEvent) -> None:
        for callback, kinds in tuple(self._subscribers):
            if kinds is None or event.kind in kinds:
                callback(event)


class HighWaterMark:
    """Emits HighWater when a queue's depth reaches `share` of its limit: once per
    crossing, re-armed when it falls below the mark again."""

    def __init__(self, tracer: Tracer, queue: str, limit: int, share: float = 0.75) -> None:
        self.tracer = tracer
        self.queue = queue
        self.limit = limit
        self.mark = max(1, int(limit * share))
        self.above = False

    def check(self, depth: int, now: float) -> None:
        if depth < self.mark:
            self.above = False
        elif not self.above:
            self.above = True
            self.tracer.emit(HighWater(now, self.queue, depth, self.limit))
