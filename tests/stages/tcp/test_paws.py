"""PAWS and TS.Recent (RFC 7323 §4.3, §5): old duplicates are dropped and answered, a RST is
never dropped for its timestamp, TS.Recent follows the Last.ACK.sent rule, the 32-bit
timestamp space wraps, and a TS.Recent older than 24 days is no longer trusted."""

from netstack.stages.tcp import TcpState
from netstack.wire.tcp import FLAG_RST

from .options_peer import ACK, PEER_TSVAL, open_connection, timestamp_of

DAY = 24 * 3600.0


def test_an_old_timestamp_is_dropped_answered_and_counted():
    p, _ = open_connection()
    p.tsval += 10
    p.send(ACK, data=b"new")  # TS.Recent is PEER_TSVAL + 10 now
    p.scene.peer_seq += 3
    p.advance(0.2)
    p.expect(ACK, ack=p.seq)
    # An old duplicate whose sequence numbers look right: the next bytes, an older TSval.
    p.send(ACK, data=b"old", tsval=PEER_TSVAL + 5)
    ack = p.expect(ACK, ack=p.seq)  # §5.3 R1: an ACK, the data not taken
    assert timestamp_of(ack).tsecr == PEER_TSVAL + 10
    assert p.conn.read_app(100) == b"new"
    assert p.counter("tcp.rx.paws_drop") == 1
    p.tsval += 1
    p.send(ACK, data=b"ok!")  # the same bytes with a current timestamp are accepted
    assert p.conn.read_app(100) == b"ok!"


def test_an_equal_timestamp_is_not_old():
    p, _ = open_connection()
    p.send(ACK, data=b"same")  # many segments share one TSval with a coarse clock
    assert p.conn.read_app(100) == b"same"
    assert p.counter("tcp.rx.paws_drop") == 0


def test_an_exact_rst_with_an_old_timestamp_still_resets_and_is_not_answered():
    # §5.3 R1 applies to segments without RST; RFC 5961's checks judge a RST.
    p, _ = open_connection()
    p.tsval += 10
    p.send(ACK)
    p.send(FLAG_RST, tsval=PEER_TSVAL)
    p.expect_nothing()
    assert p.conn.state == TcpState.CLOSED
    assert p.counter("tcp.rx.paws_drop") == 0


def test_an_inexact_rst_with_an_old_timestamp_gets_a_challenge_ack_not_a_paws_drop():
    p, _ = open_connection()
    p.tsval += 10
    p.send(ACK)
    p.send(FLAG_RST, seq=p.seq + 10, tsval=PEER_TSVAL)
    p.expect(ACK, ack=p.seq)  # RFC 5961 §3.2
    assert p.conn.state == TcpState.ESTABLISHED
    assert p.counter("tcp.rx.paws_drop") == 0
    assert p.counter("tcp.tx.challenge_ack") == 1


def test_a_segment_without_a_timestamp_is_dropped_silently():
    p, _ = open_connection()
    p.send(ACK, data=b"bare", options=())  # §3.2: SHOULD be silently dropped
    p.expect_nothing()
    assert p.conn.read_app(100) == b""
    assert p.counter("tcp.drop.no_timestamp") == 1


def test_ts_recent_keeps_the_earliest_unacknowledged_segment_with_delayed_acks():
    # §4.3: update only when SEG.SEQ <= Last.ACK.sent, so a delayed ACK for two segments
    # echoes the first one's TSval (the peer's RTT sample then includes our delay).
    p, _ = open_connection()
    p.tsval = PEER_TSVAL + 100
    p.send(ACK, data=b"a" * 100)
    p.scene.peer_seq += 100
    p.tsval = PEER_TSVAL + 200
    p.send(ACK, data=b"b" * 100)  # SEG.SEQ > Last.ACK.sent: TS.Recent stays
    p.scene.peer_seq += 100
    p.advance(0.2)
    ack = p.expect(ACK, ack=p.seq)
    assert timestamp_of(ack).tsecr == PEER_TSVAL + 100
    p.tsval = PEER_TSVAL + 300
    p.send(ACK, data=b"c")  # now SEG.SEQ == Last.ACK.sent: taken
    p.scene.peer_seq += 1
    p.advance(0.2)
    assert timestamp_of(p.expect(ACK, ack=p.seq)).tsecr == PEER_TSVAL + 300


def test_an_out_of_order_segment_does_not_move_ts_recent_but_the_one_filling_the_hole_does():
    p, _ = open_connection()
    hole = p.seq
    p.tsval = PEER_TSVAL + 50
    p.send(ACK, seq=hole + 100, data=b"z" * 100)
    ack = p.expect(ACK, ack=hole)
    assert timestamp_of(ack).tsecr == PEER_TSVAL  # §4.3 (3): still the last in-order one
    p.tsval = PEER_TSVAL + 60
    p.send(ACK, seq=hole, data=b"y" * 100)
    ack = p.expect(ACK, ack=hole + 200)
    assert timestamp_of(ack).tsecr == PEER_TSVAL + 60  # the segment that filled the hole


def test_the_timestamp_space_wraps():
    near_the_end = 2**32 - 5
    p, _ = open_connection(tsval=near_the_end)
    p.tsval = 3  # 8 ticks later, across the wrap: newer
    p.send(ACK, data=b"after the wrap")
    assert p.conn.read_app(100) == b"after the wrap"
    assert p.conn.timestamps.ts_recent == 3
    p.scene.peer_seq += len(b"after the wrap")
    p.send(ACK, data=b"old", tsval=2**32 - 10)  # before the wrap: older
    assert p.counter("tcp.rx.paws_drop") == 1
    assert p.conn.read_app(100) == b""


def test_ts_recent_older_than_24_days_is_no_longer_trusted():
    # §5.5: the peer's clock may have wrapped while the connection was idle that long.
    p, _ = open_connection()
    p.tsval += 1000
    p.send(ACK)
    p.advance(24 * DAY + 1)
    p.send(ACK, data=b"still here", tsval=PEER_TSVAL)
    assert p.conn.read_app(100) == b"still here"
    assert p.counter("tcp.rx.paws_drop") == 0
    assert p.conn.timestamps.ts_recent == PEER_TSVAL  # taken as the new TS.Recent


def test_ts_recent_younger_than_24_days_still_protects():
    p, _ = open_connection()
    p.tsval += 1000
    p.send(ACK)
    p.advance(23 * DAY)
    p.send(ACK, data=b"old", tsval=PEER_TSVAL)
    assert p.counter("tcp.rx.paws_drop") == 1
