"""Ring semantics, one thread at a time: FIFO order, bulk vs burst, counts, bad sizes."""

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.native import lib
from netstack.native.blocks import Ring

MODES = [
    pytest.param({"single_producer": True, "single_consumer": True}, id="SP/SC"),
    pytest.param({"single_producer": False, "single_consumer": True}, id="MP/SC"),
    pytest.param({"single_producer": True, "single_consumer": False}, id="SP/MC"),
    pytest.param({}, id="MP/MC"),
]


@pytest.mark.parametrize("mode", MODES)
def test_capacity_is_exactly_size(mode: dict) -> None:
    ring = Ring(8, **mode)
    assert ring.capacity == 8
    assert ring.enqueue_burst(range(100)) == 8
    assert ring.count() == len(ring) == 8
    assert ring.free_count() == 0
    assert not ring.enqueue(99)
    assert ring.dequeue_burst(100) == list(range(8))
    assert ring.dequeue() is None


@pytest.mark.parametrize("mode", MODES)
def test_single_enqueue_dequeue_is_fifo_across_many_wraps(mode: dict) -> None:
    ring = Ring(4, **mode)
    for start in range(0, 1000, 3):
        for v in range(start, start + 3):
            assert ring.enqueue(v)
        assert [ring.dequeue() for _ in range(3)] == [start, start + 1, start + 2]
    assert ring.count() == 0


def test_bulk_enqueue_is_all_or_nothing() -> None:
    ring = Ring(8)
    assert ring.enqueue_bulk([1, 2, 3, 4, 5])
    assert not ring.enqueue_bulk([6, 7, 8, 9])  # 4 do not fit in 3 free slots
    assert ring.count() == 5
    assert not ring.enqueue_bulk(range(9))  # more than the capacity
    assert ring.enqueue_bulk((6, 7, 8))
    assert ring.free_count() == 0
    assert ring.enqueue_bulk([])  # nothing to add always succeeds
    assert ring.dequeue_burst(8) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_bulk_dequeue_is_all_or_nothing() -> None:
    ring = Ring(8)
    ring.enqueue_burst([10, 11, 12])
    assert ring.dequeue_bulk(4) is None
    assert ring.dequeue_bulk(9) is None  # more than the capacity
    assert ring.count() == 3
    assert ring.dequeue_bulk(0) == []
    assert ring.dequeue_bulk(2) == [10, 11]
    assert ring.dequeue_bulk(1) == [12]
    assert ring.dequeue_bulk(1) is None


def test_burst_moves_what_it_can() -> None:
    ring = Ring(8)
    assert ring.enqueue_burst(range(5)) == 5
    assert ring.enqueue_burst(iter([5, 6, 7, 8, 9, 10])) == 3  # generators are fine too
    assert ring.dequeue_burst(2) == [0, 1]
    assert ring.count() == 6 and ring.free_count() == 2
    assert ring.dequeue_burst(100) == [2, 3, 4, 5, 6, 7]
    assert ring.dequeue_burst(5) == []
    assert ring.enqueue_burst([]) == 0


def test_word_sized_values_round_trip() -> None:
    ring = Ring(4)
    assert ring.enqueue_bulk([0, 1, 2**64 - 1])
    assert ring.dequeue_bulk(3) == [0, 1, 2**64 - 1]


def test_out_of_range_values_are_rejected_and_nothing_is_enqueued() -> None:
    ring = Ring(4)
    with pytest.raises(OverflowError):
        ring.enqueue(-1)
    with pytest.raises(OverflowError):
        ring.enqueue_bulk([1, 2**64])
    with pytest.raises(OverflowError):
        ring.enqueue_burst([1, -5])
    assert ring.count() == 0


@pytest.mark.parametrize("size", [0, 1, 3, 6, 100, -4, 2 * lib.NS_RING_MAX_SIZE, 2.0, "8"])
def test_bad_sizes_raise_value_error(size: object) -> None:
    with pytest.raises(ValueError):
        Ring(size)  # type: ignore[arg-type]


def test_largest_size_is_accepted() -> None:
    assert Ring(lib.NS_RING_MAX_SIZE).capacity == lib.NS_RING_MAX_SIZE


def test_negative_dequeue_counts_raise() -> None:
    ring = Ring(4)
    with pytest.raises(ValueError):
        ring.dequeue_burst(-1)
    with pytest.raises(ValueError):
        ring.dequeue_bulk(-1)


@pytest.mark.parametrize("mode", MODES)
def test_counters_crossing_2_to_the_32_keep_counts_and_order(mode: dict) -> None:
    ring = Ring(8, **mode)
    lib.ns_ring_set_position(ring._ring, 2**32 - 5)  # the 32-bit positions wrap soon
    for start in range(0, 40, 6):
        assert ring.enqueue_burst(range(start, start + 6)) == 6
        assert ring.count() == 6 and ring.free_count() == 2
        assert not ring.enqueue_bulk([0, 0, 0])
        assert ring.dequeue_burst(8) == list(range(start, start + 6))
        assert ring.count() == 0 and ring.free_count() == 8


# Each operation is (name, argument); the ring must behave like a bounded deque.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.integers(0, 2**64 - 1)),
        st.tuples(st.just("dequeue"), st.none()),
        st.tuples(st.just("enqueue_bulk"), st.lists(st.integers(0, 1000), max_size=20)),
        st.tuples(st.just("enqueue_burst"), st.lists(st.integers(0, 1000), max_size=20)),
        st.tuples(st.just("dequeue_bulk"), st.integers(0, 20)),
        st.tuples(st.just("dequeue_burst"), st.integers(0, 20)),
    ),
    max_size=60,
)


@given(size_log2=st.integers(1, 4), ops=operations)
def test_ring_behaves_like_a_bounded_deque(size_log2: int, ops: list) -> None:
    size = 1 << size_log2
    ring, model = Ring(size), deque[int]()
    for name, arg in ops:
        if name == "enqueue":
            fits = len(model) < size
            assert ring.enqueue(arg) == fits
            model.extend([arg] if fits else [])
        elif name == "dequeue":
            assert ring.dequeue() == (model.popleft() if model else None)
        elif name == "enqueue_bulk":
            fits = len(model) + len(arg) <= size
            assert ring.enqueue_bulk(arg) == fits
            model.extend(arg if fits else [])
        elif name == "enqueue_burst":
            n = min(len(arg), size - len(model))
            assert ring.enqueue_burst(arg) == n
            model.extend(arg[:n])
        elif name == "dequeue_bulk":
            expected = [model.popleft() for _ in range(arg)] if arg <= len(model) else None
            assert ring.dequeue_bulk(arg) == expected
        else:
            n = min(arg, len(model))
            assert ring.dequeue_burst(arg) == [model.popleft() for _ in range(n)]
        assert ring.count() == len(model)
        assert ring.free_count() == size - len(model)
