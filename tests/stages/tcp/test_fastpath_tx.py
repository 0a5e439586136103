"""Sending fast paths must put the very same bytes on the wire as the general path:

- a burst of segments (TcpStage.begin_tx_burst, as Sender.output does) copies the first
  frame's Ethernet and IPv4 headers (Ipv4Stage.send_like) instead of routing each one;
- segments are written from plain values (wire_tcp.write_header_fields, the connection's
  option bytes) instead of through TcpHeader and TcpOption objects."""

from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.stages.tcp.stage import TcpStage
from netstack.wire import tcp as wire_tcp
from netstack.wire.tcp import (
    FLAG_ACK,
    FLAG_FIN,
    FLAG_PSH,
    NOP,
    SackOption,
    TcpHeader,
    TimestampOption,
    encode_options,
)

from ..common import PEER_IP
from .support import make_tcp_stack

U32 = st.integers(0, 2**32 - 1)
SEGMENTS = st.lists(
    st.tuples(U32, st.sampled_from([FLAG_ACK, FLAG_ACK | FLAG_PSH, FLAG_ACK | FLAG_FIN]),
              st.integers(0, 1460)),
    min_size=1, max_size=8,
)
OPTIONS = st.sampled_from([b"", wire_tcp.timestamp_option_bytes(7, 9)])


def frames_sent(segments, options, burst):
    stack = make_tcp_stack(random_seed=1)  # both paths: the same first IP ID
    stage: TcpStage = stack.tcp  # type: ignore[attr-defined]
    src = stack.config.address.ip
    base = wire_tcp.pseudo_header_base(src, PEER_IP)
    if burst:
        stage.begin_tx_burst()
    for seq, flags, length in segments:
        payload = bytes(range(256)) * 6
        stage.send_fields(src, PEER_IP, base, 80, 40000, seq, 1234, flags, 500, options, 1.0,
                          memoryview(payload)[:length] if length else None)
    stage.end_tx_burst()
    frames = [m.tobytes() for m in stack.outgoing]
    return frames, stack.counters.snapshot()


@settings(max_examples=60, deadline=None)
@given(segments=SEGMENTS, options=OPTIONS)
def test_a_burst_sends_the_same_frames_as_one_segment_at_a_time(segments, options):
    assert frames_sent(segments, options, burst=True) == frames_sent(segments, options,
                                                                       burst=False)


def test_a_burst_copies_headers_only_when_it_can():
    stack = make_tcp_stack(random_seed=1)  # both paths: the same first IP ID
    stage: TcpStage = stack.tcp  # type: ignore[attr-defined]
    src = stack.config.address.ip
    base = wire_tcp.pseudo_header_base(src, PEER_IP)
    calls = []
    original = stack.ipv4.send
    stack.ipv4.send = lambda *args, **kw: calls.append(len(args[2])) or original(*args, **kw)
    stage.begin_tx_burst()
    for length in (100, 100, 50, 1000, 1, 1000):
        stage.send_fields(src, PEER_IP, base, 80, 40000, 1, 2, FLAG_ACK, 500, b"", 1.0,
                          bytes(length))
    stage.end_tx_burst()
    # Routed: the first, the one larger than the template, the one Ethernet pads.
    assert calls == [120, 1020, 21]
    assert len(stack.outgoing) == 6


@given(src_port=st.integers(0, 0xFFFF), dst_port=st.integers(0, 0xFFFF), seq=U32, ack=U32,
       flags=st.integers(0, 0xFF), window=st.integers(0, 0xFFFF), tsval=U32, tsecr=U32,
       blocks=st.lists(st.tuples(U32, U32), max_size=3), payload=st.binary(max_size=64))
def test_segments_from_fields_match_segments_from_headers(src_port, dst_port, seq, ack, flags,
                                                          window, tsval, tsecr, blocks,
                                                          payload):
    options = (NOP, NOP, TimestampOption(tsval, tsecr))
    if blocks:
        options += (NOP, NOP, SackOption(tuple(blocks)))
    header = TcpHeader(src_port, dst_port, seq, ack, flags, window, options=options)
    option_bytes = wire_tcp.timestamp_option_bytes(tsval, tsecr)
    assert option_bytes == encode_options(options[:3])
    if blocks:
        option_bytes += wire_tcp.padded_options(options[3:])
    src, dst = make_tcp_stack().config.address.ip, PEER_IP
    from_header = wire_tcp.build(header, payload, src, dst)
    buf = bytearray(len(from_header))
    buf[len(buf) - len(payload):] = payload
    wire_tcp.write_header_fields(buf, 0, src_port, dst_port, seq, ack, flags, window,
                                 option_bytes, len(payload),
                                 wire_tcp.pseudo_header_base(src, dst))
    assert bytes(buf) == from_header


def test_a_connection_writes_the_option_bytes_of_its_option_objects():
    """`_segment_option_bytes` (per segment) against `_segment_options` (the objects):
    timestamps, and SACK blocks while data is held out of order."""
    from .support import B_IP, Link, two_stacks

    a, b = two_stacks()
    link = Link(a, b)
    listener = b.tcp.listen(None, 9, 4)
    a.tcp.connect(None, 0, B_IP, 9, 0.0)
    link.run_until(lambda: bool(listener.accept_queue))
    server = listener.accept_queue.popleft()
    assert server.timestamps.enabled and server.receiver.sack_enabled
    for blocks in ([], [(100, bytearray(10))], [(100, bytearray(10)), (300, bytearray(5))]):
        server.receiver.blocks = blocks
        for flags in (FLAG_ACK, FLAG_ACK | FLAG_PSH, wire_tcp.FLAG_RST | FLAG_ACK):
            expected = wire_tcp.padded_options(server._segment_options(flags, 2.5))
            assert server._segment_option_bytes(flags, 2.5) == expected
