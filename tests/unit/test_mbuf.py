"""Mbufs: headers are prepended in place and stripped without copying the payload."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.mbuf import HEADROOM, Mbuf, MbufError, MbufPool


def test_prepend_writes_headers_in_front_of_the_payload():
    m = Mbuf()
    m.set_data(b"payload")
    payload_addr = m.data_off
    off = m.prepend(4)
    m.buf[off : off + 4] = b"HDR:"
    assert m.tobytes() == b"HDR:payload"
    assert m.data_off == payload_addr - 4, "the payload must not move"


def test_adj_and_trim_strip_without_copying():
    m = Mbuf.from_bytes(b"ethhdr|ip|data|pad")
    m.adj(len(b"ethhdr|"))
    m.trim(len(b"|pad"))
    assert m.tobytes() == b"ip|data"
    view = m.data()
    m.buf[m.data_off] = ord("I")
    assert bytes(view[:1]) == b"I", "data() is a view of the buffer, not a copy"


def test_running_out_of_room_raises_mbuf_error():
    m = Mbuf(size=HEADROOM + 8)
    with pytest.raises(MbufError):
        m.prepend(HEADROOM + 1)
    m.append(8)
    with pytest.raises(MbufError):
        m.append(1)
    with pytest.raises(MbufError):
        m.adj(9)
    with pytest.raises(MbufError):
        m.set_data(b"x" * 9)


# Five headers of at most 25 bytes always fit the 128-byte headroom.
@given(st.lists(st.binary(max_size=25), max_size=5), st.binary(max_size=500))
def test_prepending_headers_equals_concatenation(headers, payload):
    m = Mbuf()
    m.set_data(payload)
    for header in reversed(headers):
        off = m.prepend(len(header))
        m.buf[off : off + len(header)] = header
    assert m.tobytes() == b"".join(headers) + payload


def test_pool_hands_out_each_buffer_once_and_takes_it_back():
    pool = MbufPool(4)
    taken = [pool.alloc() for _ in range(4)]
    assert len({m.index for m in taken}) == 4
    assert pool.alloc() is None, "an empty pool returns None; the caller counts a drop"
    taken[2].set_data(b"dirty")
    pool.free(taken[2])
    again = pool.alloc()
    assert again is taken[2] and again.data_len == 0 and again.data_off == HEADROOM
    assert pool.get(again.index) is again
