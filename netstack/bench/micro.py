"""The native pieces against their pure-Python references: ring bursts and checksums."""

from __future__ import annotations

import collections
import os

from netstack.bench.common import BenchError, Result, Settings, best_rates

BURST = 32
RING_SIZE = 1024
CHECKSUM_SIZES = (64, 576, 1500)


def bench_ring(settings: Settings) -> list[Result]:
    try:
        from netstack.native.blocks import Ring
    except ImportError as exc:
        raise BenchError(f"netstack.native is not built (make native): {exc}") from exc

    batch = list(range(BURST))
    # The dispatch loop is the one producer and the one consumer of its rings.
    ring = Ring(RING_SIZE, single_producer=True, single_consumer=True)
    queue: collections.deque[int] = collections.deque()

    def ring_bursts(n: int) -> None:
        enqueue, dequeue = ring.enqueue_burst, ring.dequeue_burst
        for _ in range(n):
            enqueue(batch)
            dequeue(BURST)

    def deque_bursts(n: int) -> None:
        # The ring never fills here (32 in, 32 out), so extend() is what enqueue_burst does.
        extend, popleft = queue.extend, queue.popleft
        for _ in range(n):
            extend(batch)
            [popleft() for _ in range(min(BURST, len(queue)))]

    ring_rate, deque_rate = best_rates(ring_bursts, deque_bursts, settings)
    return [
        Result(
            name=f"ring burst x{BURST}",
            unit="items/s",
            subject_label="native.Ring",
            subject=ring_rate * BURST,
            reference_label="deque",
            reference=deque_rate * BURST,
            higher_is_better=True,
        )
    ]


def bench_checksum(settings: Settings) -> list[Result]:
    from netstack import native

    if not native.BUILT:
        raise BenchError(f"netstack.native is not built (make native): {native.NOT_BUILT_REASON}")
    from netstack.checksum import py_internet_checksum
    from netstack.native.checksum import internet_checksum

    results = []
    for size in CHECKSUM_SIZES:
        data = os.urandom(size)
        if internet_checksum(data) != py_internet_checksum(data):
            raise BenchError(f"native and Python checksums disagree on {size} bytes")

        def native(n: int, data: bytes = data) -> None:
            for _ in range(n):
                internet_checksum(data)

        def python(n: int, data: bytes = data) -> None:
            for _ in range(n):
                py_internet_checksum(data)

        native_rate, python_rate = best_rates(native, python, settings)
        results.append(
            Result(
                name=f"checksum {size} B",
                unit="MB/s",
                subject_label="native",
                subject=native_rate * size / 1e6,
                reference_label="python",
                reference=python_rate * size / 1e6,
                higher_is_better=True,
            )
        )
    return results
