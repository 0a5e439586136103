"""The native engine: the same dispatch loop, with the port I/O done by a C thread.

    C thread (native/ns_engine.c, no GIL)          Python loop thread (Engine, loop.py)
    port fd -> read burst -> pool buffer -> [in ring] -> _take_received -> stack.receive
    port fd <- write      <- pool buffer <- [out ring] <- _enqueue <- stack.outgoing, KNI

Only the port I/O differs from `Engine`: this class overrides the methods that read from and
write to the port, and how the loop sleeps. Control queue, dispatch, timers, pass hooks,
collecting `stack.outgoing`, KNI and capture are the base class's code, so the stack runs
the very same path on both engines.

- Buffers come from a `NativeMbufPool`: the C thread reads frames straight into them.
- Ring entries are 64-bit words (index, data_off, data_len; see native_pool.py), so the
  threads share no Python state.
- Idle, both sides block: the C thread in poll() on the port and a kick eventfd (written by
  `ns_engine_kick` after Python queued frames to send), Python in poll() on the engine's rx
  eventfd, the KNI device and its wakeup eventfd, until the next timer is due.
- Before sleeping, each side may spin a little (`spin_us`, off by default) looking for
  work: the C thread for Python's answer on the out ring, Python for the next frames on the
  in ring, the latter inside a C call that releases the GIL, so the application threads
  run meanwhile. Within a round trip nobody sleeps and no eventfd is written; truly idle,
  both block after that short spin.
- `busy_poll=True`: neither side ever sleeps (DPDK-style), for the lowest latency. Python
  spins in the same GIL-free C call, in rounds, so the application threads still run.
- The KNI device stays in Python: its frames join the out ring like the stack's.
- Counters kept by the C thread (port.rx, port.tx, drops) are added to the stack's whenever
  the loop is about to sleep, every 1024 passes, and when the engine closes.
"""

import os
import select
import time

from netstack.engine.loop import Engine
from netstack.engine.native_pool import (
    AVAILABLE,
    FIELD_MASK,
    INDEX_MASK,
    LEN_SHIFT,
    OFF_SHIFT,
    NativeMbufPool,
    ffi,
    lib,
)
from netstack.errors import ConfigError
from netstack.mbuf import HEADROOM, Mbuf

# The C thread's counters (the NS_STAT_* order in native/ns_engine.h) and their names here.
STAT_NAMES = (
    "port.rx", "port.tx", "port.drop.no_mbuf", "port.drop.too_big", "ring.drop.in_full",
    "port.drop.rx_error", "port.drop.tx_busy", "port.drop.tx_error", "engine.native.wakeups",
)
# Port classes the C thread can drive, by how it must talk to their descriptor.
SUPPORTED_PORTS = ("tap", "afpacket")
OUT_FULL_WAIT = 0.05  # seconds to wait for room on a full out ring before dropping
# Microseconds each side spins for more work before it sleeps (see the module docstring).
# 0 by default: on the 2-core VM this was measured on, a spinning thread takes the core the
# kernel side needs, and 100-300 us spins made UDP echo slower, not faster
# (benchmarks/README.md). Worth trying where cores are to spare.
SPIN_US = 0
BUSY_SPIN_US = 1000  # one round of Python's GIL-free spin under busy_poll


def check_supported(port_spec: str) -> None:
    """Raise ConfigError unless the native engine is built and can drive this port spec."""
    if not AVAILABLE:
        raise ConfigError("the native engine is not built: run `python native/build.py` "
                          "(or use --engine python)")
    kind = port_spec.partition(":")[0]
    if kind not in SUPPORTED_PORTS or "?" in port_spec:
        raise ConfigError(f"the native engine drives tap: and afpacket: ports only, not "
                          f"{port_spec!r} (use --engine python)")


def _port_kind(port) -> int:
    from netstack.engine.ports.afpacket import AfPacketPort
    from netstack.engine.ports.tap import TapPort

    if isinstance(port, TapPort):
        return lib.NS_PORT_FD
    if isinstance(port, AfPacketPort):
        return lib.NS_PORT_PACKET
    raise ConfigError(f"the native engine cannot drive {port!r} (tap: and afpacket: only)")


class NativeEngine(Engine):
    """`Engine` with the port's I/O on a native thread. Needs a NativeMbufPool."""

    def __init__(self, stack, port, pool: NativeMbufPool, kni=None, clock=None, capture=None,
                 burst: int = 32, ring_size: int = 2048, busy_poll: bool = False,
                 spin_us: int = SPIN_US) -> None:
        if not isinstance(pool, NativeMbufPool):
            raise TypeError("the native engine needs a NativeMbufPool")
        self._port_kind = _port_kind(port)
        self._spin_us = BUSY_SPIN_US if busy_poll else spin_us
        self._busy = busy_poll
        self._io = None
        self._stats = ffi.new("uint64_t[]", lib.NS_STAT_COUNT)
        self._reported = [0] * lib.NS_STAT_COUNT
        # The base loop's busy_poll would spin holding the GIL; we spin in C instead (_sleep).
        super().__init__(stack, port, pool, kni=kni, clock=clock, capture=capture, burst=burst,
                         ring_size=ring_size, busy_poll=False)

    # ----------------------------------------------------------------- port I/O, native
    def _open_io(self) -> int | None:
        handle = lib.ns_engine_create(
            self.port.fileno(), self._port_kind, self.pool.handle, self.in_ring.handle,
            self.out_ring.handle, HEADROOM, self.burst, int(self._busy))
        if handle == ffi.NULL:
            raise ConfigError(f"cannot start the native engine on {self.port.name}")
        self._io = ffi.gc(handle, lib.ns_engine_free)  # stops the thread if never closed
        lib.ns_engine_set_spin(handle, 0 if self._busy else self._spin_us)
        return lib.ns_engine_rx_fd(handle)

    def _start_io(self) -> None:
        error = lib.ns_engine_start(self._io)
        if error:
            raise OSError(error, f"cannot start the native engine thread: {os.strerror(error)}")

    def _receive_port(self, now: float) -> None:
        pass  # the C thread reads the port and fills the in ring

    def _take_received(self, now: float) -> list[Mbuf]:
        if not self.passes & 1023:
            self._sync_counters()  # a busy loop seldom sleeps, where they are synced too
        mbufs = self.pool.mbufs
        received: list[Mbuf] = []
        words = self.in_ring.dequeue_burst(self.burst)
        if not words:
            return received
        for word in words:
            m = mbufs[word & INDEX_MASK]
            m.data_off = (word >> OFF_SHIFT) & FIELD_MASK
            m.data_len = word >> LEN_SHIFT
            m.port = 0
            received.append(m)
        # The C thread counts frames (port.rx); bytes are counted here, as they reach us.
        nbytes = sum(m.data_len for m in received)
        self.counters.bump("port.rx_bytes", nbytes)
        self.counters.bump("copy.port_rx", nbytes)  # the C thread's reads from the TAP
        depth = len(words) + self.in_ring.count()
        if depth > self.peaks["in_ring"]:
            self.peaks["in_ring"] = depth
        if self.capture is not None:
            for m in received:
                self.capture.record(m.data(), now)
        return received

    def _received_waiting(self) -> int:
        # Also tells the C thread that we may sleep, so it writes our eventfd from now on.
        return lib.ns_engine_consumer_idle(self._io)

    def _enqueue(self, ring, mbufs: list[Mbuf], drop_counter: str) -> None:
        # Only the out ring is ours to fill (the C thread fills the in ring). After the
        # enqueue the C thread owns the buffers, so capture them first.
        if self.capture is not None:
            now = self.clock.now()
            for m in mbufs:
                self.capture.record(m.data(), now)
        # Every mbuf here is from self.pool (the stack allocates from the pool it was given,
        # KNI reads into it), so its index names a buffer the C thread can reach.
        words = [m.index | (m.data_off << OFF_SHIFT) | (m.data_len << LEN_SHIFT) for m in mbufs]
        # Written here and now if the C thread sleeps with nothing queued (no wake-up to
        # pay), else queued on the out ring and the thread kicked (ns_engine_send).
        accepted = lib.ns_engine_send(self._io, ffi.new("uintptr_t[]", words), len(words))
        deadline = time.monotonic() + OUT_FULL_WAIT
        while accepted < len(words) and time.monotonic() < deadline:
            # The ring is full and the C thread is writing it out: back-pressure, as on the
            # Python engine, rather than dropping; bounded, in case the port is stuck.
            os.sched_yield()
            rest = words[accepted:]
            accepted += lib.ns_engine_send(self._io, ffi.new("uintptr_t[]", rest), len(rest))
        # Bytes handed to the C thread (it counts the frames it writes, port.tx, and the
        # writes that fail, port.drop.tx_*).
        nbytes = sum(m.data_len for m in mbufs[:accepted])
        self.counters.bump("port.tx_bytes", nbytes)
        self.counters.bump("copy.port_tx", nbytes)  # its writes to the TAP
        depth = self.out_ring.count()
        if depth > self.peaks["out_ring"]:
            self.peaks["out_ring"] = depth
        for m in mbufs[accepted:]:
            self.counters.bump(drop_counter)
            self.pool.free(m)

    def _enqueue_out(self, mbufs: list[Mbuf]) -> None:
        self._enqueue(self.out_ring, mbufs, "ring.drop.out_full")

    def _transmit(self, now: float) -> None:
        pass  # _enqueue wrote the frames, or queued them for the C thread and kicked it

    def _sleep(self, wait: float | None) -> list[tuple[int, int]]:
        self._sync_counters()
        if self._spin_us and (wait is None or wait > 0):
            spin_us = self._spin_us if wait is None else min(self._spin_us, int(wait * 1e6))
            found = lib.ns_engine_spin_rx(self._io, spin_us, self._wakeup)  # GIL released
            if found == 1:
                return []  # frames on the in ring
            if found == 2:
                return [(self._wakeup, select.POLLIN)]  # another thread queued work
            if self._busy:
                return []  # busy polling: another pass, then spin again
            if lib.ns_engine_consumer_idle(self._io):
                return []  # frames came just now: do not sleep after all
            if wait is not None:
                wait = max(0.0, wait - spin_us / 1e6)
        ready = super()._sleep(wait)
        rx_fd = lib.ns_engine_rx_fd(self._io)
        if any(fd == rx_fd for fd, _ in ready):
            try:
                os.eventfd_read(rx_fd)  # reset it; the words themselves are in the ring
            except BlockingIOError:
                pass
        return ready

    # ----------------------------------------------------------------- counters and closing
    def _sync_counters(self) -> None:
        if self._io is None:
            return
        lib.ns_engine_stats(self._io, self._stats)
        for i, name in enumerate(STAT_NAMES):
            value = self._stats[i]
            if value != self._reported[i]:
                self.counters.bump(name, value - self._reported[i])
                self._reported[i] = value

    def close(self) -> None:
        self.stop()
        if self._io is not None:
            lib.ns_engine_stop(self._io)  # before the port's descriptor closes under it
            self._sync_counters()
        super().close()
