"""The native mbuf pool (native/ns_pool.c, netstack/engine/native_pool.py), without root.

The native engine's C thread takes buffers from this pool while Python takes and returns
them too, so: no buffer is ever handed out twice, none is lost, and an Mbuf over native
memory behaves like one over a bytearray for every way the stages write into it.
"""

import struct
import threading
from ipaddress import IPv4Address, IPv4Interface

import pytest

from netstack.engine.native_pool import AVAILABLE, NativeMbufPool, pack_word, unpack_word
from netstack.mbuf import BUFFER_SIZE, HEADROOM, Mbuf

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="the native module is not built")


def test_a_fresh_pool_hands_out_every_buffer_once_then_none():
    pool = NativeMbufPool(100)
    taken = [pool.alloc() for _ in range(100)]
    assert sorted(m.index for m in taken) == list(range(100))
    assert pool.alloc() is None
    assert pool.available == 0
    for m in taken:
        pool.free(m)
    assert pool.available == 100


def test_a_native_mbuf_takes_every_kind_of_write_a_stage_does():
    pool = NativeMbufPool(4)
    m = pool.alloc()
    assert isinstance(m.buf, memoryview) and not m.buf.readonly
    assert len(m.buf) == BUFFER_SIZE and m.data_off == HEADROOM
    m.set_data(b"payload")
    offset = m.prepend(4)
    struct.pack_into("!HH", m.buf, offset, 0x1234, 0x5678)  # header writers use pack_into
    m.buf[offset + 1 : offset + 3] = b"\xaa\xbb"  # and same-length slice assignment
    assert m.tobytes() == b"\x12\xaa\xbb\x78payload"
    assert bytes(m.data()[4:]) == b"payload"  # memoryview slicing
    m.adj(4)
    m.trim(3)
    assert m.tobytes() == b"payl"
    # The buffers are disjoint slices of one block: writing one never touches its neighbour.
    other = pool.alloc()
    other.buf[:] = bytes(BUFFER_SIZE)
    assert m.tobytes() == b"payl"


def test_the_stack_answers_a_ping_from_native_buffers():
    from netstack.stack import Stack, StackConfig
    from netstack.wire import ethernet, icmp, ipv4

    pool = NativeMbufPool(64)
    ours, peer_mac = bytes([2, 0, 0xC0, 0, 2, 2]), bytes([2, 0, 0xC0, 0, 2, 1])
    stack = Stack(StackConfig(mac=ours, address=IPv4Interface("192.0.2.2/24"),
                              static_arp={IPv4Address("192.0.2.1"): peer_mac}), pool)
    stack.start(0.0)
    stack.outgoing.clear()
    request = ethernet.build(
        ethernet.EthernetHeader(ours, peer_mac, ethernet.ETHERTYPE_IPV4),
        ipv4.build(ipv4.IPv4Header(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2"),
                                   ipv4.PROTO_ICMP),
                   icmp.build(icmp.IcmpHeader.echo_request(7, 1), b"native")))
    frame_in = pool.alloc()
    frame_in.set_data(request)
    stack.receive(frame_in.data(), 0.0)
    (reply,) = stack.outgoing
    assert isinstance(reply.buf, memoryview)
    eth, packet = ethernet.parse(reply.data())
    ip, message = ipv4.parse(packet)
    header, payload = icmp.parse(message)
    assert (eth.dst, ip.dst, header.type, bytes(payload)) == (
        peer_mac, IPv4Address("192.0.2.1"), icmp.TYPE_ECHO_REPLY, b"native")


def test_ring_words_carry_index_offset_and_length():
    m = Mbuf(4095)
    m.data_off, m.data_len = 100, 1514
    word = pack_word(m)
    assert unpack_word(word) == (4095, 100, 1514)
    assert word == 4095 | 100 << 32 | 1514 << 48


def test_two_threads_allocating_and_freeing_never_share_a_buffer():
    pool = NativeMbufPool(64)
    owner: dict[int, int] = {}
    errors: list[str] = []
    start = threading.Barrier(2)

    def worker(me: int) -> None:
        start.wait()
        held = []
        for round_ in range(20_000):
            m = pool.alloc()
            if m is not None:
                # setdefault is atomic: if the index is already owned, someone else has it.
                if owner.setdefault(m.index, me) != me:
                    errors.append(f"buffer {m.index} allocated twice")
                held.append(m)
            if len(held) > 20 or (m is None and held) or round_ % 7 == 0:
                while held:
                    freed = held.pop()
                    del owner[freed.index]
                    pool.free(freed)
        for m in held:
            del owner[m.index]
            pool.free(m)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.available == 64


def test_two_threads_in_c_take_and_return_each_buffer_exactly_once():
    """Straight at the C pool: cffi drops the GIL in each call, so these really overlap."""
    from netstack.native import ffi, lib

    pool = NativeMbufPool(256)
    seen = [0] * 256
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        scratch = ffi.new("uintptr_t[]", 32)
        for _ in range(5_000):
            got = lib.ns_pool_get_burst(pool.handle, scratch, 32)
            indices = ffi.unpack(scratch, got)
            with lock:
                for i in indices:
                    seen[i] += 1
                    if seen[i] != 1:
                        errors.append(f"buffer {i} taken twice")
                for i in indices:
                    seen[i] -= 1
            assert lib.ns_pool_put_bulk(pool.handle, scratch, got) == got

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert lib.ns_pool_available(pool.handle) == 256
