"""Rings under real concurrency: every value arrives exactly once, each producer in order.

Two levels:
- C stress loops (ns_selftest.c) run producers and consumers without the GIL for their
  whole run, so the ring's atomics really race: this tests the algorithm.
- Python threads call the same `Ring` object: cffi releases the GIL inside each call,
  so the C calls still overlap. This tests the wrapper too (its reusable arrays).

Every value is (producer << 24 | sequence number). A consumer sees the ring's order, in
which each producer's values are in sequence, so within one consumer's list each
producer's sequence numbers must increase, in every mode.
"""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from netstack.native import ffi, lib
from netstack.native.blocks import Ring

SHIFT = 24
RING_SIZE = 64  # small, so the ring is often full and often empty
JOIN_TIMEOUT = 60.0

MODES = [
    pytest.param(True, True, id="SP/SC"),
    pytest.param(False, True, id="MP/SC"),
    pytest.param(True, False, id="SP/MC"),
    pytest.param(False, False, id="MP/MC"),
]


def thread_counts(single_producer: bool, single_consumer: bool) -> tuple[int, int]:
    return (1 if single_producer else 4), (1 if single_consumer else 4)


def run_in_threads(targets: list[Callable[[], None]]) -> None:
    """Start all targets together, wait for them, re-raise the first failure."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def run(target: Callable[[], None]) -> None:
        try:
            start.wait()
            target()
        except BaseException as exc:  # noqa: BLE001  (reported below, in the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} threads never finished: entries were lost or duplicated"
    if errors:
        raise errors[0]


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def check_delivery(received: list[list[int]], producers: int, per_producer: int) -> None:
    counts = Counter(v for got in received for v in got)
    duplicated = sorted(v for v, c in counts.items() if c > 1)
    expected = {(p << SHIFT) | s for p in range(producers) for s in range(per_producer)}
    missing = sorted(expected - counts.keys())
    unexpected = sorted(counts.keys() - expected)
    assert not duplicated, f"{len(duplicated)} values received twice, e.g. {duplicated[:5]}"
    assert not missing, f"{len(missing)} values lost, e.g. {missing[:5]}"
    assert not unexpected, f"{len(unexpected)} values never sent, e.g. {unexpected[:5]}"
    for consumer, got in enumerate(received):
        last_seq: dict[int, int] = {}
        for value in got:
            producer, seq = value >> SHIFT, value & ((1 << SHIFT) - 1)
            assert seq > last_seq.get(producer, -1), (
                f"consumer {consumer} got producer {producer}'s #{seq} after #{last_seq[producer]}"
            )
            last_seq[producer] = seq


@pytest.mark.parametrize(("single_producer", "single_consumer"), MODES)
def test_c_threads_deliver_every_value_once(single_producer: bool, single_consumer: bool):
    producers, consumers = thread_counts(single_producer, single_consumer)
    per_producer = 200_000 // producers
    ring = Ring(RING_SIZE, single_producer=single_producer, single_consumer=single_consumer)
    quotas = split(producers * per_producer, consumers)
    outputs = [ffi.new("uintptr_t[]", quota) for quota in quotas]
    handle = ring._ring  # the C loops drive the ring directly
    gate = ffi.gc(lib.ns_gate_create(producers + consumers), lib.ns_gate_free)

    def producer(p: int) -> Callable[[], None]:
        return lambda: lib.ns_ring_stress_produce(handle, p, per_producer, 32, 1000 + p, gate)

    def consumer(c: int) -> Callable[[], None]:
        return lambda: lib.ns_ring_stress_consume(handle, outputs[c], quotas[c], 32, 2000 + c, gate)

    run_in_threads(
        [producer(p) for p in range(producers)] + [consumer(c) for c in range(consumers)]
    )

    received = [ffi.unpack(out, quota) for out, quota in zip(outputs, quotas, strict=True)]
    check_delivery(received, producers, per_producer)
    assert ring.count() == 0


@pytest.mark.parametrize(("single_producer", "single_consumer"), MODES)
def test_python_threads_sharing_one_ring_deliver_every_value_once(
    single_producer: bool, single_consumer: bool
):
    producers, consumers = thread_counts(single_producer, single_consumer)
    per_producer = 50_000 if producers > 1 else 100_000
    ring = Ring(RING_SIZE, single_producer=single_producer, single_consumer=single_consumer)
    quotas = split(producers * per_producer, consumers)
    received: list[list[int]] = [[] for _ in range(consumers)]

    def produce(p: int) -> None:
        rng = random.Random(p)
        values = [(p << SHIFT) | s for s in range(per_producer)]
        sent = 0
        while sent < per_producer:
            n = min(rng.randint(1, 24), per_producer - sent)
            how = rng.random()
            if how < 0.1:
                done = 1 if ring.enqueue(values[sent]) else 0
            elif how < 0.5:
                done = n if ring.enqueue_bulk(values[sent : sent + n]) else 0
            else:
                done = ring.enqueue_burst(values[sent : sent + n])
            sent += done
            if done == 0:
                time.sleep(0)  # full: give the GIL to a consumer instead of spinning

    def consume(c: int) -> None:
        rng = random.Random(100 + c)
        got, quota = received[c], quotas[c]
        while len(got) < quota:
            n = min(rng.randint(1, 24), quota - len(got))
            how = rng.random()
            if how < 0.1:
                value = ring.dequeue()
                batch = [] if value is None else [value]
            elif how < 0.5:
                batch = ring.dequeue_bulk(n) or []
            else:
                batch = ring.dequeue_burst(n)
            got.extend(batch)
            if not batch:
                time.sleep(0)  # empty: give the GIL to a producer instead of spinning

    run_in_threads(
        [lambda p=p: produce(p) for p in range(producers)]
        + [lambda c=c: consume(c) for c in range(consumers)]
    )
    check_delivery(received, producers, per_producer)
    assert ring.count() == 0
