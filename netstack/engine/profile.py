"""Where the loop's time goes: a per-phase profile of the dispatch loop, off unless asked for.

`netstack top` wants the share of wall time the loop spends in each phase of its pass
(loop.py): control, rx, each protocol stage, timers, application hooks, tx and idle. Timing
every phase of every pass costs two clock reads each, so it must cost nothing while nobody
looks. The trick: the phases are methods the loop calls through `self.` (and the stages
call each other through `stack.ipv4`, `handler.receive`...), so a profile can put a timed
wrapper in front of each one as an *instance attribute*, and take it away again:

    profile = PassProfile(engine)
    profile.start()     # wraps engine._receive, engine._sleep, stack.tcp.receive, ...
    ...                 # the loop runs as usual, feeding the profile
    profile.snapshot()  # {"buckets": {"rx": 0.12, "tcp": 1.5, ...}, "wall": 2.0, ...}
    profile.stop()      # deletes the wrappers: the plain methods are back, zero cost

Time is *exclusive*: one bucket is "current" at any moment; a wrapper charges the time since
the last reading to the bucket that was current, makes its own current, and on return
charges its own time and gives the bucket back. So time in tcp is not also in ipv4, the
ctl server's work inside a timer is "ctl" not "timers", and the buckets add up to the wall
time since start() exactly. What no wrapper claims (the loop's own bookkeeping between
phases, deciding how long to sleep) is "loop".

Everything here runs on the loop thread: start, stop and snapshot too (a control handler).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

STAGES = ("ethernet", "arp", "ipv4", "icmp", "udp", "tcp")
# Every bucket, in the order top prints them. "other" is dispatch time outside any stage
# (taking frames apart is the stages'; this is the loop's per-frame work and freeing).
BUCKETS = ("control", "rx", *STAGES, "other", "timers", "ctl", "hooks", "tx", "loop",
           "idle")

# engine method -> bucket. The loop calls each as self.NAME(...), so an instance attribute
# of that name takes its place. `_take_received` is rx: it takes frames off the in ring (and,
# on the native engine, that is all the loop does of the port's receive work).
ENGINE_PHASES = {
    "_run_control": "control", "_receive": "rx", "_take_received": "rx",
    "_dispatch": "other", "_run_pass_hooks": "hooks", "_collect": "tx", "_transmit": "tx",
    "_flush_outgoing": "tx", "_sleep": "idle",
}


class PassProfile:
    """Exclusive time per bucket, fed by timed wrappers while started (see module doc)."""

    def __init__(self, engine: Any, clock: Callable[[], float] = time.perf_counter) -> None:
        self.engine = engine
        self.stack = engine.stack
        self.clock = clock
        self.totals = dict.fromkeys(BUCKETS, 0.0)
        self.current = "loop"
        self.mark = 0.0
        self.started = 0.0
        self.passes_at_start = 0
        self.running = False
        self.keep_until = 0.0  # loop time its watcher switches it off at (ctl/perf.py's top)
        self.unwrapped: list[str] = []  # phases we could not reach (a unit without them)
        self._wrapped: list[tuple[Any, str, bool]] = []  # (object, attribute, had its own)

    # ----------------------------------------------------------------- on and off
    def start(self) -> None:
        if self.running:
            return
        stack, engine = self.stack, self.engine
        self.totals = dict.fromkeys(BUCKETS, 0.0)
        self.current = "loop"
        self.started = self.mark = self.clock()
        self.passes_at_start = getattr(engine, "passes", 0)
        self.unwrapped = []
        for name, bucket in ENGINE_PHASES.items():
            self._wrap(engine, name, bucket)
        self._wrap(stack, "advance", "timers")
        if getattr(stack, "flush", None) is not None:
            # The engine gave the stack a bound method at init (Stack.alloc_mbuf calls it):
            # wrapping engine._flush_outgoing does not reach that copy, so wrap it too.
            self._wrap(stack, "flush", "tx")
        for stage in STAGES:
            self._wrap(getattr(stack, stage, None), "receive", stage)
        tcp = getattr(stack, "tcp", None)
        for name in ("end_burst", "end_pass"):  # coalesced delivery and delayed ACKs: TCP's
            self._wrap(tcp, name, "tcp")
        self.running = True

    def stop(self) -> None:
        """Take every wrapper away: each object's own method shows through again."""
        for obj, name, had_own in reversed(self._wrapped):
            current = obj.__dict__.get(name)
            original = getattr(current, "__wrapped__", None)
            if had_own and original is not None:
                setattr(obj, name, original)  # it was an instance attribute: put it back
            else:
                obj.__dict__.pop(name, None)
        self._wrapped = []
        self.running = False

    def wrap_extra(self, obj: Any, name: str, bucket: str) -> None:
        """Time `obj.name` as `bucket` too (the ctl server times its own drain as "ctl")."""
        if self.running:
            self._wrap(obj, name, bucket)

    def _wrap(self, obj: Any, name: str, bucket: str) -> None:
        original = getattr(obj, name, None) if obj is not None else None
        if original is None or not hasattr(obj, "__dict__"):  # missing, or __slots__
            self.unwrapped.append(f"{type(obj).__name__}.{name}")
            return
        # An instance attribute already (the engine's bound method in `stack.flush`): keep
        # it to put back on stop.
        had_own = name in obj.__dict__
        setattr(obj, name, self._timed(bucket, original))
        self._wrapped.append((obj, name, had_own))

    def _timed(self, bucket: str, fn: Callable[..., Any]) -> Callable:
        totals, clock = self.totals, self.clock

        def timed(*args: Any, **kwargs: Any) -> Any:
            now = clock()
            outer = self.current
            totals[outer] += now - self.mark
            self.current, self.mark = bucket, now
            try:
                return fn(*args, **kwargs)
            finally:
                now = clock()
                totals[bucket] += now - self.mark
                self.current, self.mark = outer, now

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    # ----------------------------------------------------------------- reading
    def snapshot(self) -> dict[str, Any]:
        """Seconds per bucket since start(), the current bucket charged up to now."""
        now = self.clock()
        buckets = dict(self.totals)
        buckets[self.current] += now - self.mark
        return {"buckets": buckets, "wall": now - self.started,
                "passes": getattr(self.engine, "passes", 0) - self.passes_at_start}

