"""A writer blocked on a full send buffer is woken once there is a useful amount of room
(conn.send_low_water, what the socket layer waits for), not on every ACK."""

from netstack.stages.tcp import TcpConfig

from .support import B_IP, Link, two_stacks

KB = 1024
SNDBUF = 256 * KB


def test_a_full_send_buffer_wakes_its_writer_once_per_low_water_mark():
    a, b = two_stacks(TcpConfig(sndbuf=SNDBUF))
    link = Link(a, b, delay=0.005)
    listener = b.tcp.listen(None, 9, 4)
    client = a.tcp.connect(None, 0, B_IP, 9, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    wakeups = []
    client.on_event = lambda: wakeups.append(client.writable)
    assert client.write_app(bytes(SNDBUF)) == SNDBUF
    client.app_did_write(link.now)
    acks_after_wakeup = 0  # ACKs that freed more room once the writer had been woken
    while client.writable < SNDBUF:  # the reader keeps up: everything is acknowledged
        woken, acks_before = bool(wakeups), a.counters.snapshot().get("tcp.rx.segments", 0)
        writable_before = client.writable
        assert link.step(link.now + 1.0)
        if woken and client.writable > writable_before:
            acks_after_wakeup += a.counters.snapshot()["tcp.rx.segments"] - acks_before
        if server.readable:
            server.read_app(1 << 20)
            server.app_did_read(link.now)
    low_water = client.send_low_water
    assert low_water == SNDBUF // 4
    # Many ACKs freed room, but the writer heard of it once: when it crossed the mark.
    assert acks_after_wakeup >= 5
    assert len(wakeups) == 1 and wakeups[0] >= low_water


def test_changing_sndbuf_wakes_a_blocked_writer_to_look_again():
    a, b = two_stacks(TcpConfig(sndbuf=SNDBUF))
    link = Link(a, b, delay=0.005)
    b.tcp.listen(None, 9, 4)
    client = a.tcp.connect(None, 0, B_IP, 9, 0.0)
    link.run(0.1)
    woken = []
    client.on_event = lambda: woken.append(True)
    client.options.sndbuf = 2 * SNDBUF
    client.options_changed(link.now)
    assert woken
