"""Congestion control behind a small interface, with Reno (RFC 5681) and NewReno's recovery
(RFC 6582) as the algorithm.

The sender tells the algorithm what happened; the algorithm keeps `cwnd` and `ssthresh`:

    on_ack(bytes_acked, now)             new data acknowledged outside recovery
    on_fast_retransmit(dupacks, flight_size, now)
                                         the sender retransmitted on the `dupacks`-th duplicate
                                         ACK (3, or fewer with Early Retransmit): recovery starts
    on_dupack(now)                       a further duplicate ACK during fast recovery
    on_partial_ack(bytes_acked, now)     new data acknowledged during recovery, not all of it
    on_recovery_end(flight_size, now)    everything outstanding at the loss was acknowledged
    on_retransmit_timeout(flight_size, now)

Another algorithm implements the same methods: CUBIC (RFC 9438) is in cubic.py. Which one a
connection uses is chosen by name (`ALGORITHMS`): stack-wide with `TcpConfig.congestion_control`,
per socket with setsockopt(IPPROTO_TCP, TCP_CONGESTION, b"cubic") as on Linux. NewReno is
the default. A test or lab can also force one with `stage.congestion_factory`, a callable
taking the MSS.

Slow start counts bytes (RFC 3465, Appropriate Byte Counting): each ACK grows cwnd by what
it newly acknowledges, up to 2 * SMSS, so a receiver that ACKs every second segment still
doubles cwnd per round trip (one MSS per ACK would give 1.5 times).

The initial window is RFC 6928's, IW = min(10 * MSS, max(2 * MSS, 14600)), which is what
Linux uses; RFC 5681 §3.1's smaller window (2 to 4 segments) is the conservative choice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

DUPACK_THRESHOLD = 3  # RFC 5681 §3.2
# The names TCP_CONGESTION and TcpConfig.congestion_control accept (the stage maps them to
# classes; Linux calls its NewReno "reno", which is not accepted here to avoid confusion).
ALGORITHMS = ("newreno", "cubic")
DEFAULT_ALGORITHM = "newreno"


class CongestionControl(Protocol):
    cwnd: int
    ssthresh: int
    in_recovery: bool

    def on_ack(self, bytes_acked: int, now: float) -> None: ...

    def on_fast_retransmit(self, dupacks: int, flight_size: int, now: float) -> None: ...

    def on_dupack(self, now: float) -> None: ...

    def on_partial_ack(self, bytes_acked: int, now: float) -> None: ...

    def on_recovery_end(self, flight_size: int, now: float) -> None: ...

    def on_retransmit_timeout(self, flight_size: int, now: float) -> None: ...


CongestionFactory = Callable[[int], CongestionControl]


def initial_window(mss: int) -> int:
    """RFC 6928 §2."""
    # BEGIN SOLUTION: RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600))
    return min(10 * mss, max(2 * mss, 14600))
    # END SOLUTION


class Reno:
    def __init__(self, mss: int) -> None:
        self.mss = mss
        self.cwnd = initial_window(mss)
        # RFC 5681 §3.1: "arbitrarily high", so slow start runs until the first loss.
        self.ssthresh = 1 << 30
        self.in_recovery = False
        self._acked_in_avoidance = 0  # bytes acked since cwnd last grew in avoidance
        self._slow_start_after_timeout = False  # RFC 3465 §2.3: then one MSS per ACK

    def on_ack(self, bytes_acked: int, now: float) -> None:
        # BEGIN SOLUTION: slow start below ssthresh; else congestion avoidance, one MSS per cwnd of acked bytes (RFC 5681 §3.1)
        if self.cwnd < self.ssthresh:
            self._slow_start(bytes_acked)
        else:
            # Congestion avoidance: one MSS per window's worth of acknowledged bytes
            # (RFC 5681 §3.1, the byte-counting variant of equation 3).
            self._acked_in_avoidance += bytes_acked
            if self._acked_in_avoidance >= self.cwnd:
                self._acked_in_avoidance -= self.cwnd
                self.cwnd += self.mss
        # END SOLUTION

    def _slow_start(self, bytes_acked: int) -> None:
        """RFC 3465 Appropriate Byte Counting: grow by the bytes this ACK newly covers, at
        most L = 2 * SMSS (§2.2, the most it allows). RFC 5681 §3.1's L = 1 * SMSS
        grows cwnd only 1.5 times per round trip against a receiver that ACKs every second
        segment (RFC 1122 §4.2.3.2, as Linux does); 2 * SMSS restores the doubling. In
        the slow start that follows a retransmission timeout L is 1 * SMSS (§2.3): an ACK
        then may cover data the receiver already held, and must not release a burst."""
        # BEGIN SOLUTION: RFC 3465: grow by the bytes acked, at most L = 2*MSS (1*MSS in the slow start after a timeout)
        limit = self.mss if self._slow_start_after_timeout else 2 * self.mss
        self.cwnd += min(bytes_acked, limit)
        if self.cwnd >= self.ssthresh:
            self._slow_start_after_timeout = False
        # END SOLUTION

    def _restart_after_timeout(self) -> None:
        """RFC 5681 §3.1: the loss window of one segment, then slow start (RFC 3465 §2.3)."""
        # BEGIN SOLUTION: the loss window (one MSS), out of recovery, slow start with L = 1*MSS
        self.cwnd = self.mss
        self.in_recovery = False
        self._acked_in_avoidance = 0
        self._slow_start_after_timeout = True
        # END SOLUTION

    def _halve(self, flight_size: int) -> None:
        # RFC 5681 §3.1 equation 4.
        # BEGIN SOLUTION: RFC 5681 §3.1 equation 4
        self.ssthresh = max(flight_size // 2, 2 * self.mss)
        # END SOLUTION

    def on_fast_retransmit(self, dupacks: int, flight_size: int, now: float) -> None:
        # RFC 5681 §3.2 steps 2 and 3: halve, then inflate by the segments that left the
        # network, one per duplicate ACK (three, or fewer with RFC 5827's Early Retransmit).
        # BEGIN SOLUTION: RFC 5681 §3.2 steps 2-3: halve, inflate by one MSS per duplicate ACK, enter recovery
        self._halve(flight_size)
        self.cwnd = self.ssthresh + dupacks * self.mss
        self.in_recovery = True
        # END SOLUTION

    def on_dupack(self, now: float) -> None:
        # BEGIN SOLUTION: RFC 5681 §3.2 step 4
        self.cwnd += self.mss  # step 4: each further dupack means one more segment left
        # END SOLUTION

    def on_partial_ack(self, bytes_acked: int, now: float) -> None:
        # RFC 6582 §3.2 step 3: deflate by what was acked, add back one MSS.
        # BEGIN SOLUTION: RFC 6582 §3.2 step 3, partial acknowledgment
        self.cwnd = max(self.cwnd - bytes_acked + self.mss, self.mss)
        # END SOLUTION

    def on_recovery_end(self, flight_size: int, now: float) -> None:
        # RFC 6582 §3.2 step 3, full acknowledgment, option 1: min(ssthresh,
        # max(FlightSize, SMSS) + SMSS), so at least two segments even when nothing is left
        # in flight (then option 2, ssthresh at once, would be one burst of it).
        # BEGIN SOLUTION: RFC 6582 §3.2 step 3, full acknowledgment (option 1 or 2), and leave recovery
        self.cwnd = min(self.ssthresh, max(flight_size, self.mss) + self.mss)
        self.in_recovery = False
        self._acked_in_avoidance = 0
        # END SOLUTION

    def on_retransmit_timeout(self, flight_size: int, now: float) -> None:
        # RFC 5681 §3.1 equation 4, and a loss window of one segment.
        # BEGIN SOLUTION: RFC 5681 §3.1: halve from the flight size, then the loss window
        self._halve(flight_size)
        self._restart_after_timeout()
        # END SOLUTION
