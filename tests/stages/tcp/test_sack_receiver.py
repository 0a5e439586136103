"""The receiver's SACK blocks (RFC 2018 §3-4): on every ACK while data is held out of order,
the block holding the latest segment first, then the most recently reported ones, as many
as fit (3 beside a timestamp, 4 without); they vanish as the holes fill."""

from netstack.stages.tcp.sack import SackReporter

from .options_peer import ACK, open_connection, sack_of

SEG = 100


def send_segments(p, base: int, indexes) -> list:
    """The peer sends segment i (SEG bytes at base + i * SEG) for each i; returns the
    stack's ACKs, one per segment."""
    acks = []
    for i in indexes:
        p.send(ACK, seq=base + i * SEG, data=bytes([65 + i]) * SEG)
        acks.append(p.expect(ACK))
    return acks


def blocks(base: int, *ranges: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """SACK blocks for segment ranges [first, last) (as segment indexes)."""
    return tuple((base + first * SEG, base + last * SEG) for first, last in ranges)


def test_the_latest_block_comes_first_then_the_recent_ones_three_beside_a_timestamp():
    p, _ = open_connection()
    base = p.seq
    acks = send_segments(p, base, [1, 3, 5, 7])  # holes at 0, 2, 4, 6
    assert [a.ack for a in acks] == [base] * 4
    assert sack_of(acks[0]) == blocks(base, (1, 2))
    assert sack_of(acks[1]) == blocks(base, (3, 4), (1, 2))
    assert sack_of(acks[2]) == blocks(base, (5, 6), (3, 4), (1, 2))
    assert sack_of(acks[3]) == blocks(base, (7, 8), (5, 6), (3, 4))  # 3 fit with TS
    assert acks[3].header.header_len == 20 + 40


def test_four_blocks_fit_without_timestamps():
    p, _ = open_connection(ts=False)
    base = p.seq
    acks = send_segments(p, base, [1, 3, 5, 7, 9])
    assert sack_of(acks[-1]) == blocks(base, (9, 10), (7, 8), (5, 6), (3, 4))
    assert acks[-1].header.header_len == 20 + 36


def test_a_segment_joining_two_blocks_reports_the_joined_block_first():
    p, _ = open_connection()
    base = p.seq
    send_segments(p, base, [1, 3, 5, 7])
    (ack,) = send_segments(p, base, [2])  # fills the hole between blocks 1 and 3
    assert sack_of(ack) == blocks(base, (1, 4), (7, 8), (5, 6))
    (ack,) = send_segments(p, base, [6])
    assert sack_of(ack) == blocks(base, (5, 8), (1, 4))


def test_blocks_vanish_as_the_holes_fill():
    p, _ = open_connection()
    base = p.seq
    send_segments(p, base, [1, 3, 5])
    (ack,) = send_segments(p, base, [0])
    assert ack.ack == base + 2 * SEG
    assert sack_of(ack) == blocks(base, (5, 6), (3, 4))
    (ack,) = send_segments(p, base, [2])
    assert ack.ack == base + 4 * SEG and sack_of(ack) == blocks(base, (5, 6))
    (ack,) = send_segments(p, base, [4])
    assert ack.ack == base + 6 * SEG and sack_of(ack) == ()
    assert p.conn.read_app(1000) == b"".join(bytes([65 + i]) * SEG for i in range(6))


def test_a_peer_that_did_not_permit_sack_gets_none():
    p, _ = open_connection(sack=False)
    base = p.seq
    acks = send_segments(p, base, [1, 3])
    assert all(sack_of(a) == () for a in acks)


def test_the_reporter_orders_and_limits_without_a_connection():
    reporter = SackReporter()
    for low in (100, 300, 500, 700, 900):
        reporter.segment_stored(low, low + 100)
    held = [(100, 200), (300, 400), (500, 600), (700, 800), (900, 1000)]
    assert reporter.blocks(held, 3) == [(900, 1000), (700, 800), (500, 600)]
    # Once delivered (no longer held), a range is forgotten and older blocks move up.
    assert reporter.blocks(held[2:], 4) == [(900, 1000), (700, 800), (500, 600)]
    assert reporter.blocks([], 4) == []
