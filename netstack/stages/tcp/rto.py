"""The retransmission timeout (RFC 6298).

    first sample R:      SRTT = R;  RTTVAR = R / 2
    later samples R':    RTTVAR = (1 - beta) * RTTVAR + beta * |SRTT - R'|   (beta = 1/4)
                         SRTT = (1 - alpha) * SRTT + alpha * R'               (alpha = 1/8)
    always:              RTO = SRTT + max(G, K * RTTVAR)  (K = 4), then clamped to
                         [min_rto, max_rto] (§2.4, §2.5)

With timestamps (RFC 7323) nearly every ACK brings a sample, not one per round trip, and
alpha and beta would then forget the history within a single window. RFC 7323 Appendix G
divides them by the samples expected per round trip, ExpectedSamples = ceiling(FlightSize /
(2 * SMSS)), so the estimator's memory stays about one round trip long.

Before any sample the RTO is the initial one (1 s, §2.1). Each expiry of the timer doubles it
(§5.5, "back off the timer"), up to the maximum; the next valid sample undoes that. Samples
come only from segments that were not retransmitted (Karn's rule, §3), unless timestamps say
which copy an ACK is for: the sender keeps those rules, this class just does the arithmetic.
"""

from __future__ import annotations

from typing import Protocol

ALPHA = 1 / 8
BETA = 1 / 4
K = 4


class RtoUnit(Protocol):
    """The RTO estimator as the sender uses it. Built as `RtoEstimator(initial_rto,
    min_rto, max_rto, clock_granularity)`, all in seconds (the stage passes TcpConfig's).

    It is told RTT samples and timer expiries, and answers the timeout to arm. Times are
    in seconds (floats), whatever the implementation keeps inside.
    """

    srtt: float | None  # None before the first sample
    rttvar: float | None
    backoffs: int  # expiries since the last sample; the sender sets it to 0 when a probed
    # zero window reopens (the backoff was about the window, not the path)

    @property
    def rto(self) -> float:
        """The timeout to arm now, backoff included, within [min_rto, max_rto]."""

    def on_sample(self, r: float, samples_per_rtt: int = 1) -> None:
        """A round-trip time `r` (RFC 6298 §2.2-2.3), one of `samples_per_rtt` taken per
        round trip (RFC 7323 Appendix G); clears the backoff."""

    def backoff(self) -> None:
        """The retransmission timer expired (RFC 6298 §5.5): double the RTO."""


class RtoEstimator:
    def __init__(
        self,
        initial_rto: float = 1.0,
        min_rto: float = 0.2,
        max_rto: float = 120.0,
        clock_granularity: float = 0.001,
    ) -> None:
        self.min_rto = min_rto
        self.max_rto = max_rto
        self.granularity = clock_granularity
        self.srtt: float | None = None
        self.rttvar: float | None = None
        self._base_rto = self._clamp(initial_rto)
        self.backoffs = 0  # timer expiries since the last valid sample

    def _clamp(self, rto: float) -> float:
        # BEGIN SOLUTION: within [min_rto, max_rto] (RFC 6298 §2.4, §2.5)
        return min(max(rto, self.min_rto), self.max_rto)
        # END SOLUTION

    @property
    def rto(self) -> float:
        """The timeout to arm now: the estimate, doubled once per backoff, clamped."""
        # BEGIN SOLUTION: the estimate, doubled once per backoff, never above max_rto
        return min(self._base_rto * (2**self.backoffs), self.max_rto)
        # END SOLUTION

    def on_sample(self, r: float, samples_per_rtt: int = 1) -> None:
        """A round-trip time measured on a segment sent once (RFC 6298 §2.2, §2.3), or
        from a timestamp, one of `samples_per_rtt` (RFC 7323 Appendix G)."""
        # BEGIN SOLUTION: RFC 6298 §2.2 (first sample), §2.3 (later ones, alpha and beta divided by samples_per_rtt), the RTO from them clamped; a sample clears the backoff
        if self.srtt is None or self.rttvar is None:
            self.srtt = r
            self.rttvar = r / 2
        else:
            alpha, beta = ALPHA / samples_per_rtt, BETA / samples_per_rtt
            self.rttvar = (1 - beta) * self.rttvar + beta * abs(self.srtt - r)
            self.srtt = (1 - alpha) * self.srtt + alpha * r
        self._base_rto = self._clamp(self.srtt + max(self.granularity, K * self.rttvar))
        self.backoffs = 0
        # END SOLUTION

    def backoff(self) -> None:
        """The retransmission timer expired: double the RTO (RFC 6298 §5.5)."""
        # BEGIN SOLUTION: RFC 6298 §5.5: one more doubling, unless the RTO is already at max_rto
        if self.rto < self.max_rto:
            self.backoffs += 1
        # END SOLUTION
