"""The spinlock: try_acquire, the context manager, and mutual exclusion under contention."""

import threading

import pytest

from netstack.native import ffi, lib
from netstack.native.blocks import Spinlock


def test_try_acquire_fails_while_held_and_succeeds_after_release() -> None:
    lock = Spinlock()
    assert not lock.locked()
    assert lock.try_acquire()
    assert lock.locked()
    assert not lock.try_acquire()
    lock.release()
    assert not lock.locked()
    assert lock.try_acquire()
    lock.release()


def test_try_acquire_from_another_thread_fails_while_held() -> None:
    lock = Spinlock()
    lock.acquire()
    results: list[bool] = []
    other = threading.Thread(target=lambda: results.append(lock.try_acquire()))
    other.start()
    other.join()
    assert results == [False]
    lock.release()


def test_context_manager_releases_even_on_error() -> None:
    lock = Spinlock()
    with lock:
        assert lock.locked()
    assert not lock.locked()
    with pytest.raises(KeyError), lock:
        raise KeyError("boom")
    assert not lock.locked()


def test_release_of_an_unlocked_lock_raises() -> None:
    with pytest.raises(RuntimeError):
        Spinlock().release()


def test_acquire_waits_for_the_holder() -> None:
    lock, events = Spinlock(), []
    lock.acquire()

    def waiter() -> None:
        with lock:  # spins in C, without the GIL, until the main thread releases
            events.append("waiter")

    thread = threading.Thread(target=waiter)
    thread.start()
    events.append("holder")
    lock.release()
    thread.join()
    assert events == ["holder", "waiter"]


def test_lock_protects_a_plain_counter_under_contention() -> None:
    # The increments happen in C (ns_spinlock_stress) with the GIL released, and a C gate
    # starts the threads together, so they truly race: a plain read-increment-write loses
    # updates unless the lock works.
    threads, iterations = 4, 200_000
    lock, counter = Spinlock(), ffi.new("uint64_t *")
    gate = ffi.gc(lib.ns_gate_create(threads), lib.ns_gate_free)

    def hammer() -> None:
        lib.ns_spinlock_stress(lock._lock, counter, iterations, gate)

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counter[0] == threads * iterations
    assert not lock.locked()
