"""TSO through the stack, sans-I/O: with a port that segments (tso_max set, as
TapPort.configure_stack does), TCP sends whole multiples of its MSS in one frame, IPv4 does
not fragment them, and a receiver configured the same way takes them whole."""

from __future__ import annotations

from netstack.engine.ports.tap import TapPort
from netstack.mbuf import OFFLOAD_BUFFER_SIZE, MbufPool
from netstack.wire import ethernet as wire_eth
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire import tcp as wire_tcp
from tests.stages.tcp.support import A_IP, B_IP, Link, two_stacks

MTU = 1500
TOTAL = 600_000


def offload(stack) -> None:
    stack.pool = MbufPool(256, OFFLOAD_BUFFER_SIZE)
    stack.ipv4._max_datagram_per_mbuf = OFFLOAD_BUFFER_SIZE - 128
    port = TapPort.__new__(TapPort)  # no device: only what it tells the stack
    port.offload = True
    port.configure_stack(stack)


def test_tcp_sends_mss_multiples_in_one_unfragmented_frame_and_the_peer_takes_them():
    a, b = two_stacks()
    for stack in (a, b):
        offload(stack)
    link = Link(a, b, delay=0.001)
    sizes: list[int] = []

    def watch(src, frame):
        if src is a:
            _, packet = wire_eth.parse(frame)
            ip, segment = wire_ipv4.parse(packet)
            assert not ip.is_fragment
            header, payload = wire_tcp.parse(segment, A_IP, B_IP)  # checksum complete
            if payload:
                sizes.append(len(payload))
        return [frame]

    link.filter = watch
    listener = b.tcp.listen(None, 9, 4)
    client = a.tcp.connect(None, 0, B_IP, 9, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    data = bytes(range(251)) * (TOTAL // 251)
    written, received = 0, bytearray()
    while len(received) < len(data):
        if written < len(data) and client.writable:
            written += client.write_app(data[written:])
            client.app_did_write(link.now)
        if server.readable:
            received += server.read_app(1 << 20)
            server.app_did_read(link.now)
        assert link.step(link.now + 5), "the transfer stalled"
    assert bytes(received) == data
    mss = client.sender.mss
    big = [n for n in sizes if n > mss]
    assert big and max(big) > 10 * mss, sizes[:20]  # cwnd, not the port, limits it here
    assert all(n % mss == 0 for n in big), "a TSO segment is whole MSS-sized pieces"
    assert max(sizes) <= a.tcp.tso_max
    assert a.counters.get("ipv4.tx.fragments", 0) == 0
    assert b.counters.get("eth.drop.oversized", 0) == 0
