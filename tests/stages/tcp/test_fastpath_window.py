"""The advertised window with a large scale shift (receiver.advertise, RFC 7323 §2.4):
rounded down so a full buffer shows a zero window, rounded up only to keep the right edge
where it was. Two stacks on a virtual clock; the receiver never reads."""

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from netstack.stages.tcp import TcpConfig
from netstack.stages.tcp.collaborators import ReceiveBuffer
from netstack.stages.tcp.options import MAX_UNSCALED_WINDOW
from netstack.stages.tcp.receiver import Receiver
from netstack.stages.tcp.seq import Seq
from netstack.wire import ethernet as wire_eth
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire import tcp as wire_tcp
from netstack.wire.tcp import FLAG_SYN

from .support import B_IP, Link, two_stacks

KB = 1024
RCVBUF = 64 * KB
# Autotuning may grow the buffer to 4 MB, so the SYN offers shift 7; the application does
# not read, so the buffer stays at 64 KB and the window's granularity is 128 bytes.
CONFIG = TcpConfig(rcvbuf=RCVBUF, rcvbuf_max=4 * 1024 * KB, sndbuf=256 * KB)


def windows_from(link, stack):
    """(ack, window field) of every non-SYN segment `stack` sends, in order."""
    seen = []

    def watch(src, frame):
        if src is stack:
            _, rest = wire_eth.parse(frame)
            _, rest = wire_ipv4.parse(rest)
            header, _ = wire_tcp.parse(rest)
            if not header.flags & FLAG_SYN:
                seen.append((header.ack, header.window))
        return [frame]

    link.filter = watch
    return seen


def test_a_full_buffer_closes_the_window_and_probes_do_not_grow_it():
    a, b = two_stacks(CONFIG)
    link = Link(a, b, delay=0.005)
    seen = windows_from(link, b)
    listener = b.tcp.listen(None, 9, 4)
    client = a.tcp.connect(None, 0, B_IP, 9, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    assert server.receiver.window_shift == 7
    client.write_app(bytes(200 * KB))
    client.app_did_write(link.now)
    link.run(5.0)  # the buffer fills; then several persist probes (backing off from 200 ms)
    # The window closed: the last ACKs offer nothing.
    assert seen[-1][1] == 0
    # Rounding up to keep the edge may take a little more, less than 2^7 per ACK.
    assert len(server.receiver.ready) <= RCVBUF + 4 * KB
    assert b.counters.get("tcp.drop.out_of_window") > 0  # the probes met a closed window
    # And the right edge the peer saw never moved left (RFC 9293 §3.8.6.2.2).
    first = seen[0][0]
    edges = [((ack - first) % 2**32) + (window << 7) for ack, window in seen]
    assert edges == sorted(edges)
    taken = len(server.receiver.ready)
    link.run(20.0)
    assert len(server.receiver.ready) == taken  # probes for 20 s more took nothing
    # Reading reopens it: a window update, and the sender goes on.
    before = len(seen)
    server.read_app(32 * KB)
    server.app_did_read(link.now)
    link.run(1.0)
    assert any(window > 0 for _, window in seen[before:])
    assert len(server.receiver.ready) > taken - 32 * KB


def test_a_reader_that_keeps_up_sends_no_window_updates_only_an_ack_per_two_segments():
    # The window opened by each read rides on the next ACK (RFC 1122 §4.2.3.2's one per
    # two full segments), as on Linux; a bare update per read would double the ACKs.
    # The buffer is fixed and twice the transfer, so the window never falls to half: a
    # window the sender filled (or a buffer that grew) would be worth announcing.
    a, b = two_stacks(TcpConfig(rcvbuf=1024 * KB, sndbuf=256 * KB, rcvbuf_autotune=False))
    link = Link(a, b, delay=0.005)
    listener = b.tcp.listen(None, 9, 4)
    client = a.tcp.connect(None, 0, B_IP, 9, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    counted = {"data": 0, "acks": 0}

    def count(src, frame):
        _, rest = wire_eth.parse(frame)
        _, rest = wire_ipv4.parse(rest)
        _, payload = wire_tcp.parse(rest)
        if src is a and payload:
            counted["data"] += 1
        elif src is b and not payload:
            counted["acks"] += 1
        return [frame]

    link.filter = count
    total, written, received = 512 * KB, 0, 0
    while received < total:
        if written < total and client.writable:
            written += client.write_app(bytes(min(total - written, client.writable)))
            client.app_did_write(link.now)
        assert link.step(link.now + 1.0)
        if server.readable:
            received += len(server.read_app(1 << 20))
            server.app_did_read(link.now)
    assert b.counters["tcp.tx.window_update"] == 0
    assert counted["data"] >= total // 1460
    assert counted["acks"] <= counted["data"] // 2 + 1  # + the last segment's delayed ACK


# --- advertise() alone ---------------------------------------------------------------------

def receiver_with(rcvbuf, unread, current, shift, mss=1460):
    """A Receiver whose buffer holds `unread` bytes and whose last offer has `current`
    bytes left, without a connection around it (advertise reads only the buffer size)."""
    options = SimpleNamespace(rcvbuf=rcvbuf)
    receiver = Receiver(mss, ReceiveBuffer(), None, None, None, None,  # type: ignore[arg-type]
                        options, None, None)
    receiver.start(Seq(1000), 0)
    receiver.window_shift = shift
    receiver.ready = bytearray(unread)
    receiver.rcv_adv = receiver.rcv_nxt + current
    return receiver


@given(rcvbuf=st.integers(1, 4 * 1024 * KB), unread=st.integers(0, 4 * 1024 * KB),
       current=st.integers(0, 4 * 1024 * KB), shift=st.integers(0, 14))
def test_advertise_rounds_down_unless_the_edge_would_move_left(rcvbuf, unread, current, shift):
    receiver = receiver_with(rcvbuf, unread, current, shift)
    edge_before = receiver.rcv_adv
    free = max(rcvbuf - unread, 0)
    field = receiver.advertise()
    offered = field << shift
    assert receiver.rcv_adv == receiver.rcv_nxt + offered
    if current <= MAX_UNSCALED_WINDOW << shift:
        assert receiver.rcv_adv >= edge_before  # the right edge never moves left
    if offered > free:
        # More than is free only to keep the edge where it was: less than one step more.
        assert offered < current + (1 << shift)


def test_a_nearly_full_buffer_offers_what_is_free_rounded_down():
    receiver = receiver_with(64 * KB, 64 * KB - 20 * 128 - 5, 0, 7)
    assert receiver.advertise() == 20  # 2565 bytes free: 20 steps of 128, not 21


@given(rcvbuf=st.integers(1, 4 * 1024 * KB), unread=st.integers(0, 4 * 1024 * KB),
       current=st.integers(0, 4 * 1024 * KB), shift=st.integers(0, 14))
def test_a_window_update_after_a_read_only_when_the_peers_window_ran_low(
        rcvbuf, unread, current, shift):
    receiver = receiver_with(rcvbuf, unread, current, shift)
    largest = min(rcvbuf, MAX_UNSCALED_WINDOW << shift)
    free = max(rcvbuf - unread, 0)
    useful = min(rcvbuf // 2, 1460)
    worthwhile = receiver.window_update_worthwhile()
    if 2 * current > largest:
        assert not worthwhile  # the peer still has more than half to send into
    if free - current < useful:
        assert not worthwhile  # RFC 1122 §4.2.3.3: not worth moving the edge for
    if current == 0 and free >= max(useful, 1):
        assert worthwhile  # a closed window reopens as soon as a useful amount is free
    if worthwhile:
        assert free >= 2 * current
