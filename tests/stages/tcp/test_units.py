"""The small pieces: ISNs, option negotiation and Reno's arithmetic. Sequence numbers and
the RTO estimator have their own modules (test_seq.py, test_rto.py), which grade any
implementation of those units."""

from netstack.stages.tcp.congestion import Reno, initial_window
from netstack.stages.tcp.isn import IsnGenerator
from netstack.stages.tcp.options import (
    effective_send_mss,
    read_syn_options,
    syn_options,
    window_shift_for,
)
from netstack.wire.tcp import (
    NOP,
    SACK_PERMITTED,
    MssOption,
    TcpHeader,
    TimestampOption,
    WindowScaleOption,
)

from .support import A_IP, B_IP


class TestIsn:
    def test_keyed_by_the_four_tuple_and_the_secret(self):
        gen = IsnGenerator(b"k" * 16)
        a = gen.isn(A_IP, 1, B_IP, 2, 0.0)
        assert gen.isn(A_IP, 1, B_IP, 2, 0.0) == a
        assert gen.isn(A_IP, 1, B_IP, 3, 0.0) != a
        assert IsnGenerator(b"j" * 16).isn(A_IP, 1, B_IP, 2, 0.0) != a

    def test_clock_ticks_every_four_microseconds(self):
        gen = IsnGenerator(b"k" * 16)
        a = gen.isn(A_IP, 1, B_IP, 2, 10.0)
        assert gen.isn(A_IP, 1, B_IP, 2, 10.0 + 1.0) - a == 250_000

    def test_random_secret_by_default(self):
        assert IsnGenerator().secret != IsnGenerator().secret


class TestOptions:
    def test_reads_a_linux_syn(self):
        h = TcpHeader(1, 2, 0, 0, 2, 64240, options=(
            MssOption(1460), SACK_PERMITTED, TimestampOption(1, 0), NOP, WindowScaleOption(7)))
        peer = read_syn_options(h)
        assert (peer.mss, peer.window_shift, peer.sack_permitted, peer.timestamps) == (
            1460, 7, True, True)

    def test_window_shift_above_14_is_used_as_14(self):
        h = TcpHeader(1, 2, 0, 0, 2, 1, options=(WindowScaleOption(20),))
        assert read_syn_options(h).window_shift == 14

    def test_no_mss_means_536(self):
        assert effective_send_mss(None, 1460, 536) == 536
        assert effective_send_mss(9000, 1460, 536) == 1460  # clamped to our route

    def test_tiny_peer_mss_is_raised_to_the_floor(self):
        # A peer announcing MSS 0 or 1 must not make us send one-byte segments.
        assert effective_send_mss(0, 1460, 536) == 88
        assert effective_send_mss(1, 1460, 536) == 88
        assert effective_send_mss(88, 1460, 536) == 88
        assert effective_send_mss(500, 1460, 536) == 500

    def test_shift_from_buffer(self):
        assert window_shift_for(65535) == 0
        assert window_shift_for(65536) == 1
        assert window_shift_for(256 * 1024) == 3
        assert window_shift_for(2**31) == 14

    def test_syn_options_are_word_aligned(self):
        assert syn_options(1460, 3) == (MssOption(1460), NOP, WindowScaleOption(3))


class TestReno:
    def test_initial_window_rfc6928(self):
        assert initial_window(1460) == 14600
        assert initial_window(536) == 5360
        assert initial_window(9000) == 18000

    def test_slow_start_then_avoidance(self):
        cc = Reno(1000)
        start = cc.cwnd
        cc.on_ack(1000, 0)
        assert cc.cwnd == start + 1000
        cc.ssthresh = cc.cwnd
        before = cc.cwnd
        for _ in range(before // 1000):
            cc.on_ack(1000, 0)
        assert cc.cwnd == before + 1000  # one MSS per window

    def test_fast_recovery(self):
        cc = Reno(1000)
        assert not cc.in_recovery
        cc.on_fast_retransmit(3, 20000, 0)
        assert cc.in_recovery and cc.ssthresh == 10000 and cc.cwnd == 13000
        cc.on_dupack(0)
        assert cc.cwnd == 14000
        cc.on_recovery_end(15000, 0)
        assert cc.cwnd == 10000 and not cc.in_recovery

    def test_early_retransmit_inflates_by_its_duplicate_acks(self):
        cc = Reno(1000)
        cc.on_fast_retransmit(2, 3000, 0)  # RFC 5827: two duplicate ACKs, three segments out
        assert cc.ssthresh == 2000 and cc.cwnd == 4000

    def test_full_ack_with_nothing_in_flight_leaves_two_segments(self):
        # RFC 6582 §3.2 step 3: min(ssthresh, max(FlightSize, SMSS) + SMSS)
        cc = Reno(1000)
        cc.on_fast_retransmit(3, 20000, 0)
        cc.on_recovery_end(0, 0)
        assert cc.cwnd == 2000 and not cc.in_recovery

    def test_timeout(self):
        cc = Reno(1000)
        cc.on_retransmit_timeout(20000, 0)
        assert cc.cwnd == 1000 and cc.ssthresh == 10000
