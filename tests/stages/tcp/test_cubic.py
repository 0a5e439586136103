"""CUBIC (RFC 9438) on a fake clock: the window against the RFC's own formulas.

The tests drive the algorithm as an ACK clock would: each round trip, one window's worth of
bytes is acknowledged by ACKs spread evenly over the RTT. The expected values are computed
here from the RFC's equations, independently of cubic.py's helpers.
"""

import pytest

from netstack.errors import ConfigError
from netstack.stages.tcp.config import TcpConfig
from netstack.stages.tcp.cubic import Cubic

MSS = 1000
C = 0.4  # RFC 9438 §5.1
BETA = 0.7  # §4.6
ALPHA = 3 * (1 - BETA) / (1 + BETA)  # §4.3


def rfc_k(w_max, cwnd_epoch):
    return ((w_max - cwnd_epoch) / C) ** (1 / 3)  # §4.2 Figure 2


def rfc_w_cubic(t, k, w_max):
    return C * (t - k) ** 3 + w_max  # §4.2 Figure 1


class AckClock:
    """Acknowledges one window per RTT, in `acks` ACKs spread over it."""

    def __init__(self, cc, rtt, acks=50):
        self.cc, self.rtt, self.acks, self.now = cc, rtt, acks, 0.0

    def round(self):
        window = self.cc.cwnd
        for i in range(self.acks):
            self.cc.on_ack(window // self.acks, self.now + i * self.rtt / self.acks)
        self.now += self.rtt

    def run_until(self, t):
        while self.now < t:
            self.round()


def cubic_after_loss(w_max_segments, rtt, **kwargs):
    """A CUBIC sender that lost a segment with w_max_segments in flight and has recovered."""
    cc = Cubic(MSS, srtt=lambda: rtt, **kwargs)
    cc.cwnd = w_max_segments * MSS
    cc.on_fast_retransmit(3, cc.cwnd, 0.0)
    cc.on_recovery_end(cc.ssthresh, 0.0)
    return cc


def test_loss_keeps_beta_of_the_flight_and_sets_w_max():
    cc = Cubic(MSS)
    cc.cwnd = 100 * MSS
    cc.on_fast_retransmit(3, 100 * MSS, 0.0)
    # §4.6: ssthresh = flight_size * beta_cubic; then RFC 5681's inflation by 3 segments.
    assert cc.ssthresh == 70 * MSS
    assert cc.cwnd == 73 * MSS and cc.in_recovery
    assert cc.w_max == 100 and cc.cwnd_prior == 100
    cc.on_recovery_end(80 * MSS, 0.1)
    assert cc.cwnd == 70 * MSS and not cc.in_recovery


def test_ssthresh_is_at_least_two_segments():
    cc = Cubic(MSS)
    cc.on_fast_retransmit(2, 2 * MSS, 0.0)
    assert cc.ssthresh == 2 * MSS


def test_window_follows_w_cubic_concave_plateau_convex():
    rtt = 0.1
    cc = cubic_after_loss(1000, rtt)
    clock = AckClock(cc, rtt)
    k = rfc_k(1000, 700)  # cwnd_epoch = beta * W_max: K = cbrt(W_max (1 - beta) / C)
    clock.round()  # the first ACK in congestion avoidance starts the stage at t = 0
    assert cc.k == pytest.approx(k)
    assert k == pytest.approx(9.0856, abs=1e-3)
    samples = {}
    for t in (1.0, 3.0, 5.0, 7.0, k, k + 2, k + 4, k + 6):
        clock.run_until(t)
        t_now = clock.now - cc.epoch_start
        expected = rfc_w_cubic(t_now, k, 1000)
        assert abs(cc.cwnd / MSS - expected) <= 1, (t, cc.cwnd / MSS, expected)
        samples[t] = cc.cwnd / MSS
    # Concave before K: growth slows down as the window nears W_max...
    assert samples[3.0] - samples[1.0] > samples[5.0] - samples[3.0] > samples[7.0] - samples[5.0]
    # ...a plateau at W_max around K...
    assert abs(samples[k] - 1000) <= 1
    # ...then convex: growth speeds up again.
    assert samples[k + 6] - samples[k + 4] > samples[k + 4] - samples[k + 2] > 0
    # All along, the curve was above what Reno would have had (W_est).
    assert cc.w_est < cc.cwnd / MSS


def test_reno_friendly_region_dominates_at_short_rtt_and_small_window():
    # §4.3: with a 10 ms RTT and a 20-segment W_max the cubic curve barely moves in a
    # second, while Reno gains a segment per RTT: cwnd must follow W_est instead.
    rtt = 0.01
    cc = cubic_after_loss(20, rtt)
    clock = AckClock(cc, rtt, acks=10)
    clock.round()
    cwnd_epoch = 14.0
    k = rfc_k(20, cwnd_epoch)
    # W_est grows alpha_cubic segments per RTT until it reaches cwnd_prior (20), then 1.
    rtts_to_prior = (20 - cwnd_epoch) / ALPHA
    for t in (0.05, 0.1, 0.5, 1.0):
        clock.run_until(t)
        elapsed_rtts = (clock.now - cc.epoch_start) / rtt
        if elapsed_rtts <= rtts_to_prior:
            w_est = cwnd_epoch + ALPHA * elapsed_rtts
        else:
            w_est = 20 + (elapsed_rtts - rtts_to_prior)
        assert abs(cc.cwnd / MSS - w_est) <= 1, (t, cc.cwnd / MSS, w_est)
        assert cc.cwnd / MSS > rfc_w_cubic(clock.now - cc.epoch_start, k, 20)
    # A second later Reno-style growth has taken it far past the cubic curve.
    assert cc.cwnd / MSS > rfc_w_cubic(1.0, k, 20) + 50


def test_target_is_clamped_to_one_and_a_half_cwnd_per_rtt():
    # §4.2: however far above cwnd W_cubic(t + RTT) is, one RTT of ACKs grows cwnd by at
    # most half. A stage that starts, then sees its next ACK 30 s later, has W_cubic far up.
    cc = cubic_after_loss(100, 0.1)
    cc.on_ack(MSS, 0.0)
    before = cc.cwnd
    assert rfc_w_cubic(30.0, cc.k, 100) > 3 * before / MSS
    window = cc.cwnd
    for _ in range(window // MSS):
        cc.on_ack(MSS, 30.0)
    assert before < cc.cwnd <= 1.5 * before + MSS


def test_fast_convergence_lowers_w_max_when_losing_below_it():
    cc = cubic_after_loss(1000, 0.1)
    assert cc.w_max == 1000
    cc.cwnd = 900 * MSS  # a new loss before reaching the old W_max: a new flow competes
    cc.on_fast_retransmit(3, 900 * MSS, 5.0)
    assert cc.w_max == pytest.approx(900 * (1 + BETA) / 2)  # §4.7: 765, not 900
    assert cc.ssthresh == 630 * MSS

    plain = cubic_after_loss(1000, 0.1, fast_convergence=False)
    plain.cwnd = 900 * MSS
    plain.on_fast_retransmit(3, 900 * MSS, 5.0)
    assert plain.w_max == 900


def test_loss_above_w_max_sets_w_max_to_cwnd():
    cc = cubic_after_loss(100, 0.1)
    cc.cwnd = 120 * MSS
    cc.on_fast_retransmit(3, 120 * MSS, 20.0)
    assert cc.w_max == 120


def test_retransmit_timeout_resets_to_one_segment_and_a_fresh_curve():
    rtt = 0.1
    cc = cubic_after_loss(200, rtt)
    clock = AckClock(cc, rtt)
    clock.run_until(2.0)
    cwnd_before = cc.cwnd
    cc.on_retransmit_timeout(cwnd_before, clock.now)
    # §4.8: Reno's loss window, CUBIC's ssthresh.
    assert cc.cwnd == MSS and cc.ssthresh == int(cwnd_before * BETA)
    assert not cc.in_recovery
    # Slow start back up: the window doubles each round trip until ssthresh.
    rounds = 0
    while cc.cwnd < cc.ssthresh:
        window = cc.cwnd
        for _ in range(window // MSS):
            cc.on_ack(MSS, clock.now)
        clock.now += rtt
        rounds += 1
        assert cc.cwnd == 2 * window or cc.cwnd >= cc.ssthresh
    assert rounds <= 8
    # The first stage after the timeout: K = 0 and W_max = cwnd_epoch (§4.8).
    clock.round()
    epoch = cc.epoch_start
    cwnd_epoch = cc.w_max
    assert cc.k == 0 and cwnd_epoch * MSS <= cc.ssthresh + 2 * MSS
    clock.run_until(epoch + 3.0)
    t = clock.now - epoch
    assert cc.cwnd / MSS >= rfc_w_cubic(t, 0.0, cwnd_epoch) - 1  # convex from the start


def test_repeated_timeouts_keep_the_first_ones_cwnd_prior():
    cc = cubic_after_loss(200, 0.1)
    cc.cwnd = 150 * MSS
    cc.on_retransmit_timeout(150 * MSS, 1.0)
    cc.on_retransmit_timeout(150 * MSS, 2.0)
    assert cc.cwnd_prior == 150 and cc.cwnd == MSS and cc.ssthresh == 105 * MSS


def test_slow_start_below_ssthresh_is_reno_s():
    cc = Cubic(MSS)
    start = cc.cwnd
    cc.on_ack(MSS, 0.0)
    assert cc.cwnd == start + MSS  # RFC 3465 byte counting, two MSS per ACK at most
    cc.on_ack(5 * MSS, 0.0)
    assert cc.cwnd == start + 3 * MSS


def test_slow_start_after_a_timeout_counts_one_mss_per_ack():
    cc = Cubic(MSS)
    cc.on_retransmit_timeout(40 * MSS, 1.0)  # RFC 9438 §4.8, then RFC 3465 §2.3
    assert cc.cwnd == MSS and cc.ssthresh == 28 * MSS
    cc.on_ack(4 * MSS, 1.1)
    assert cc.cwnd == 2 * MSS


def test_unknown_algorithm_is_a_config_error():
    assert TcpConfig(congestion_control="cubic").default_options().congestion_control == "cubic"
    with pytest.raises(ConfigError, match="congestion"):
        TcpConfig(congestion_control="bbr")
