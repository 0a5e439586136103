"""A ring laid out in shared memory: made by one process, used by another at its own address."""

import mmap
import multiprocessing
import struct

import pytest

from netstack.native import BUILT

pytestmark = pytest.mark.skipif(not BUILT, reason="needs the native module (make setup)")

if BUILT:
    from netstack.native.ring import Ring, memory_size

SIZE = 64


def producer(memory: mmap.mmap, offset: int, values: list[int]) -> None:
    ring = Ring.in_buffer(memory, offset, SIZE, single_producer=True, single_consumer=True)
    for value in values:
        while not ring.enqueue(value):
            pass  # the parent drains it as we go


def test_a_child_process_fills_a_ring_its_parent_made():
    offset = 128  # anywhere 64-byte aligned: rings of a segment sit side by side
    memory = mmap.mmap(-1, offset + memory_size(SIZE))  # anonymous, shared with children
    ring = Ring.in_buffer(memory, offset, SIZE, single_producer=True, single_consumer=True,
                          create=True)
    values = list(range(1, 1001))
    child = multiprocessing.get_context("fork").Process(target=producer,
                                                        args=(memory, offset, values))
    child.start()
    got = []
    while len(got) < len(values):
        got += ring.dequeue_burst(32)
        assert child.is_alive() or ring.count() or len(got) == len(values)
    child.join(10)
    assert got == values and child.exitcode == 0


def test_attaching_checks_the_size_and_the_modes():
    memory = mmap.mmap(-1, memory_size(SIZE))
    Ring.in_buffer(memory, 0, SIZE, single_consumer=True, create=True)
    assert Ring.in_buffer(memory, 0, SIZE, single_consumer=True).count() == 0
    for wrong in ({"size": 32}, {"single_producer": True}):
        args = {"size": SIZE, "single_consumer": True} | wrong
        size = args.pop("size")
        with pytest.raises(ValueError, match="no ring of"):
            Ring.in_buffer(memory, 0, size, **args)
    with pytest.raises(ValueError, match="past the end"):
        Ring.in_buffer(memory, 64, SIZE, create=True)


def test_a_ring_whose_bounds_were_overwritten_is_no_longer_sound():
    memory = mmap.mmap(-1, memory_size(SIZE))
    ring = Ring.in_buffer(memory, 0, SIZE, create=True)
    assert ring.still_sound()
    struct.pack_into("=I", memory, 0, 1 << 20)  # a stray write over `size`
    assert not ring.still_sound()
    with pytest.raises(ValueError):
        Ring.in_buffer(memory, 0, SIZE)
