"""SACK and timestamps end to end: two stacks over a link losing 5% of frames (seeded, so
the run is deterministic), 1 MB one way. With both options on (the default) the transfer
finishes sooner, in virtual time, and with fewer retransmission timeouts than with both off:
RFC 6675 repairs every hole of a window in one round trip where NewReno needs one per hole."""

import random

from netstack.stages.tcp import TcpConfig

from .support import B_IP, Link, two_stacks

SIZE = 1_000_000
LOSS = 0.05


def transfer(config: TcpConfig, seed: int) -> tuple[float, int, int]:
    """(seconds, timeouts, SACK recoveries) to move SIZE bytes from stack A to stack B."""
    a, b = two_stacks(config)
    rng = random.Random(seed)
    link = Link(a, b, delay=0.005)
    link.filter = lambda _src, frame: [] if rng.random() < LOSS else [frame]
    listener = b.tcp.listen(None, 7, 4)
    client = a.tcp.connect(None, 0, B_IP, 7, 0.0)
    link.run_until(lambda: bool(listener.accept_queue), timeout=60)
    server = listener.accept_queue.popleft()
    data = bytes(i * 7 % 251 for i in range(SIZE))
    sent, received = 0, bytearray()
    start = link.now
    while len(received) < SIZE:
        if sent < SIZE:
            n = client.write_app(data[sent : sent + 65536])
            if n:
                sent += n
                client.app_did_write(link.now)
        chunk = server.read_app(1 << 20)
        if chunk:
            received += chunk
            server.app_did_read(link.now)
        if not link.step(link.now + 5.0):
            link.run(0.001)
        assert link.now - start < 120, f"stalled at {len(received)} bytes"
    assert bytes(received) == data
    counters = a.counters
    return link.now - start, counters["tcp.tx.timeout"], counters["tcp.tx.sack_recovery"]


def test_sack_recovers_from_random_loss_faster_and_with_fewer_timeouts():
    with_sack = [transfer(TcpConfig(), seed) for seed in range(3)]
    without = [transfer(TcpConfig(sack=False, timestamps=False), seed) for seed in range(3)]
    assert all(recoveries > 0 for _, _, recoveries in with_sack)
    assert all(recoveries == 0 for _, _, recoveries in without)
    assert sum(t for t, _, _ in with_sack) < sum(t for t, _, _ in without)
    assert sum(n for _, n, _ in with_sack) < sum(n for _, n, _ in without)
