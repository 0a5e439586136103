"""A token bucket, used to rate-limit the ICMP errors we send.

RFC 1812 §4.3.2.8 and RFC 1122 §3.2.2 ask that a node limit the rate at which it sends ICMP
errors, so that a flood of bad packets cannot turn us into a flood of ICMP (and so that
scanning us is slow). Linux does it with a token bucket (`icmp_ratelimit`); so do we.
"""

from __future__ import annotations


class TokenBucket:
    """Up to `burst` events at once, refilled at `rate` events per second.

    `allow(now)` takes one token if there is one. Time is passed in: the bucket never reads a
    clock, and it tolerates `now` going backwards by simply not refilling.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("a token bucket needs rate >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last_refill: float | None = None

    def allow(self, now: float) -> bool:
        if self._last_refill is not None and now > self._last_refill:
            self._tokens = min(self.burst, self._tokens + (now - self._last_refill) * self.rate)
        if self._last_refill is None or now > self._last_refill:
            self._last_refill = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
