"""A link emulator: a port wrapper that loses, corrupts, duplicates, delays and reorders frames.

The kernel here has no `tc netem`, and experiments need bad links that behave the same on
every run, so the impairments live in front of the port, driven by a seeded RNG.

It acts on the frames the wrapped port *receives*: each one is judged as it comes out of
rx_burst, then held in a queue ordered by delivery time until it is due. Wrap both ends of a
memory cable to impair both directions. The engine asks `next_deadline()` so it wakes up
when a held frame falls due, and uses the engine's clock (a VirtualClock makes a 10-second
delay take no real time at all).

Keys for "SPEC?key=value&...": loss, corrupt, duplicate, reorder (probabilities, 0.1 or 10%),
delay, jitter, reorder_delay (seconds), seed (integer).

The random generator: `seed=N` in the spec gives the link its own. Without one, the engine
lends the link a generator from its stack's seed (StackConfig.random_seed, `--seed`), as it
lends its clock, so one seed repeats the whole run; a stack without a seed draws fresh
randomness.
"""

import heapq
import itertools
import os
import random
from dataclasses import dataclass, fields

from netstack.clock import MonotonicClock
from netstack.counters import Counters
from netstack.errors import ConfigError
from netstack.mbuf import Mbuf, MbufPool

PROBABILITY_KEYS = ("loss", "corrupt", "duplicate", "reorder")


@dataclass(frozen=True)
class LinkConditions:
    loss: float = 0.0  # probability a frame vanishes
    corrupt: float = 0.0  # probability one random bit of the frame flips
    duplicate: float = 0.0  # probability the frame arrives twice
    reorder: float = 0.0  # probability the frame is held back so later frames overtake it
    delay: float = 0.0  # seconds every frame spends on the wire
    jitter: float = 0.0  # extra delay, uniform in [0, jitter) seconds
    reorder_delay: float = 0.002  # how long a reordered frame is held back
    seed: int | None = None  # None: the stack's random source (see above)


def parse_conditions(text: str) -> LinkConditions:
    """Parse "loss=0.1&delay=0.005&seed=7" (the part of a port spec after '?')."""
    known = {f.name for f in fields(LinkConditions)}
    values: dict = {}
    for item in filter(None, text.split("&")):
        key, sep, raw = item.partition("=")
        if not sep or key not in known:
            raise ConfigError(f"bad link emulator setting {item!r} (keys: {', '.join(sorted(known))})")
        try:
            if key == "seed":
                values[key] = int(raw)
            elif raw.endswith("%"):
                values[key] = float(raw[:-1]) / 100
            else:
                values[key] = float(raw)
        except ValueError:
            raise ConfigError(f"bad link emulator value {item!r}: not a number") from None
        if values[key] < 0 or (key in PROBABILITY_KEYS and values[key] > 1):
            raise ConfigError(f"bad link emulator value {item!r}: out of range")
    return LinkConditions(**values)


class LinkEmulator:
    """Wraps a port; everything but receiving passes straight through."""

    def __init__(self, inner, conditions: LinkConditions, clock=None) -> None:
        self.inner = inner
        self.conditions = conditions
        self.clock = clock  # left None, the engine lends its own clock
        self.name = inner.name
        self.mac = inner.mac
        # Left None, the engine lends one from its stack's seed (see the module docstring).
        self.random: random.Random | None = (
            None if conditions.seed is None else random.Random(conditions.seed))
        self._held: list[tuple[float, int, Mbuf]] = []  # (deliver_at, arrival order, mbuf)
        self._order = itertools.count()

    @property
    def pool(self) -> MbufPool | None:
        return self.inner.pool

    @pool.setter
    def pool(self, pool: MbufPool | None) -> None:
        self.inner.pool = pool

    @property
    def counters(self) -> Counters:
        return self.inner.counters

    @counters.setter
    def counters(self, counters: Counters) -> None:
        self.inner.counters = counters

    def fileno(self) -> int | None:
        return self.inner.fileno()

    def next_deadline(self) -> float | None:
        inner_deadline = getattr(self.inner, "next_deadline", lambda: None)()
        mine = self._held[0][0] if self._held else None
        candidates = [d for d in (inner_deadline, mine) if d is not None]
        return min(candidates) if candidates else None

    def rx_burst(self, pool: MbufPool, max_n: int) -> list[Mbuf]:
        if self.clock is None:
            self.clock = MonotonicClock()
        if self.random is None:
            self.random = random.Random(os.urandom(16))  # no seed anywhere: fresh randomness
        now = self.clock.now()
        for m in self.inner.rx_burst(pool, max_n):
            self._judge(m, pool, now)
        due: list[Mbuf] = []
        while self._held and self._held[0][0] <= now and len(due) < max_n:
            due.append(heapq.heappop(self._held)[2])
        return due

    def _judge(self, m: Mbuf, pool: MbufPool, now: float) -> None:
        c, rng = self.conditions, self.random
        if rng.random() < c.loss:
            self.counters.bump("link.drop.loss")
            pool.free(m)
            return
        if m.data_len and rng.random() < c.corrupt:
            self.counters.bump("link.corrupt")
            bit = rng.randrange(m.data_len * 8)
            m.buf[m.data_off + bit // 8] ^= 1 << (bit % 8)
        copies = [m]
        if rng.random() < c.duplicate:
            twin = pool.alloc()
            if twin is not None:
                self.counters.bump("link.duplicate")
                twin.set_data(m.data())
                copies.append(twin)
        for frame in copies:
            deliver_at = now + c.delay + (rng.random() * c.jitter if c.jitter else 0.0)
            if rng.random() < c.reorder:
                self.counters.bump("link.reorder")
                deliver_at += c.reorder_delay
            heapq.heappush(self._held, (deliver_at, next(self._order), frame))

    def tx_burst(self, mbufs: list[Mbuf]) -> int:
        return self.inner.tx_burst(mbufs)

    @property
    def held_mbufs(self) -> int:
        """Received frames held back (delay, reordering), each in a pool mbuf (netstack pool)."""
        return len(self._held)

    def close(self) -> None:
        for _, _, m in self._held:
            if self.inner.pool is not None:
                self.inner.pool.free(m)
        self._held.clear()
        self.inner.close()

    def __getattr__(self, name: str):
        # Anything else (finished, send_bytes, created...) is the wrapped port's.
        return getattr(self.inner, name)
