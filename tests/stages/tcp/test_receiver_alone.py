"""The TCP receiver driven alone (the tcp_receiver unit): no connection, no stack. The peer's
segments come in, the application reads, the clock moves; the transcript says which ACKs
the receiver sends, with the window and SACK blocks they carry (alone.py has the bench).

The bench's receiver got the peer's SYN (IRS 5000: data from 5001), has an 8-segment receive
buffer (11680 bytes, MSS 1460) and SACK on. Offsets in `segment(offset, length)` count from
the peer's first data byte. Run against another implementation with
`--impl tcp_receiver=mylab.receiver:Receiver`."""

from .alone import IRS, MSS, ReceiverBench, stream_bytes

D = IRS + 1  # the peer's first data byte
RCVBUF = 8 * MSS
DELAYED_ACK = 0.04  # TcpConfig's default


def test_one_in_order_segment_is_readable_and_its_ack_is_delayed():
    b = ReceiverBench()
    b.segment(0, MSS)
    b.expect_no_ack()
    b.check("bytes readable", len(b.stream.data), MSS)
    b.advance(DELAYED_ACK - 0.001)
    b.expect_no_ack()
    b.advance(0.001)
    b.expect_ack(D + MSS, window=RCVBUF - MSS)  # the unread segment takes window
    b.check("data read", b.read(MSS), stream_bytes(0, MSS))


def test_every_second_full_segment_is_acked_at_once():
    b = ReceiverBench()
    b.segment(0, MSS)
    b.expect_no_ack()
    b.segment(MSS, MSS)
    b.expect_ack(D + 2 * MSS, window=RCVBUF - 2 * MSS)
    b.advance(DELAYED_ACK)
    b.expect_no_ack()  # that ACK made the delayed one unnecessary


def test_an_out_of_order_segment_gets_an_immediate_ack_with_a_sack_block():
    b = ReceiverBench()
    b.segment(MSS, MSS)  # the first segment is missing
    b.expect_ack(D, sack=((D + MSS, D + 2 * MSS),))
    b.check("bytes readable", len(b.stream.data), 0)
    b.expect_counter("tcp.rx.out_of_order", 1)


def test_filling_the_hole_makes_everything_readable_and_is_acked_at_once():
    b = ReceiverBench()
    b.segment(MSS, MSS)
    b.expect_ack(D, sack=((D + MSS, D + 2 * MSS),))
    b.segment(0, MSS)
    b.expect_ack(D + 2 * MSS)  # no SACK block left: nothing is held out of order
    b.check("data read", b.read(10 * MSS), stream_bytes(0, 2 * MSS))


def test_sack_blocks_report_the_most_recent_first():
    b = ReceiverBench()
    b.segment(MSS, MSS)
    b.expect_ack(D, sack=((D + MSS, D + 2 * MSS),))
    b.segment(3 * MSS, MSS)
    b.expect_ack(D, sack=((D + 3 * MSS, D + 4 * MSS), (D + MSS, D + 2 * MSS)))


def test_without_sack_an_out_of_order_segment_gets_a_plain_duplicate_ack():
    b = ReceiverBench(sack=False)
    b.segment(MSS, MSS)
    b.expect_ack(D)


def test_the_window_shrinks_as_the_buffer_fills_and_reopens_when_read():
    b = ReceiverBench()
    for pair in range(4):
        b.segment(2 * pair * MSS, MSS)
        b.segment((2 * pair + 1) * MSS, MSS)
        b.expect_ack(D + 2 * (pair + 1) * MSS, window=RCVBUF - 2 * (pair + 1) * MSS)
    b.check("rcv_wnd", b.receiver.rcv_wnd, 0)
    b.segment(RCVBUF, MSS)  # beyond the closed window: not taken, acked at once
    b.expect_ack(D + RCVBUF, window=0)
    b.check("bytes readable", len(b.stream.data), RCVBUF)
    b.check("data read", b.read(RCVBUF), stream_bytes(0, RCVBUF))
    b.check("a window update is worth sending", b.receiver.window_update_worthwhile(), True)
    b.out.send_ack(b.now)  # the connection sends it
    b.expect_ack(D + RCVBUF, window=RCVBUF)


def test_a_duplicate_segment_gets_its_own_ack_at_once():
    b = ReceiverBench()
    b.segment(0, MSS)
    b.expect_no_ack()
    b.segment(0, MSS)  # the peer resent it: its ACK was lost, or it timed out
    b.expect_ack(D + MSS)
    b.expect_counter("tcp.rx.duplicate", 1)
    b.advance(DELAYED_ACK)
    b.expect_no_ack()


def test_a_fin_in_order_is_acked_at_once_and_reported():
    b = ReceiverBench()
    fin_now = b.segment(0, 100, fin=True)
    b.check("the FIN is in order", fin_now, True)
    b.expect_ack(D + 100 + 1)  # the FIN takes one sequence number
    b.check_that("a reader was told", b.host.events > 0)
    b.check("fin_received", b.receiver.fin_received, True)


def test_a_fin_after_a_hole_waits_for_the_hole():
    b = ReceiverBench()
    fin_now = b.segment(MSS, 100, fin=True)
    b.check("the FIN is in order", fin_now, False)
    b.expect_ack(D, sack=((D + MSS, D + MSS + 100),))
    fin_now = b.segment(0, MSS)
    b.check("the FIN is in order", fin_now, True)
    b.expect_ack(D + MSS + 100 + 1)


def test_data_after_the_application_closed_resets_the_connection():
    b = ReceiverBench()
    b.host.app_closed = True
    b.segment(0, MSS)
    b.check_that("the connection was told to reset", b.host.reset_at is not None)
    b.check("bytes readable", len(b.stream.data), 0)


def test_in_an_engine_pass_the_immediate_ack_waits_for_the_end_of_the_pass():
    b = ReceiverBench()
    b.out.in_pass = True
    b.segment(MSS, MSS)
    b.expect_no_ack()  # owed: a segment the connection sends in this pass may carry it
    b.check("an ACK is owed at the end of the pass", b.out.owed_at_end, True)
    b.receiver.send_owed_ack(b.now)  # the end of the pass
    b.expect_ack(D, sack=((D + MSS, D + 2 * MSS),))
    b.receiver.send_owed_ack(b.now)
    b.expect_no_ack()  # owed once, sent once
