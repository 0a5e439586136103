"""The cffi binding (native/dpdk/ns_dpdk.c): rte_ring bursts, rte_mbuf data as memoryviews,
the mempool, and a port's rx/tx bursts, on a real EAL.

Each test runs its check in a child process with its own EAL (see dpdk_support.run_in_eal);
the checks are the functions named `check_*`, the tests only call them.
"""

import random
from collections import deque

from tests.dpdk.dpdk_support import requires_dpdk, run_in_eal

pytestmark = requires_dpdk

POINTERS = [0x7F00_0000_0000 + 64 * i for i in range(12)]  # pointer-sized, beyond 32 bits


def check_ring_burst_semantics() -> None:
    from netstack.engine.dpdk_eal import DpdkRing

    ring = DpdkRing(8, single_producer=True, single_consumer=True)
    assert ring.capacity == 8, "RING_F_EXACT_SZ: room for exactly the size asked"
    assert ring.dequeue_burst(4) == [] and ring.dequeue() is None
    assert ring.enqueue_burst(POINTERS) == 8, "a burst enqueues as many as fit"
    assert (ring.count(), ring.free_count()) == (8, 0)
    assert ring.enqueue_burst([1]) == 0 and not ring.enqueue_bulk([1])
    assert ring.dequeue_burst(3) == POINTERS[:3], "first in, first out"
    assert not ring.enqueue_bulk([1, 2, 3, 4]), "a bulk is all or nothing: 3 free, 4 asked"
    assert ring.count() == 5
    assert ring.enqueue_bulk([7, 8, 9])
    assert ring.dequeue_bulk(9) is None and ring.count() == 8, "nothing taken by a failed bulk"
    assert ring.dequeue_burst(100) == POINTERS[3:8] + [7, 8, 9]
    assert ring.dequeue_burst(4) == []
    ring.close()


def check_ring_matches_a_fifo_model(seed: int) -> None:
    """Random bursts against a deque: wrap-around many times, same answers throughout."""
    from netstack.engine.dpdk_eal import DpdkRing

    rng = random.Random(seed)
    ring = DpdkRing(16)  # multi-producer/multi-consumer mode this time
    model: deque[int] = deque()
    next_value = 1
    for _ in range(2000):
        if rng.random() < 0.5:
            batch = list(range(next_value, next_value + rng.randint(0, 20)))
            next_value += len(batch)
            accepted = ring.enqueue_burst(batch)
            assert accepted == min(len(batch), 16 - len(model))
            model.extend(batch[:accepted])
        else:
            want = rng.randint(0, 20)
            expected = [model.popleft() for _ in range(min(want, len(model)))]
            assert ring.dequeue_burst(want) == expected
        assert ring.count() == len(model)
    ring.close()


def check_mbuf_data_is_the_rte_mbuf_memory() -> None:
    from netstack.engine.dpdk_eal import ffi, lib
    from netstack.engine.dpdk_pool import DpdkMbufPool

    pool = DpdkMbufPool(63, name="roundtrip")
    m = pool.alloc()
    m.set_data(b"payload")
    offset = m.prepend(4)
    m.buf[offset : offset + 4] = b"head"
    lib.ns_dpdk_mbuf_set_data(m.index, m.data_off, m.data_len)
    mtod = lib.ns_dpdk_mbuf_mtod(m.index)  # rte_pktmbuf_mtod, seen from C
    assert int(ffi.cast("uintptr_t", ffi.from_buffer(m.data()))) == mtod, "a view, not a copy"
    assert ffi.buffer(ffi.cast("char *", mtod), m.data_len)[:] == b"headpayload"
    ffi.memmove(ffi.cast("char *", mtod), b"HEAD", 4)  # C writes; Python sees it at once
    assert m.tobytes() == b"HEADpayload"
    assert lib.ns_dpdk_mbuf_data_len(m.index) == 11
    pool.free(m)
    pool.close()


def check_pool_runs_dry_and_refills() -> None:
    from netstack.engine.dpdk_pool import DpdkMbufPool

    pool = DpdkMbufPool(127, name="dry")
    assert pool.available == 127
    taken = []
    while (m := pool.alloc()) is not None:
        taken.append(m)
    assert len(taken) == 127 and len({m.index for m in taken}) == 127
    assert pool.available == 0 and pool.alloc() is None
    for m in taken:
        pool.free(m)
    assert pool.available == 127
    pool.close()


def check_frames_round_trip_through_a_pmd() -> None:
    """tx_burst then rx_burst on the ring PMD (a loopback): the same bytes come back, in
    the same rte_mbufs (the PMD passes pointers), with data_off kept."""
    from netstack.engine.dpdk_pool import DpdkMbufPool
    from netstack.engine.ports.dpdk import DpdkPort
    from netstack.mbuf import Mbuf

    pool = DpdkMbufPool(511, name="loop")
    port = DpdkPort("net_ring0", pool=pool)
    up, _speed, _duplex = port.link()
    assert up, "the ring PMD's link is up once started"
    frames = [bytes([i]) * (60 + 17 * i) for i in range(40)]
    mbufs = []
    for i, frame in enumerate(frames):
        m = pool.alloc()
        m.data_off -= i % 8  # a different data_off for each
        m.set_data(frame)
        mbufs.append(m)
    sent = [(m.index, m.data_off) for m in mbufs]
    assert port.tx_burst(mbufs) == 40
    received = port.rx_burst(pool, 64)
    assert [m.tobytes() for m in received] == frames
    assert [(m.index, m.data_off) for m in received] == sent
    for m in received:
        pool.free(m)
    # An mbuf from outside the pool is copied into one of ours: a PMD sends only rte_mbufs.
    assert port.tx_burst([Mbuf.from_bytes(b"x" * 60)]) == 1
    (echoed,) = port.rx_burst(pool, 64)
    assert echoed.tobytes() == b"x" * 60 and port.counters.get("port.tx_copied") == 1
    pool.free(echoed)
    port.close()
    pool.close()


def check_the_engine_runs_a_stack_over_rte_rings() -> None:
    """The same Stack, on DpdkEngine: its gratuitous ARP goes out through tx_burst, comes
    back through rx_burst and the in rte_ring, and the ARP stage drops its own packet."""
    from ipaddress import IPv4Interface

    from netstack.clock import VirtualClock
    from netstack.counters import Counters
    from netstack.engine.dpdk_eal import DpdkRing
    from netstack.engine.dpdk_engine import DpdkEngine
    from netstack.engine.dpdk_pool import DpdkMbufPool
    from netstack.engine.ports.dpdk import DpdkPort
    from netstack.stack import Stack, StackConfig

    pool = DpdkMbufPool(511, name="engine")
    counters = Counters()
    stack = Stack(StackConfig(mac=bytes.fromhex("020000000002"),
                              address=IPv4Interface("192.0.2.2/24")), pool, counters)
    engine = DpdkEngine(stack, DpdkPort("net_ring0", pool=pool, counters=counters), pool,
                        clock=VirtualClock(0.0))
    assert isinstance(engine.in_ring, DpdkRing) and isinstance(engine.out_ring, DpdkRing)
    available = pool.available
    for _ in range(3):
        engine.run_once(timeout=0)
    assert counters.get("port.tx") == 1 and counters.get("port.rx") == 1
    assert counters.get("arp.drop.own_packet") == 1
    assert pool.available == available, "every mbuf went back to the mempool"
    engine.close()  # closes the port, the rings, the pool and the EAL


def test_ring_bursts_take_what_fits_and_bulks_all_or_nothing():
    run_in_eal(check_ring_burst_semantics)


def test_ring_agrees_with_a_fifo_model_over_random_bursts():
    run_in_eal(check_ring_matches_a_fifo_model, 6)


def test_mbuf_data_is_a_zero_copy_view_of_the_rte_mbuf():
    run_in_eal(check_mbuf_data_is_the_rte_mbuf_memory)


def test_mempool_runs_dry_then_takes_every_mbuf_back():
    run_in_eal(check_pool_runs_dry_and_refills)


def test_frames_round_trip_through_the_ring_pmd_in_the_same_mbufs():
    run_in_eal(check_frames_round_trip_through_a_pmd)


def test_dpdk_engine_moves_the_stacks_frames_through_rte_rings():
    run_in_eal(check_the_engine_runs_a_stack_over_rte_rings)
