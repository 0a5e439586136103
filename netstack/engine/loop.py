"""The dispatch loop: the one thread that moves frames and owns the stack's state.

It has the shape of a DPDK run-to-completion pipeline. Each pass:

    1. control    run the callables other threads queued (call_soon_threadsafe)
    2. receive    port.rx_burst -> mbuf indices -> in ring;  KNI frames from the kernel -> out ring
    3. dispatch   in ring -> stack.receive(frame, now) -> the mbuf goes back to the pool
    4. timers     stack.advance(now)
    5. collect    stack.outgoing -> out ring;  stack.to_kni -> the KNI device
    6. transmit   out ring -> port.tx_burst

and then it sleeps in poll() on the port, the KNI device and a wakeup eventfd, until a frame
arrives, another thread wakes it, or the stack's next timer falls due. It never spins, unless
asked to (`busy_poll=True`: DPDK-style polling, the lowest latency for a whole core).

Steps 2 and 6 are the only ones that touch the port. `NativeEngine` (native_loop.py) replaces
just those (`_receive_port`, `_take_received`, `_enqueue`, `_transmit`, `_sleep`) with a C
thread that does the port I/O without the GIL; everything else, the dispatch into the stack
above all, is this class's code in both engines.

Rings carry mbuf indices, not Python objects, exactly as DPDK rings carry mbuf pointers: the
same rings could be fed by a native I/O thread. Each ring here has one producer and one
consumer (this thread), so they are created single-producer, single-consumer.
"""

import logging
import math
import os
import select
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from netstack.clock import MonotonicClock
from netstack.errors import ConfigError
from netstack.mbuf import Mbuf, MbufPool
from netstack.native.blocks import Ring
from netstack.trace import HighWaterMark, Tracer

log = logging.getLogger(__name__)

ControlFn = Callable[[Any, float], Any]  # fn(stack, now), run on the loop thread


class Engine:
    def __init__(self, stack, port, pool: MbufPool, kni=None, clock=None, capture=None,
                 burst: int = 32, ring_size: int = 1024, busy_poll: bool = False) -> None:
        if getattr(stack, "pool", pool) is not pool:
            # The stack writes frames into its pool and the engine reads them by index from
            # its own: with two pools the wire would carry other (often empty) buffers.
            raise ConfigError("the engine's mbuf pool must be the stack's own (stack.pool)")
        self.stack = stack
        self.port = port
        self.pool = pool
        self.kni = kni
        self.clock = clock if clock is not None else MonotonicClock()
        self.capture = capture
        self.burst = burst
        self.busy_poll = busy_poll
        self.counters = stack.counters
        # Does a frame's every byte get copied on its way in or out (a TAP write is one
        # kernel copy; a DPDK port hands over the mbuf itself)? For the copy ledger.
        self.port_copies = getattr(port, "copies_frames", True)
        self.in_ring = Ring(ring_size, single_producer=True, single_consumer=True)
        self.out_ring = Ring(ring_size, single_producer=True, single_consumer=True)
        # Trace events (netstack/trace.py): ring high-water marks; events raised where no
        # time is at hand (a state change, a drop) carry the pass's `now` (set below).
        self._trace = getattr(stack, "trace", None) or Tracer()
        self._in_high_water = HighWaterMark(self._trace, "engine.in_ring", ring_size)
        self._out_high_water = HighWaterMark(self._trace, "engine.out_ring", ring_size)
        # The deepest each queue has been since start (`netstack rings`), measured once per
        # burst that fills it, not per packet.
        self.peaks = {"in_ring": 0, "out_ring": 0, "outgoing": 0, "to_kni": 0}
        # A PassProfile (profile.py) while `netstack top` watches; it times the pass by
        # wrapping the phase methods, so the pass itself never looks at it.
        self.profile = None
        # One set of counters for the whole run: ports and KNI count into the stack's.
        for part in (port, kni):
            if part is not None and hasattr(part, "counters"):
                part.counters = self.counters
        if getattr(port, "pool", False) is None:
            port.pool = pool  # the port frees sent mbufs into our pool
        if getattr(port, "clock", False) is None:
            port.clock = self.clock  # a link emulator keeps time with us
        if getattr(port, "random", False) is None and hasattr(stack, "random"):
            port.random = stack.random.generator(f"link/{stack.config.mac.hex()}")  # ours alone
        if capture is not None:
            capture.anchor(self.clock.now())
        if hasattr(stack, "flush"):
            stack.flush = self._flush_outgoing  # see Stack.alloc_mbuf

        self._control: deque[ControlFn] = deque()  # append/popleft are atomic: no lock needed
        # Run at the end of every pass's receive work (see add_pass_hook).
        self._pass_hooks: list[Callable[[float], None]] = []
        self._wakeup = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        # True while the loop is in (or about to enter) poll(): only then does another
        # thread need the eventfd to wake it. Set before the loop's last look at its queues,
        # read after a producer queues its work, so a wakeup is never lost (see _wake).
        self._sleeping = False
        self._poller = select.poll()
        for fd in (self._open_io(), kni.fileno() if kni else None, self._wakeup):
            if fd is not None:
                self._poller.register(fd, select.POLLIN)
        self._stopping = False
        self._stop_hooks: list[Callable[[], None]] = []
        self._stack_started = False
        self._thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None
        self.error: BaseException | None = None  # what ended a background loop, if anything
        self.passes = 0

    # ----------------------------------------------------------------- running and stopping
    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Run in this thread until stop(). `on_ready` runs once the stack is up and its first
        frames (the gratuitous ARP) have been sent."""
        self._stopping = False
        self._loop_thread_id = threading.get_ident()
        try:
            self.run_once(timeout=0)
            if on_ready is not None:
                on_ready()
            while not self._stopping:
                if self._port_finished():
                    break
                self.run_once(timeout=None)
        finally:
            self._loop_thread_id = None
            if self.capture is not None:
                self.capture.flush()
            # Whatever ended the loop (stop(), a crash, the end of a pcap), whoever waits on
            # this stack must hear of it rather than wait forever.
            for hook in self._stop_hooks:
                try:
                    hook()
                except Exception:  # noqa: BLE001 - one bad hook must not hide the others
                    log.exception("engine stop hook failed")

    def run_once(self, timeout: float | None = 0.0) -> None:
        """Wait for work (at most `timeout` seconds; None = until something happens), then do
        one pass. Tests drive a VirtualClock engine with run_once() and clock.advance()."""
        if not self._stack_started:
            self._stack_started = True
            self._start_io()
            self.stack.start(self.clock.now())
        self._sleeping = True
        wait = self._time_to_wait(timeout)
        woken = False
        if wait != 0:
            ready = self._sleep(wait)
            woken = any(fd == self._wakeup for fd, _ in ready)
        self._sleeping = False
        self._one_pass(woken)

    def start(self, ready_timeout: float = 10.0) -> None:
        """Run the loop in a background thread; returns once it is running."""
        ready = threading.Event()

        def main() -> None:
            try:
                self.run(on_ready=ready.set)
            except BaseException as e:  # noqa: BLE001 - reported through self.error
                self.error = e
                log.exception("engine loop died")
                ready.set()

        self._thread = threading.Thread(target=main, name=f"engine {self.port.name}", daemon=True)
        self._thread.start()
        if not ready.wait(ready_timeout):
            raise TimeoutError("engine did not start")
        if self.error is not None:
            raise self.error

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end; waits for a background thread. Safe from signal handlers."""
        self._stopping = True
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """Stop, then close everything the engine was given: port, KNI and capture."""
        self.stop()
        for part in (self.port, self.kni, self.capture):
            if part is not None:
                part.close()
        if self._wakeup >= 0:
            os.close(self._wakeup)
            self._wakeup = -1

    # ----------------------------------------------------------------- other threads
    def call_soon_threadsafe(self, fn: ControlFn) -> None:
        """Queue fn(stack, now) to run on the loop thread, and wake the loop."""
        self._control.append(fn)
        self._wake()

    def call(self, fn: ControlFn, timeout: float | None = 5.0) -> Any:
        """Run fn(stack, now) on the loop thread and return its result (or raise its error)."""
        if self._loop_thread_id == threading.get_ident():
            return fn(self.stack, self.clock.now())
        future: Future = Future()

        def run(stack, now: float) -> None:
            try:
                future.set_result(fn(stack, now))
            except BaseException as e:  # noqa: BLE001 - handed back to the caller
                future.set_exception(e)

        self.call_soon_threadsafe(run)
        return future.result(timeout)

    def add_stop_hook(self, fn: Callable[[], None]) -> None:
        """Run `fn()` on the loop thread when the loop ends, however it ends."""
        self._stop_hooks.append(fn)

    def add_pass_hook(self, fn: Callable[[float], None]) -> None:
        """Run fn(now) on the loop thread in every pass, after the frames received in it
        were dispatched and the timers fired, before anything is transmitted. The socket
        layer wakes application threads from here: once per burst, not once per datagram."""
        self._pass_hooks.append(fn)

    def remove_pass_hook(self, fn: Callable[[float], None]) -> None:
        """Undo add_pass_hook (call it on the loop thread, e.g. through call())."""
        self._pass_hooks.remove(fn)

    def _wake(self) -> None:
        # A busy loop looks at its control queue before it next sleeps (_time_to_wait), so
        # the eventfd write, a syscall, is only needed when it is asleep or about to be.
        # The caller queued its work before calling us: if we read _sleeping as False here,
        # the loop had not yet made its last check of the queues, and that check will see it.
        if not self._sleeping:
            return
        try:
            os.eventfd_write(self._wakeup, 1)
        except OSError:
            pass  # closed: nobody left to wake

    # ----------------------------------------------------------------- one pass
    def _one_pass(self, woken: bool) -> None:
        self.passes += 1
        if woken:
            # Reset the wakeup counter only when poll() said it was set: reading it on every
            # pass would cost a syscall per pass that nearly always fails with EAGAIN. A wakeup
            # that arrives while we did not poll keeps the fd readable, so the next poll()
            # returns at once and we read it then: at most one extra pass, never a lost wakeup.
            try:
                os.eventfd_read(self._wakeup)
            except BlockingIOError:
                pass
        now = self.clock.now()
        if self._trace.active:
            self._trace.now = now
        self._run_control(now)
        self._receive(now)
        if self._trace.active:
            self._in_high_water.check(self._received_waiting(), now)
        self._dispatch(now)
        self.stack.advance(now)
        self._run_pass_hooks(now)
        if self._control:
            # A hook may have queued work (a service on the loop answering the datagrams of
            # this burst): run it now, so the answers leave in this pass, not the next.
            self._run_control(now)
        self._end_pass(now)
        self._collect()
        if self._trace.active:
            self._out_high_water.check(self.out_ring.count(), now)
        self._transmit(now)

    def _run_pass_hooks(self, now: float) -> None:
        for hook in self._pass_hooks:
            try:
                hook(now)
            except Exception:
                self.counters.bump("engine.hook_error")
                log.exception("pass hook failed")

    def _end_pass(self, now: float) -> None:
        # ACKs decided in this pass leave now, unless an answer sent meanwhile carried them.
        end_pass = getattr(self.stack, "end_pass", None)
        if end_pass is not None:
            try:
                end_pass(now)
            except Exception:
                self.counters.bump("engine.drop.stack_error")
                log.exception("stack.end_pass failed")

    def _run_control(self, now: float) -> None:
        for _ in range(len(self._control)):  # only what was queued before this pass
            fn = self._control.popleft()
            try:
                fn(self.stack, now)
            except Exception:
                self.counters.bump("engine.control_error")
                log.exception("control callable failed")

    def _receive(self, now: float) -> None:
        self._receive_port(now)
        if self.kni is not None:
            from_kernel = self.kni.from_kernel(self.pool, self.burst)
            if from_kernel:
                self.counters.bump("kni.from_kernel_bytes", sum(m.data_len for m in from_kernel))
                self._enqueue(self.out_ring, from_kernel, "ring.drop.out_full")

    def _dispatch(self, now: float) -> None:
        received = self._take_received(now)
        if not received:
            return
        # Burst boundaries let the stack merge what belongs together (TCP's receive
        # coalescing, stages/tcp/gro.py); a stack without them takes frames one by one.
        begin_burst = getattr(self.stack, "begin_burst", None)
        if begin_burst is not None:
            begin_burst()
        for m in received:
            try:
                self.stack.receive(m.data(), now)
            except Exception:
                # A bug in a stage must not take the whole stack down: count it, log it, go on.
                self.counters.bump("engine.drop.stack_error")
                log.exception("stack.receive failed on a %d-byte frame", m.data_len)
            finally:
                self.pool.free(m)
        if begin_burst is not None:
            try:
                self.stack.end_burst(now)
            except Exception:
                self.counters.bump("engine.drop.stack_error")
                log.exception("stack.end_burst failed")

    def _collect(self) -> None:
        outgoing, peaks = self.stack.outgoing, self.peaks
        if len(outgoing) > peaks["outgoing"]:
            peaks["outgoing"] = len(outgoing)
        while outgoing:
            batch = [outgoing.popleft() for _ in range(min(len(outgoing), self.burst))]
            self._enqueue_out(batch)
        to_kni = self.stack.to_kni
        if not to_kni:
            return
        if len(to_kni) > peaks["to_kni"]:
            peaks["to_kni"] = len(to_kni)
        handed = 0
        while to_kni:
            frame = to_kni.popleft()
            if self.kni is not None:
                self.kni.to_kernel(frame)
                handed += len(frame)
            else:
                self.counters.bump("kni.drop.no_device")
        if handed:
            self.counters.bump("kni.to_kernel_bytes", handed)

    # ----------------------------------------------------------------- port I/O (Python engine)
    def _open_io(self) -> int | None:
        """Set up the port I/O; returns the fd to poll for received frames."""
        return self.port.fileno()

    def _start_io(self) -> None:
        """Called once, as the loop starts (the native engine starts its thread here)."""

    def _receive_port(self, now: float) -> None:
        mbufs = self.port.rx_burst(self.pool, self.burst)
        if mbufs:
            self.counters.bump("port.rx", len(mbufs))
            nbytes = sum(m.data_len for m in mbufs)
            self.counters.bump("port.rx_bytes", nbytes)
            if self.port_copies:  # the copy ledger: a TAP read, a memory cable's bytes
                self.counters.bump("copy.port_rx", nbytes)
            if self.capture is not None:
                for m in mbufs:
                    self.capture.record(m.data(), now)
            self._enqueue(self.in_ring, mbufs, "ring.drop.in_full")

    def _take_received(self, now: float) -> list[Mbuf]:
        """Up to one burst of received frames, from the in ring."""
        get = self.pool.get
        return [get(index) for index in self.in_ring.dequeue_burst(self.burst)]

    def _received_waiting(self) -> int:
        return self.in_ring.count()

    def _transmit(self, now: float) -> None:
        while True:
            indices = self.out_ring.dequeue_burst(self.burst)
            if not indices:
                return
            mbufs = [self.pool.get(i) for i in indices]
            if self.capture is not None:
                for m in mbufs:
                    self.capture.record(m.data(), now)
            lengths = [m.data_len for m in mbufs]  # before tx_burst frees them
            sent = self.port.tx_burst(mbufs)
            self.counters.bump("port.tx", sent)
            nbytes = sum(lengths if sent == len(lengths) else lengths[:sent])
            self.counters.bump("port.tx_bytes", nbytes)
            if self.port_copies:
                self.counters.bump("copy.port_tx", nbytes)

    def _enqueue_out(self, mbufs: list[Mbuf]) -> None:
        """Queue frames for the port. A full out ring is back-pressure, not a reason to drop:
        send what it holds now, then queue the rest (dropped and counted only if the port
        could not take anything)."""
        while True:
            mbufs = mbufs[self.out_ring.enqueue_burst([m.index for m in mbufs]):]
            queued = self.out_ring.count()
            if queued > self.peaks["out_ring"]:
                self.peaks["out_ring"] = queued
            if not mbufs:
                return
            self._transmit(self.clock.now())
            if self.out_ring.count() >= queued:
                break  # the port took nothing
        for m in mbufs:
            self.counters.bump("ring.drop.out_full")
            self.pool.free(m)

    def _flush_outgoing(self) -> None:
        """Mid-pass (Stack.alloc_mbuf asks): move the stack's queued frames out to the port,
        so that one pass answering thousands of connections does not run the pool dry."""
        self._collect()
        self._transmit(self.clock.now())

    def _enqueue(self, ring: Ring, mbufs: list[Mbuf], drop_counter: str) -> None:
        accepted = ring.enqueue_burst([m.index for m in mbufs])
        depth, which = ring.count(), "in_ring" if ring is self.in_ring else "out_ring"
        if depth > self.peaks[which]:
            self.peaks[which] = depth
        for m in mbufs[accepted:]:
            self.counters.bump(drop_counter)
            self.pool.free(m)

    # ----------------------------------------------------------------- sleeping
    def _sleep(self, wait: float | None) -> list[tuple[int, int]]:
        """Block in poll() for at most `wait` seconds (None = until woken); the ready fds."""
        if self.capture is not None:
            self.capture.flush()  # about to sleep: a good moment to make the file current
        return self._poller.poll(None if wait is None else math.ceil(wait * 1000))

    def has_work(self) -> bool:
        """Control calls queued, or frames waiting to leave or to be dispatched: a pass
        now would do something (a stepping driver, testing/lockstep.py, asks)."""
        return bool(self._control or self.stack.outgoing or self._received_waiting())

    def _time_to_wait(self, timeout: float | None) -> float | None:
        """0 when work is already waiting; else until the earliest deadline (None = forever)."""
        if (self.busy_poll or self._stopping or self._control or self.stack.outgoing
                or self._received_waiting()):
            return 0
        deadlines = [self.stack.next_deadline()]
        port_deadline = getattr(self.port, "next_deadline", None)
        if port_deadline is not None:
            deadlines.append(port_deadline())
        wait = timeout
        for deadline in deadlines:
            if deadline is not None:
                until = max(0.0, deadline - self.clock.now())
                wait = until if wait is None else min(wait, until)
        return wait

    def _port_finished(self) -> bool:
        """A replayed capture has run out and everything it caused has been sent."""
        return bool(getattr(self.port, "finished", False)) and not (
            self.in_ring.count() or self.out_ring.count() or self.stack.outgoing
        )
