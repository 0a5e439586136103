"""pytest-benchmark: native.Ring bursts against a collections.deque doing the same work.

Run with `.venv/bin/pytest benchmarks/`. These measure; they never assert a speed. Both
variants share a group, so pytest-benchmark prints them side by side.
"""

from __future__ import annotations

import collections

import pytest

from netstack import native

if not native.BUILT:
    pytest.skip("native module not built (make native)", allow_module_level=True)
from netstack.native.ring import Ring  # noqa: E402

BURST = 32
RING_SIZE = 1024
BATCH = list(range(BURST))


@pytest.mark.benchmark(group=f"ring burst x{BURST}")
def test_native_ring_burst(benchmark) -> None:
    # One producer and one consumer, as in the dispatch loop.
    ring = Ring(RING_SIZE, single_producer=True, single_consumer=True)

    def burst() -> list[int]:
        ring.enqueue_burst(BATCH)
        return ring.dequeue_burst(BURST)

    assert benchmark(burst) == BATCH


@pytest.mark.benchmark(group=f"ring burst x{BURST}")
def test_deque_burst(benchmark) -> None:
    queue: collections.deque[int] = collections.deque()

    def burst() -> list[int]:
        # 32 in, 32 out: the ring never fills, so extend() is what enqueue_burst does.
        queue.extend(BATCH)
        return [queue.popleft() for _ in range(min(BURST, len(queue)))]

    assert benchmark(burst) == BATCH
