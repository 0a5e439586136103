"""The TCP sender driven alone (the tcp_sender unit), as CS144 tests its TCPSender: no
connection, no stack. The application writes, the peer's ACKs come in, the clock moves; the
transcript says what the sender emits (alone.py has the bench and its fakes).

The bench's sender is established: ISS 1000 (data from 1001), MSS 1460, the peer offers
65535 bytes, the handshake measured a 100 ms round trip (RTO 300 ms), and cwnd is RFC 6928's
initial window, 10 segments. Run against another implementation with
`--impl tcp_sender=mylab.sender:Sender`."""

from netstack.stages.tcp.config import TcpConfig
from netstack.wire.tcp import FLAG_ACK, FLAG_PSH

from .alone import MSS, SenderBench

ACK, PSH = FLAG_ACK, FLAG_PSH
D = 1001  # the first data byte's sequence number


def test_writing_3000_bytes_sends_two_full_segments_and_nagle_holds_the_rest():
    b = SenderBench()
    b.write(3000)
    b.expect(seq=D, length=MSS)
    b.expect(seq=D + MSS, length=MSS)
    b.expect_nothing()  # 80 bytes: a small segment waits while data is unacknowledged
    b.ack(D + 2 * MSS)
    b.expect(seq=D + 2 * MSS, length=80, extra=PSH)  # the end of what was written
    b.expect_nothing()


def test_without_nagle_the_small_tail_goes_at_once():
    b = SenderBench(nodelay=True)
    b.write(3000)
    b.expect(seq=D, length=MSS)
    b.expect(seq=D + MSS, length=MSS)
    b.expect(seq=D + 2 * MSS, length=80, extra=PSH)
    b.expect_nothing()


def test_each_ack_in_slow_start_grows_cwnd_by_one_segment():
    b = SenderBench(nodelay=True)
    initial = b.sender.cc.cwnd
    b.check("cwnd", initial, 10 * MSS)
    b.write(2 * MSS)
    b.expect(seq=D, length=MSS)
    b.expect(seq=D + MSS, length=MSS, extra=PSH)
    b.ack(D + MSS)
    b.check("cwnd", b.sender.cc.cwnd, initial + MSS)
    b.ack(D + 2 * MSS)
    b.check("cwnd", b.sender.cc.cwnd, initial + 2 * MSS)
    b.check("snd_una", b.sender.snd_una.value, D + 2 * MSS)


def test_the_window_the_peer_offers_limits_what_is_sent():
    b = SenderBench(window=2 * MSS, nodelay=True)
    b.write(4 * MSS)
    b.expect(seq=D, length=MSS)
    b.expect(seq=D + MSS, length=MSS)
    b.expect_nothing()  # cwnd has room; the peer's window has not
    b.ack(D + MSS, window=2 * MSS)
    b.expect(seq=D + 2 * MSS, length=MSS)
    b.expect_nothing()


def test_an_rto_retransmits_from_snd_una_and_doubles_the_rto():
    b = SenderBench(nodelay=True)
    b.write(4 * MSS)
    for i in range(4):
        b.expect(seq=D + i * MSS, length=MSS, extra=PSH if i == 3 else 0)
    b.check("rto (ms)", round(b.sender.rto.rto * 1000), 300)
    b.advance(0.299)
    b.expect_nothing()
    b.advance(0.001)
    b.expect(seq=D, length=MSS)  # go-back-N from snd_una, one segment: cwnd is 1 MSS
    b.expect_nothing()
    b.check("rto (ms)", round(b.sender.rto.rto * 1000), 600)
    b.check("cwnd", b.sender.cc.cwnd, MSS)
    b.check("ssthresh", b.sender.cc.ssthresh, 2 * MSS)  # half of the 4 segments in flight
    b.expect_counter("tcp.tx.timeout", 1)
    b.expect_counter("tcp.tx.retransmits", 1)
    b.ack(D + MSS)  # slow start again: two segments for one acknowledged
    b.expect(seq=D + MSS, length=MSS)
    b.expect(seq=D + 2 * MSS, length=MSS)
    b.expect_nothing()


def test_a_second_timeout_doubles_the_rto_again():
    b = SenderBench(nodelay=True)
    b.write(MSS)
    b.expect(seq=D, length=MSS, extra=PSH)
    b.advance(0.3)
    b.expect(seq=D, length=MSS, extra=PSH)
    b.advance(0.6)
    b.expect(seq=D, length=MSS, extra=PSH)
    b.check("rto (ms)", round(b.sender.rto.rto * 1000), 1200)


def test_acknowledging_everything_stops_the_retransmission_timer():
    b = SenderBench(nodelay=True)
    b.write(MSS)
    b.expect(seq=D, length=MSS, extra=PSH)
    b.ack(D + MSS)
    b.advance(10.0)
    b.expect_nothing()
    b.expect_counter("tcp.tx.timeout", 0)


def test_three_duplicate_acks_retransmit_at_once_and_halve_the_window():
    b = SenderBench(nodelay=True)
    b.write(6 * MSS)
    for i in range(6):
        b.expect(seq=D + i * MSS, length=MSS, extra=PSH if i == 5 else 0)
    b.ack(D + MSS)  # segment 2 is lost: the peer acknowledges only the first...
    b.ack(D + MSS)  # ...and each later segment brings a duplicate ACK
    b.ack(D + MSS)
    b.expect_nothing()
    b.ack(D + MSS)
    b.expect(seq=D + MSS, length=MSS)  # fast retransmit (RFC 5681 §3.2)
    b.expect_nothing()
    b.expect_counter("tcp.tx.fast_retransmit", 1)
    b.check("ssthresh", b.sender.cc.ssthresh, 5 * MSS // 2)  # half the 5 segments in flight
    b.check("cwnd", b.sender.cc.cwnd, 5 * MSS // 2 + 3 * MSS)  # plus the 3 that left


def test_a_closed_window_is_probed_when_the_persist_timer_fires():
    b = SenderBench(window=0, nodelay=True)
    b.write(100)
    b.expect_nothing()
    b.advance(0.3)
    b.expect(seq=D, length=1)  # one byte past the closed window (RFC 9293 §3.8.6.1)
    b.expect_counter("tcp.tx.window_probe", 1)
    b.ack(D + 1, window=MSS)  # the peer took it, and has room again
    b.expect(seq=D + 1, length=99, extra=PSH)
    b.expect_nothing()


def test_unanswered_probes_back_off_and_leave_cwnd_alone():
    b = SenderBench(window=0, nodelay=True)
    cwnd = b.sender.cc.cwnd
    b.write(100)
    b.advance(0.3)
    b.expect(seq=D, length=1)  # the persist timer's probe
    b.advance(0.6)  # unanswered: the retransmission timer probes again, at twice the RTO
    b.expect(seq=D, length=1)
    b.expect_counter("tcp.tx.window_probe", 2)
    b.check("cwnd", b.sender.cc.cwnd, cwnd)  # a closed window is the receiver, not congestion


def test_the_sender_gives_up_after_the_retry_limit():
    b = SenderBench(nodelay=True)
    b.host.limit = 2
    b.write(MSS)
    b.expect(seq=D, length=MSS, extra=PSH)
    b.advance(0.3)
    b.expect(seq=D, length=MSS, extra=PSH)
    b.advance(0.6)
    b.expect(seq=D, length=MSS, extra=PSH)
    b.check("gave up", b.host.gave_up_at, None)
    b.advance(1.2)
    b.expect_nothing()
    b.check_that("the connection was told to give up", b.host.gave_up_at is not None)


def test_nothing_is_sent_when_the_connection_does_not_allow_it():
    b = SenderBench(nodelay=True)
    b.host.allowed = False
    b.write(MSS)
    b.expect_nothing()


def test_acknowledged_bytes_leave_the_buffer_and_the_connection_hears_of_it():
    b = SenderBench(nodelay=True)
    b.write(3 * MSS)
    for i in range(3):
        b.expect(seq=D + i * MSS, length=MSS, extra=PSH if i == 2 else 0)
    b.ack(D + MSS)
    b.check("bytes left in the send buffer", len(b.stream.data), 2 * MSS)
    b.check("room freed, as told", b.host.freed, [MSS])


def test_a_tail_loss_probe_resends_the_last_segment_before_the_rto():
    b = SenderBench(nodelay=True, config=TcpConfig())  # the probe on
    b.write(3 * MSS)
    for i in range(3):
        b.expect(seq=D + i * MSS, length=MSS, extra=PSH if i == 2 else 0)
    b.advance(0.2)  # PTO = 2 SRTT = 200 ms < RTO 300 ms
    b.expect(seq=D + 2 * MSS, length=MSS, extra=PSH)
    b.expect_counter("tcp.tx.tail_loss_probe", 1)
