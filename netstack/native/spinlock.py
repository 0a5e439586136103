"""A test-and-test-and-set spinlock in C (native/ns_spinlock.c).

For very short critical sections shared between threads (the ARP table). The lock does not
record its owner: as with `threading.Lock`, any thread may release it.
"""

from types import TracebackType

from netstack.native import ffi, lib


class Spinlock:
    __slots__ = ("_lock",)

    def __init__(self) -> None:
        handle = lib.ns_spinlock_create()
        if handle == ffi.NULL:
            raise MemoryError("cannot allocate a spinlock")
        self._lock = ffi.gc(handle, lib.ns_spinlock_free)  # freed with this object

    def acquire(self) -> None:
        """Spin (in C, without the GIL) until we hold the lock."""
        lib.ns_spinlock_lock(self._lock)

    def try_acquire(self) -> bool:
        """Take the lock if it is free right now; never waits."""
        return bool(lib.ns_spinlock_trylock(self._lock))

    def release(self) -> None:
        if not lib.ns_spinlock_is_locked(self._lock):
            raise RuntimeError("release of an unlocked Spinlock")
        lib.ns_spinlock_unlock(self._lock)

    def locked(self) -> bool:
        """A snapshot: another thread may take or release the lock right after."""
        return bool(lib.ns_spinlock_is_locked(self._lock))

    def __enter__(self) -> "Spinlock":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<Spinlock {'locked' if self.locked() else 'unlocked'}>"
