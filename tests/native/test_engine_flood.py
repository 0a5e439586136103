"""The native I/O engine under a flood: every frame accounted for exactly once (root).

A TAP device in a fresh namespace is driven by the C engine thread (native/ns_engine.c);
this test plays the Python side of the rings. The kernel side is a raw AF_PACKET socket on
the TAP's kernel end, in the same namespace.

- receive: the kernel sends N numbered frames; the engine must put each on the in ring
  exactly once (port.rx == N, no ring-full drops at a pace the consumer keeps up with);
- transmit: we put N numbered frames on the out ring; the kernel must receive each once.
"""

import socket
import struct
import threading
import time

import pytest

from netstack.engine.native_loop import STAT_NAMES
from netstack.engine.native_pool import AVAILABLE, NativeMbufPool, pack_word, unpack_word
from netstack.mbuf import HEADROOM
from tests.netns import Namespace, is_root, unique_name

pytestmark = [
    pytest.mark.skipif(not is_root(), reason="needs root: creates a namespace and a TAP device"),
    pytest.mark.skipif(not AVAILABLE, reason="the native module is not built"),
]

ETHERTYPE_TEST = 0x88B5  # IEEE "local experimental": nothing in the kernel answers it
KERNEL_MAC = bytes.fromhex("020000000001")
ENGINE_MAC = bytes.fromhex("020000000002")
RX_FRAMES = 100_000
TX_FRAMES = 50_000
MAX_OUTSTANDING = 256  # frames in flight: far below every queue on the way, so none drops
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; the socket module does not name it


def numbered_frame(seq: int) -> bytes:
    header = ENGINE_MAC + KERNEL_MAC + struct.pack("!H", ETHERTYPE_TEST)
    return (header + struct.pack("!Q", seq)).ljust(60, b"\0")


class EngineOnTap:
    """The native engine on a new TAP device in `ns`, with its pool and rings."""

    def __init__(self, ns: Namespace, spin_us: int = 0) -> None:
        from netstack.engine.ports.tap import TapPort
        from netstack.native import ffi, lib
        from netstack.native.blocks import Ring

        self.lib, self.ffi = lib, ffi
        self.name = unique_name("tfl")
        self.port = ns.call(TapPort, self.name)  # the device is created in the namespace
        self.pool = NativeMbufPool(4096)
        self.in_ring = Ring(2048, single_producer=True, single_consumer=True)
        self.out_ring = Ring(1024, single_producer=True, single_consumer=True)
        handle = lib.ns_engine_create(self.port.fileno(), lib.NS_PORT_FD, self.pool.handle,
                                      self.in_ring.handle, self.out_ring.handle, HEADROOM,
                                      32, 0)
        assert handle != ffi.NULL
        self.handle = ffi.gc(handle, lib.ns_engine_free)
        lib.ns_engine_set_spin(self.handle, spin_us)
        assert lib.ns_engine_start(self.handle) == 0

    def stats(self) -> dict[str, int]:
        values = self.ffi.new("uint64_t[]", self.lib.NS_STAT_COUNT)
        self.lib.ns_engine_stats(self.handle, values)
        return dict(zip(STAT_NAMES, values, strict=True))

    def close(self) -> None:
        self.lib.ns_engine_stop(self.handle)
        self.port.close()


@pytest.fixture
def bench(request):
    spin_us = getattr(request, "param", 0)  # indirect parametrization: the C thread's spin
    with Namespace("nsfl") as ns:
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
        engine = EngineOnTap(ns, spin_us)
        try:
            ns.link_up(engine.name)

            def kernel_socket() -> socket.socket:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                     socket.htons(ETHERTYPE_TEST))
                sock.bind((engine.name, ETHERTYPE_TEST))
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
                return sock

            kernel = ns.call(kernel_socket)
            try:
                yield engine, kernel, ns
            finally:
                kernel.close()
        finally:
            engine.close()


def tap_tx_dropped(ns: Namespace, name: str) -> int:
    return int(ns.run(["cat", f"/sys/class/net/{name}/statistics/tx_dropped"]).stdout)


@pytest.mark.parametrize("bench", [0, 200], indirect=True)  # C thread: sleeps / spins
def test_a_flood_from_the_kernel_arrives_exactly_once(bench):
    engine, kernel, ns = bench
    counts = bytearray(RX_FRAMES)
    consumed = 0
    strays = 0
    done = threading.Event()

    def consume() -> None:  # the Python loop's part: take words, read the frame, free it
        nonlocal consumed, strays
        mbufs = engine.pool.mbufs
        while not done.is_set() or engine.in_ring.count():
            words = engine.in_ring.dequeue_burst(64)
            if not words:
                time.sleep(0.0002)
                continue
            for word in words:
                index, off, length = unpack_word(word)
                m = mbufs[index]
                frame = m.buf[off : off + length]
                if length == 60 and frame[12:14] == b"\x88\xb5":
                    counts[struct.unpack_from("!Q", frame, 14)[0]] += 1
                else:
                    strays += 1
                engine.pool.free(m)
            consumed += len(words)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        for seq in range(RX_FRAMES):
            kernel.send(numbered_frame(seq))
            while seq + 1 - consumed - strays > MAX_OUTSTANDING:  # pace: stay ahead of nobody
                time.sleep(0.0001)
        deadline = time.monotonic() + 10
        while consumed - strays < RX_FRAMES and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        done.set()
        consumer.join(10)
    stats = engine.stats()
    assert tap_tx_dropped(ns, engine.name) == 0, "the kernel dropped frames before the engine"
    assert stats["ring.drop.in_full"] == 0
    assert stats["port.drop.no_mbuf"] == 0
    missing = [seq for seq, n in enumerate(counts) if n == 0]
    repeated = [seq for seq, n in enumerate(counts) if n > 1]
    assert (missing[:5], repeated[:5]) == ([], [])
    assert stats["port.rx"] == RX_FRAMES + strays
    assert engine.pool.available == len(engine.pool)


@pytest.mark.parametrize("bench", [0, 200], indirect=True)  # C thread: sleeps / spins
def test_a_flood_to_the_kernel_arrives_exactly_once(bench):
    engine, kernel, ns = bench
    kernel.setblocking(False)
    counts = bytearray(TX_FRAMES)
    received = 0

    def drain() -> None:
        nonlocal received
        while True:
            try:
                frame = kernel.recv(2048)
            except BlockingIOError:
                return
            if len(frame) >= 22 and frame[12:14] == b"\x88\xb5":
                counts[struct.unpack_from("!Q", frame, 14)[0]] += 1
                received += 1

    seq = 0
    deadline = time.monotonic() + 60
    while received < TX_FRAMES and time.monotonic() < deadline:
        words = []
        while seq < TX_FRAMES and seq - received < MAX_OUTSTANDING and len(words) < 32:
            m = engine.pool.alloc()
            assert m is not None, "the engine did not give the buffers back"
            m.set_data(numbered_frame(seq))
            words.append(pack_word(m))
            seq += 1
        if words:
            assert engine.out_ring.enqueue_bulk(words)
            engine.lib.ns_engine_kick(engine.handle)
        drain()
        if not words:
            time.sleep(0.0001)
    stats = engine.stats()
    assert received == TX_FRAMES
    assert stats["port.tx"] == TX_FRAMES
    assert stats["port.drop.tx_error"] == stats["port.drop.tx_busy"] == 0
    assert [s for s, n in enumerate(counts) if n != 1][:5] == []
    assert engine.pool.available == len(engine.pool)


SPIN_FRAMES = 2_000


@pytest.mark.parametrize("bench", [200], indirect=True)  # the C thread spins 200 us when idle
def test_spin_rx_sees_each_frame_of_a_ping_pong_once(bench):
    """One frame at a time, as at one request in flight: Python waits in ns_engine_spin_rx
    (the GIL released) instead of poll(); every frame is reported once, none is lost."""
    import os

    engine, kernel, _ns = bench
    lib = engine.lib
    seen = []
    for seq in range(SPIN_FRAMES):
        kernel.send(numbered_frame(seq))
        assert lib.ns_engine_spin_rx(engine.handle, 2_000_000, -1) == 1, f"frame {seq} lost"
        for word in engine.in_ring.dequeue_burst(8):
            index, off, length = unpack_word(word)
            m = engine.pool.mbufs[index]
            if length == 60 and m.buf[off + 12 : off + 14] == b"\x88\xb5":
                seen.append(struct.unpack_from("!Q", m.buf, off + 14)[0])
            engine.pool.free(m)
    assert seen == list(range(SPIN_FRAMES))
    # Nothing arrives: the spin ends empty-handed after its time; a written fd ends it at once.
    assert lib.ns_engine_spin_rx(engine.handle, 1_000, -1) == 0
    wake = os.eventfd(1, os.EFD_NONBLOCK)
    try:
        assert lib.ns_engine_spin_rx(engine.handle, 5_000_000, wake) == 2
    finally:
        os.close(wake)
    assert engine.stats()["port.rx"] >= SPIN_FRAMES
