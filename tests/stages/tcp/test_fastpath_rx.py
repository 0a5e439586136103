"""Receive fast paths must read segments exactly as the general path does: wire_tcp.parse
reuses the options it parsed last when the next segment's option bytes are the same."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.errors import MalformedPacket
from netstack.wire import tcp as wire_tcp
from netstack.wire.tcp import FLAG_ACK, TcpHeader, parse_options

OPTION_BYTES = st.one_of(
    st.builds(wire_tcp.timestamp_option_bytes, st.integers(0, 3), st.integers(0, 3)),
    st.binary(min_size=4, max_size=12).map(lambda b: b[: len(b) // 4 * 4]),
)


def segment_with(option_bytes):
    header = wire_tcp.build(TcpHeader(1, 2, 3, 4, FLAG_ACK, 5))
    offset_flags = ((20 + len(option_bytes)) // 4) << 12 | FLAG_ACK
    return (header[:12] + offset_flags.to_bytes(2, "big") + header[14:20] + option_bytes
            + b"payload")


@given(st.lists(OPTION_BYTES, min_size=1, max_size=6))
def test_parsing_a_run_of_segments_gives_what_a_fresh_parse_gives(runs):
    for option_bytes in runs:
        try:
            expected = parse_options(option_bytes)
        except MalformedPacket:
            with pytest.raises(MalformedPacket):
                wire_tcp.parse(segment_with(option_bytes))
            continue
        header, data = wire_tcp.parse(segment_with(option_bytes))
        assert header.options == expected
        assert bytes(data) == b"payload"
