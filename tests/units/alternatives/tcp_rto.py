"""A second RTO estimator (the `tcp_rto` unit), deliberately unlike the reference: RFC 6298
in integer microseconds, with the gains as integer divisions, the way a kernel keeps it
(Linux stores SRTT scaled by 8 in an integer for the same reason: no floating point).

    SRTT   += (R - SRTT) // (8 * n)            n = samples expected per round trip
    RTTVAR += (|SRTT - R| - RTTVAR) // (4 * n)  (RFC 7323 Appendix G; 1 without timestamps)

It rounds differently from the reference (down to the microsecond at each step), which the
unit's tests must accept: tests/stages/tcp/test_rto_alternative.py runs them against it.
"""

from __future__ import annotations

US = 1_000_000  # microseconds per second


def _us(seconds: float) -> int:
    return round(seconds * US)


class MicrosecondRtoEstimator:
    def __init__(self, initial_rto: float = 1.0, min_rto: float = 0.2, max_rto: float = 120.0,
                 clock_granularity: float = 0.001) -> None:
        self._min_us = _us(min_rto)
        self._max_us = _us(max_rto)
        self._g_us = _us(clock_granularity)
        self._srtt_us: int | None = None
        self._rttvar_us = 0
        self._base_us = self._clamp(_us(initial_rto))
        self.backoffs = 0

    def _clamp(self, us: int) -> int:
        return min(max(us, self._min_us), self._max_us)

    @property
    def srtt(self) -> float | None:
        return None if self._srtt_us is None else self._srtt_us / US

    @property
    def rttvar(self) -> float | None:
        return None if self._srtt_us is None else self._rttvar_us / US

    @property
    def rto(self) -> float:
        return min(self._base_us << self.backoffs, self._max_us) / US

    def on_sample(self, r: float, samples_per_rtt: int = 1) -> None:
        r_us = _us(r)
        if self._srtt_us is None:
            self._srtt_us, self._rttvar_us = r_us, r_us // 2
        else:
            n = max(samples_per_rtt, 1)
            self._rttvar_us += (abs(self._srtt_us - r_us) - self._rttvar_us) // (4 * n)
            self._srtt_us += (r_us - self._srtt_us) // (8 * n)
        self._base_us = self._clamp(self._srtt_us + max(self._g_us, 4 * self._rttvar_us))
        self.backoffs = 0

    def backoff(self) -> None:
        if (self._base_us << self.backoffs) < self._max_us:
            self.backoffs += 1
