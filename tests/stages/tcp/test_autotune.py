"""Receive-buffer autotuning (autotune.py), on a fake clock: alone against a model path,
then between two stacks, where the window the receiver offers is read off its ACKs."""

import pytest

from netstack.stages.tcp import TcpConfig
from netstack.stages.tcp.autotune import ReceiveBufferTuner
from netstack.stages.tcp.options import window_shift_for
from netstack.wire import ethernet as wire_eth
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire import tcp as wire_tcp
from netstack.wire.tcp import FLAG_SYN, WindowScaleOption

from .support import B_IP, Link, two_stacks

KB = 1024
MB = 1024 * KB


# --- the tuner alone ------------------------------------------------------------------------

def fast_reader_on_a_path(bandwidth, rtt, initial, maximum, round_trips):
    """Each RTT the sender delivers what the window allows and the path carries; the
    reader takes it as it arrives, in ten pieces spread over the round trip."""
    tuner = ReceiveBufferTuner(maximum)
    rcvbuf, copied, now = initial, 0, 0.0
    history = []
    for _ in range(round_trips):
        delivered = min(rcvbuf, int(bandwidth * rtt))
        for i in range(10):
            copied += delivered // 10
            rcvbuf = tuner.on_read(copied, now + i * rtt / 10, rtt, rcvbuf)
        now += rtt
        history.append(rcvbuf)
    return history


def test_fast_reader_grows_the_buffer_to_cover_the_bandwidth_delay_product():
    bandwidth, rtt = 100e6 / 8, 0.05  # 100 Mbit/s x 50 ms: a 625 KB BDP
    bdp = bandwidth * rtt
    history = fast_reader_on_a_path(bandwidth, rtt, 64 * KB, 4 * MB, round_trips=20)
    assert history[0] == 64 * KB  # one round trip measured nothing yet
    assert history[-1] >= bdp  # the window no longer limits the sender
    assert history[-1] <= 2 * bdp + 64 * KB  # about twice the per-RTT rate, not the maximum
    assert history == sorted(history)  # never shrinks
    # While the window was the limit it roughly doubled per round trip (like slow start).
    assert history.index(max(history)) <= 8


def test_growth_stops_at_the_maximum():
    history = fast_reader_on_a_path(1e9, 0.1, 64 * KB, 1 * MB, round_trips=30)
    assert history[-1] == 1 * MB


def test_slow_reader_does_not_grow_the_buffer():
    # It reads a full 64 KB buffer every 2 s on a 50 ms path: 1.6 KB per round trip.
    tuner = ReceiveBufferTuner(4 * MB)
    rcvbuf, copied = 64 * KB, 0
    for second in range(0, 60, 2):
        copied += 64 * KB
        rcvbuf = tuner.on_read(copied, float(second), 0.05, rcvbuf)
    assert rcvbuf == 64 * KB


def test_no_rtt_sample_means_no_change():
    tuner = ReceiveBufferTuner(4 * MB)
    assert tuner.on_read(10 * MB, 0.0, None, 64 * KB) == 64 * KB
    assert tuner.on_read(20 * MB, 1.0, None, 64 * KB) == 64 * KB


# --- between two stacks ---------------------------------------------------------------------

CONFIG = TcpConfig(rcvbuf=64 * KB, rcvbuf_max=1 * MB, sndbuf=2 * MB)


def offered_windows(link, receiver_stack):
    """Records (ack, window in bytes) from the receiver's segments, and its SYN's shift."""
    seen = {"acks": [], "syn_shift": None}

    def watch(src, frame):
        if src is receiver_stack:
            _, rest = wire_eth.parse(frame)
            _, rest = wire_ipv4.parse(rest)
            header, _ = wire_tcp.parse(rest)
            if header.flags & FLAG_SYN:
                for option in header.options:
                    if isinstance(option, WindowScaleOption):
                        seen["syn_shift"] = option.shift
            else:
                seen["acks"].append((header.ack, header.window))
        return [frame]

    link.filter = watch
    return seen


def transfer(total, read_size, read_every, locked=False, seconds=30.0):
    """A sends `total` bytes to B over a 50 ms RTT link; B reads `read_size` bytes every
    `read_every` seconds (0: whenever anything arrives)."""
    a, b = two_stacks(CONFIG)
    link = Link(a, b, delay=0.025)
    seen = offered_windows(link, b)
    listener = b.tcp.listen(None, 7, 4)
    client = a.tcp.connect(None, 0, B_IP, 7, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    if locked:
        server.options.rcvbuf_locked = True  # what setsockopt(SO_RCVBUF) does
    data = bytes(range(256)) * (total // 256)
    written = received = 0
    next_read = link.now
    deadline = link.now + seconds
    while link.now < deadline and received < total:
        if written < total and client.writable:
            written += client.write_app(data[written : written + 256 * KB])
            client.app_did_write(link.now)
        if server.readable and link.now >= next_read:
            received += len(server.read_app(read_size))
            server.app_did_read(link.now)
            next_read = link.now + read_every
        limit = next_read if read_every and server.readable else deadline
        if not link.step(max(limit, link.now)):
            link.now = max(link.now, limit)
            a.advance(link.now)
            b.advance(link.now)
    return server, seen, received


def right_edge_never_moves_left(seen):
    """RFC 9293 §3.8.6.2.1 (and 7323 §2.4), across the receiver's segments in order;
    positions are taken modulo 2^32 relative to the first ACK."""
    shift = seen["syn_shift"]
    first = seen["acks"][0][0]
    edges = [((ack - first) % 2**32) + (window << shift) for ack, window in seen["acks"]]
    return all(later >= earlier for earlier, later in zip(edges, edges[1:], strict=False))


@pytest.mark.xfail_in_pass_mode(
    "GRO and per-pass ACKs send one ACK per burst of up to 32 segments, and slow start adds "
    "min(bytes acked, 2 * SMSS) per ACK (congestion.py, RFC 3465's limit): cwnd grows ~2 MSS "
    "per burst, the transfer takes 1.8 s instead of 0.64 s and the buffer grows only to "
    "~410 KB (counting every byte acked, as Linux counts packets, restores 0.64 s)")
def test_fast_reader_opens_the_window_and_its_right_edge_never_moves_left():
    server, seen, received = transfer(3 * MB, 1 * MB, 0)
    assert received == 3 * MB
    assert seen["syn_shift"] == window_shift_for(1 * MB)  # the SYN covers the maximum
    assert server.options.rcvbuf > 512 * KB  # grew from 64 KB
    largest_window = max(window << seen["syn_shift"] for _, window in seen["acks"])
    assert largest_window > 256 * KB
    assert right_edge_never_moves_left(seen)


def test_slow_reader_keeps_its_modest_window():
    server, seen, received = transfer(3 * MB, 4 * KB, 0.2, seconds=20.0)
    assert 300 * KB < received < 3 * MB
    assert server.options.rcvbuf == 64 * KB
    assert max(window << seen["syn_shift"] for _, window in seen["acks"]) <= 64 * KB
    assert right_edge_never_moves_left(seen)


def test_an_explicit_so_rcvbuf_is_not_autotuned():
    server, _, received = transfer(1 * MB, 1 * MB, 0, locked=True)
    assert received == 1 * MB
    assert server.options.rcvbuf == 64 * KB


def test_autotuning_can_be_turned_off_stack_wide():
    assert TcpConfig(rcvbuf_autotune=False).rcvbuf_autotune is False
    a, b = two_stacks(TcpConfig(rcvbuf_autotune=False))
    listener = b.tcp.listen(None, 7, 4)
    link = Link(a, b)
    a.tcp.connect(None, 0, B_IP, 7, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    assert listener.accept_queue[0].rcvbuf_tuner is None


def test_syn_offers_a_shift_for_the_maximum_unless_the_application_chose_the_buffer():
    # Linux's window_clamp: a buffer set with SO_RCVBUF is never tuned, so our SYN offers
    # the shift its own size needs, keeping the window's granularity fine.
    a, b = two_stacks(CONFIG)
    link = Link(a, b)
    chosen = CONFIG.default_options()
    chosen.rcvbuf_locked = True
    tuned_listener = b.tcp.listen(None, 7, 4)
    chosen_listener = b.tcp.listen(None, 8, 4, options=chosen)
    a.tcp.connect(None, 0, B_IP, 7, 0.0)
    a.tcp.connect(None, 0, B_IP, 8, 0.0)
    link.run_until(lambda: bool(tuned_listener.accept_queue and chosen_listener.accept_queue))
    assert tuned_listener.accept_queue[0].receiver.window_shift == window_shift_for(1 * MB) == 5
    assert chosen_listener.accept_queue[0].receiver.window_shift == window_shift_for(64 * KB) == 1
