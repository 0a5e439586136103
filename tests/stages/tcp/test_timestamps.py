"""RFC 7323 timestamps and RFC 2018 SACK-permitted: who offers what, what is used, the options
on every segment and the room they take; RTT samples from echoed timestamps feeding the RTO
(RFC 6298, with RFC 7323 Appendix G's weights)."""

import math

import pytest

from netstack.stages.tcp import TcpConfig, TcpState
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import (
    FLAG_FIN,
    FLAG_RST,
    NOP,
    SACK_PERMITTED,
    MssOption,
    SackPermittedOption,
    TimestampOption,
    WindowScaleOption,
)

from .options_peer import (
    ACK,
    PEER_MSS,
    PEER_TSVAL,
    SYN,
    TS_BYTES,
    OptionsPeer,
    open_connection,
    sack_of,
    syn_offer,
    timestamp_of,
)
from .states import PEER_ISN, STACK_ISN, listen, syn_sent

OFF = TcpConfig(timestamps=False, sack=False)


def offers(segment) -> tuple[bool, bool]:
    """(timestamps, SACK-permitted) in a SYN or SYN-ACK."""
    options = segment.options
    return (any(isinstance(o, TimestampOption) for o in options),
            any(isinstance(o, SackPermittedOption) for o in options))


# --- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize("peer_ts", [True, False])
@pytest.mark.parametrize("peer_sack", [True, False])
@pytest.mark.parametrize("ours", [True, False], ids=["we-offer", "we-do-not"])
def test_passive_open_uses_an_option_only_when_both_syns_carry_it(peer_ts, peer_sack, ours):
    config = TcpConfig() if ours else OFF
    p, syn_ack = open_connection(ts=peer_ts, sack=peer_sack, config=config)
    # RFC 7323 §3.2, RFC 2018 §2: a SYN-ACK only carries what the SYN offered.
    assert offers(syn_ack) == (peer_ts and ours, peer_sack and ours)
    assert p.conn.timestamps.enabled == (peer_ts and ours)
    assert p.conn.sender.sack.enabled == p.conn.receiver.sack_enabled == (peer_sack and ours)


def test_our_syn_offers_both_word_aligned_and_nothing_when_turned_off():
    on, off = (decode_tcp(syn_sent(config).harness.last_frame) for config in (None, OFF))
    assert on is not None and off is not None
    stamp = timestamp_of(on)
    assert stamp is not None and stamp.tsecr == 0  # RFC 7323 §3.2: no echo in a SYN
    scale = on.options[-1]
    assert isinstance(scale, WindowScaleOption)
    assert on.options == (MssOption(1460), SACK_PERMITTED, stamp, NOP, scale)
    assert on.header.header_len == 20 + 20  # 4 + 2 + 10 + 1 + 3: word-aligned
    assert off.options == (MssOption(1460), NOP, scale)


@pytest.mark.parametrize("peer_ts", [True, False])
@pytest.mark.parametrize("peer_sack", [True, False])
def test_active_open_uses_what_the_syn_ack_carries(peer_ts, peer_sack):
    s = syn_sent()
    s.peer.send(SYN | ACK, seq=PEER_ISN, ack=STACK_ISN + 1,
                options=syn_offer(peer_ts, peer_sack, tsval=777))
    ack = s.peer.expect(ACK, ack=PEER_ISN + 1)
    assert s.conn is not None and s.conn.state == TcpState.ESTABLISHED
    assert s.conn.timestamps.enabled == peer_ts
    assert s.conn.sender.sack.enabled == peer_sack
    stamp = timestamp_of(ack)
    if peer_ts:
        assert stamp is not None and stamp.tsecr == 777  # TS.Recent from the SYN-ACK
    else:
        assert ack.options == ()


# --- options on every segment, and the room they take ----------------------------------------


def test_every_segment_carries_a_timestamp_echoing_ts_recent():
    p, _ = open_connection()
    p.conn.options.nodelay = True
    p.conn.write_app(b"a" * 3000)
    p.conn.app_did_write(p.scene.now)
    first = p.expect(ACK, seq=p.ack, payload=b"a" * (PEER_MSS - TS_BYTES))
    second = p.expect(ACK, seq=p.ack + PEER_MSS - TS_BYTES)
    third = p.expect(ACK, payload=b"a" * (3000 - 2 * (PEER_MSS - TS_BYTES)))
    for segment in (first, second, third):
        assert segment.options[:2] == (NOP, NOP)  # word-aligned: NOP NOP TS
        assert timestamp_of(segment) == TimestampOption(p.conn.timestamps.clock(p.scene.now),
                                                        PEER_TSVAL)
    p.scene.peer_ack += 3000
    p.tsval += 5
    p.send(ACK, data=b"hello")
    p.scene.peer_seq += 5
    p.advance(0.2)
    ack = p.expect(ACK, ack=p.seq)  # the delayed ACK
    assert timestamp_of(ack).tsecr == PEER_TSVAL + 5
    p.conn.shutdown_write(p.scene.now)
    fin = p.expect(FIN_ACK)
    assert timestamp_of(fin) is not None


FIN_ACK = FLAG_FIN | ACK


def test_a_rst_carries_a_timestamp_too():
    p, _ = open_connection()
    p.conn.abort(p.scene.now)
    rst = p.expect(FLAG_RST | ACK)
    assert timestamp_of(rst) is not None and sack_of(rst) == ()


def test_without_timestamps_segments_carry_no_options_and_a_full_mss():
    p, _ = open_connection(ts=False, sack=False)
    p.conn.options.nodelay = True
    p.conn.write_app(b"b" * 2000)
    p.conn.app_did_write(p.scene.now)
    first = p.expect(ACK, payload=b"b" * PEER_MSS)
    assert first.options == () and first.header.header_len == 20


def test_frames_never_exceed_the_mtu_with_timestamps_and_sack_blocks():
    # RFC 6691: the data shrinks by the option bytes, SACK blocks included, so an IP packet
    # stays within 1500 bytes even with 40 bytes of options.
    p, _ = open_connection()
    p.conn.options.nodelay = True
    for hole in range(3):  # three out-of-order blocks held: three SACK blocks on our ACKs
        p.send(ACK, seq=p.seq + 100 * (2 * hole + 1), data=b"x" * 100)
        p.expect(ACK, ack=p.seq)
    p.conn.write_app(b"c" * 4000)
    p.conn.app_did_write(p.scene.now)
    segment = p.expect(ACK, seq=p.ack)
    assert len(sack_of(segment)) == 3
    option_bytes = segment.header.header_len - 20
    assert option_bytes == TS_BYTES + 4 + 3 * 8 == 40
    assert len(segment.payload) == PEER_MSS - option_bytes
    assert 20 + segment.header.header_len + len(segment.payload) == 1500


# --- RTT samples from timestamps (RFC 7323 §4, RFC 6298) ---------------------------------------


def test_the_handshake_rtt_comes_from_the_echoed_syn_ack_timestamp():
    p, _ = open_connection_after(0.120)
    rto = p.conn.sender.rto
    assert rto.srtt == pytest.approx(0.120) and rto.rttvar == pytest.approx(0.060)
    assert rto.rto == pytest.approx(0.120 + 4 * 0.060)  # RFC 6298 §2.2


def open_connection_after(rtt: float):
    """Like open_connection, with `rtt` seconds between our SYN-ACK and the peer's ACK."""
    s = listen()
    s.peer.send(SYN, seq=PEER_ISN, options=syn_offer(True, True))
    p = OptionsPeer(s, True, True)
    syn_ack = p.expect(SYN | ACK)
    s.peer_seq, s.peer_ack = PEER_ISN + 1, STACK_ISN + 1
    p.advance(rtt)
    p.send(ACK)
    s.conn = s.listener.accept_queue.popleft()
    return p, syn_ack


def test_each_ack_of_new_data_is_a_sample_weighted_by_the_samples_per_rtt():
    p, _ = open_connection_after(0.100)
    rto = p.conn.sender.rto
    p.conn.options.nodelay = True
    mss = p.conn.sender.mss
    p.conn.write_app(b"d" * 10 * mss)
    p.conn.app_did_write(p.scene.now)
    for _ in range(10):
        p.expect(ACK)
    srtt, rttvar = rto.srtt, rto.rttvar
    p.advance(0.300)
    p.tsval += 300
    p.scene.peer_ack += 2 * mss
    p.send(ACK)  # acknowledges 2 of 10 segments, echoing their TSval: R = 0.3 s
    # RFC 7323 Appendix G: ExpectedSamples = ceiling(FlightSize / (2 * SMSS)) = 5.
    alpha, beta = 1 / 8 / 5, 1 / 4 / 5
    rttvar = (1 - beta) * rttvar + beta * abs(srtt - 0.3)
    srtt = (1 - alpha) * srtt + alpha * 0.3
    assert rto.srtt == pytest.approx(srtt) and rto.rttvar == pytest.approx(rttvar)
    assert rto.rto == pytest.approx(max(srtt + 4 * rttvar, 0.2))
    assert math.ceil(10 * mss / (2 * mss)) == 5


def test_a_retransmission_is_timed_too_and_ends_the_backoff():
    # No Karn's rule with timestamps: the echo says which copy the ACK is for.
    p, _ = open_connection_after(0.050)
    rto = p.conn.sender.rto
    p.conn.write_app(b"e" * 100)
    p.conn.app_did_write(p.scene.now)
    p.expect(ACK, payload=b"e" * 100)
    p.advance(rto.rto)
    p.expect(ACK, payload=b"e" * 100)  # the retransmission, with a new TSval
    assert rto.backoffs == 1
    p.advance(0.080)
    p.scene.peer_ack += 100
    p.send(ACK)
    assert rto.backoffs == 0
    expected_rttvar = 0.75 * 0.025 + 0.25 * abs(0.050 - 0.080)
    assert rto.rttvar == pytest.approx(expected_rttvar)
    assert rto.srtt == pytest.approx(0.875 * 0.050 + 0.125 * 0.080)


def test_an_echo_from_the_future_is_no_sample():
    p, _ = open_connection_after(0.050)
    rto = p.conn.sender.rto
    srtt = rto.srtt
    p.conn.write_app(b"f" * 100)
    p.conn.app_did_write(p.scene.now)
    p.expect(ACK)
    p.advance(0.010)
    p.scene.peer_ack += 100
    p.send(ACK, tsecr=(p.echo + 100_000) & 0xFFFFFFFF)
    assert rto.srtt == srtt
