"""CUBIC congestion control (RFC 9438), with the same interface as Reno (congestion.py).

After a loss at window W_max, CUBIC regrows the window along a cubic curve of the time t
since the current congestion avoidance stage began (§4.2, Figure 1):

    W_cubic(t) = C * (t - K)^3 + W_max        C = 0.4 segments / s^3 (§5.1)
    K = cubic_root((W_max - cwnd_epoch) / C)  the time to climb back to W_max (Figure 2)

so it grows fast while far below W_max, flattens out near it (the concave region, §4.4:
where the last loss happened), then probes above it ever faster (the convex region, §4.5).
The curve depends on time, not on the number of ACKs, so flows with different RTTs share a
link more fairly than with Reno. Beside it runs W_est, what Reno would have by now (§4.3):
where the curve is below W_est (short RTTs, small windows), cwnd follows W_est instead.

    on each ACK in congestion avoidance (§4.2):
        target = W_cubic(t + RTT), clamped to [cwnd, 1.5 * cwnd]
        cwnd  += (target - cwnd) / cwnd             per segment acknowledged
        W_est += alpha_cubic * segments_acked / cwnd  (§4.3; alpha 1 once W_est >= cwnd_prior)
        cwnd   = max(cwnd, W_est) when W_cubic(t) < W_est
    on a loss (§4.6, §4.7):
        W_max  = cwnd, or cwnd * (1 + beta) / 2 if cwnd < W_max (fast convergence)
        ssthresh = FlightSize * beta_cubic (beta_cubic = 0.7), at least 2 segments
    on a retransmission timeout (§4.8): the same ssthresh, cwnd = 1 segment, and the next
        congestion avoidance stage starts a fresh curve with K = 0 and W_max = cwnd_epoch.

Below ssthresh, slow start runs as in Reno (§4.10; RFC 3465's byte counting, L = 2 * SMSS),
and fast recovery is NewReno's (RFC 6582), inherited from Reno; only the window it returns
to differs.

Units. The RFC counts windows in segments and time in seconds. `cwnd` and `ssthresh` are in
bytes here, as everywhere in the sender; the curve (W_max, W_est, K's numerator) is kept
in segments of `mss` bytes, as floats, and converted at the edges: cwnd = segments * mss.
The per-ACK rule becomes, in bytes, cwnd += bytes_acked * (target - cwnd) / cwnd, since the
ratio (target - cwnd) / cwnd has no unit.

RTT comes from the connection's RFC 6298 estimator (SRTT), through the `srtt` callable the
stage passes in; before the first sample it is taken as 0 (t + RTT is then just t).

Not done: HyStart++ (§4.10 allows plain slow start), undoing a spurious reduction (§4.9),
and pausing t while the application sends nothing (§5.8 notes the problem).
"""

from __future__ import annotations

from collections.abc import Callable

from netstack.stages.tcp.congestion import Reno

C = 0.4  # §5.1: the aggressiveness of the curve, in segments / s^3
BETA_CUBIC = 0.7  # §4.6: the window keeps 70% of itself on a loss (Reno keeps 50%)
ALPHA_CUBIC = 3 * (1 - BETA_CUBIC) / (1 + BETA_CUBIC)  # §4.3: ~0.53, Reno's average rate
TARGET_CAP = 1.5  # §4.2: the target is at most 1.5 * cwnd (no more than a doubling per RTT)


def cubic_k(w_max: float, cwnd_epoch: float) -> float:
    """RFC 9438 Figure 2, in seconds (0 when the stage starts at or above W_max)."""
    return ((w_max - cwnd_epoch) / C) ** (1 / 3) if w_max > cwnd_epoch else 0.0


def w_cubic(t: float, k: float, w_max: float) -> float:
    """RFC 9438 Figure 1: the window (segments) t seconds into the stage."""
    return C * (t - k) ** 3 + w_max


class Cubic(Reno):
    def __init__(self, mss: int, srtt: Callable[[], float | None] | None = None,
                 fast_convergence: bool = True) -> None:
        super().__init__(mss)
        self._srtt = srtt
        self.fast_convergence = fast_convergence  # §4.7
        self.w_max: float | None = None  # segments; None before any congestion event
        self.cwnd_prior = 0.0  # segments: cwnd just before the last reduction
        self.after_timeout = False  # §4.8: the next stage uses K = 0, W_max = cwnd_epoch
        self.epoch_start: float | None = None  # t_epoch; None until congestion avoidance
        self.k = 0.0  # seconds
        self.w_est = 0.0  # segments (§4.3)
        self._w = 0.0  # cwnd in segments, with the fractions that whole bytes lose

    # --- congestion avoidance --------------------------------------------------------

    def on_ack(self, bytes_acked: int, now: float) -> None:
        if self.cwnd < self.ssthresh:
            super().on_ack(bytes_acked, now)  # §4.10: slow start, as Reno
            return
        if self.epoch_start is None:
            self._start_epoch(now)
        t = now - self.epoch_start  # type: ignore[operator]
        rtt = (self._srtt() if self._srtt is not None else None) or 0.0
        w = self._w
        segments_acked = bytes_acked / self.mss
        # §4.3: the Reno-friendly estimate grows by alpha segments per window acknowledged.
        alpha = 1.0 if self.w_est >= self.cwnd_prior else ALPHA_CUBIC
        self.w_est += alpha * segments_acked / w
        if w_cubic(t, self.k, self.w_max) < self.w_est:  # type: ignore[arg-type]
            new_w = max(w, self.w_est)  # the Reno-friendly region
        else:
            # §4.2: aim at where the curve will be one RTT from now, but never shrink and
            # never more than half again per RTT; §4.4/§4.5 then close the gap per ACK.
            target = w_cubic(t + rtt, self.k, self.w_max)  # type: ignore[arg-type]
            target = min(max(target, w), TARGET_CAP * w)
            new_w = w + (target - w) / w * segments_acked
        self._w = new_w
        self.cwnd = int(new_w * self.mss)

    def _start_epoch(self, now: float) -> None:
        """The first ACK of a congestion avoidance stage fixes its curve (§4.2, §4.8)."""
        self.epoch_start = now
        cwnd_epoch = self._w = self.cwnd / self.mss
        if self.after_timeout or self.w_max is None or self.w_max <= cwnd_epoch:
            # §4.8 after a timeout (and whenever the stage starts at or above the last
            # W_max): no plateau to climb back to, probe upward from here.
            self.w_max = cwnd_epoch
        self.k = cubic_k(self.w_max, cwnd_epoch)
        self.w_est = cwnd_epoch  # §4.3 and §4.8
        self.after_timeout = False

    # --- losses ----------------------------------------------------------------------

    def _reduce(self, flight_size: int) -> None:
        """§4.6 multiplicative decrease and §4.7 fast convergence; the stage ends."""
        w = self.cwnd / self.mss
        if self.fast_convergence and self.w_max is not None and w < self.w_max:
            # Lost below the last W_max: bandwidth is being given up to a new flow, so
            # aim lower this time and let it converge faster.
            self.w_max = w * (1 + BETA_CUBIC) / 2
        else:
            self.w_max = w
        self.cwnd_prior = w
        self.ssthresh = max(int(flight_size * BETA_CUBIC), 2 * self.mss)
        self.epoch_start = None
        self.after_timeout = False

    def on_fast_retransmit(self, dupacks: int, flight_size: int, now: float) -> None:
        # RFC 9438 §4.6 instead of RFC 5681's halving; then RFC 5681 §3.2's inflation by
        # the segments that left the network, and NewReno recovery (Reno's methods).
        self._reduce(flight_size)
        self.cwnd = self.ssthresh + dupacks * self.mss
        self.in_recovery = True

    def on_recovery_end(self, flight_size: int, now: float) -> None:
        super().on_recovery_end(flight_size, now)
        self.epoch_start = None  # the next ACK starts congestion avoidance from here

    def on_retransmit_timeout(self, flight_size: int, now: float) -> None:
        # §4.8: Reno's loss window of one segment, with CUBIC's ssthresh.
        if not self.after_timeout:
            self._reduce(flight_size)
        else:
            # A repeated timeout: the window before the first one stays cwnd_prior.
            self.ssthresh = max(int(flight_size * BETA_CUBIC), 2 * self.mss)
        self._restart_after_timeout()
        self.after_timeout = True
        self.epoch_start = None
