"""asyncio in virtual time: applications are ordinary asyncio code.

`SimEventLoop` is asyncio's own selector event loop with two things changed:
- `time()` is the simulator's clock, so `asyncio.sleep(1)` and `wait_for(..., 2)` are
  virtual seconds;
- its selector (`SimSelector`) watches netstack sockets, and "waiting" in `select(timeout)`
  means running the simulator until a watched socket has news or `timeout` virtual seconds
  have passed. The simulator's heap holds the network's events; the loop's timer heap holds
  the applications' (the select timeout is the earliest of them), so time always jumps to
  the next event of either.

So `loop.sock_connect`, `sock_sendall`, `sock_recv` and `sock_accept` on non-blocking
netstack sockets behave as they do on kernel sockets, and the same application code runs
against Linux.

    sim = Simulator(seed=1)
    loop = SimEventLoop(sim)
    loop.run_until_complete(main())
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
from asyncio import selector_events

from netstack.api.base_socket import StackSocket, socket_for
from netstack.api.constants import POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT
from netstack.errors import NetstackError
from netstack.sim.events import Simulator

IDLE_LIMIT = 24 * 3600.0  # virtual seconds a wait without timeout may last before we give up
READ_EVENTS = POLLIN | POLLERR | POLLHUP | POLLNVAL
WRITE_EVENTS = POLLOUT | POLLERR | POLLHUP | POLLNVAL


class SimulationStalled(NetstackError):
    """Every application waits for the network and the network has nothing left to do."""


class SimSelector(selectors._BaseSelectorImpl):  # modify/get_map come from it
    """A selector over netstack sockets whose `select` runs the simulator.

    asyncio registers a socket before each wait for it and unregisters it after: a reader
    that reads every segment as it comes does both once per segment. So this selector stays
    a socket's poller once attached (a wakeup from a socket not registered now is ignored),
    and keeps the registered sockets by file number, rather than asking the socket table
    and taking the socket's lock twice a segment."""

    needs_events = False  # _wakeup ignores the events: sockets need not compute them

    def __init__(self, sim: Simulator) -> None:
        super().__init__()
        self.sim = sim
        self._woken = False
        # Sockets whose readiness may have changed: those just registered, those that woke
        # us, and those found ready last time (level-triggered: ready stays ready until
        # the application acts). Only these are asked, not every registered socket.
        self._dirty: set[int] = set()
        self._registered: dict[int, StackSocket] = {}  # file number -> socket
        self._attached: dict[int, StackSocket] = {}  # sockets we are a poller of
        # The loop's sock_recv calls waiting for data (wait_readable): file number -> the
        # key asyncio's reader would have had, and the call's future.
        self._recv_waits: dict[int, tuple[selectors.SelectorKey, asyncio.Future]] = {}

    def register(self, fileobj, events, data=None):
        key = super().register(fileobj, events, data)
        fd = key.fd
        sock = self._attached.get(fd)
        if sock is None:
            sock = self._attached[fd] = socket_for(fd)
            sock._add_poller(self)
        self._registered[fd] = sock
        self._dirty.add(fd)
        return key

    def modify(self, fileobj, events, data=None):
        key = super().modify(fileobj, events, data)
        self._dirty.add(key.fd)
        return key

    def wait_readable(self, sock: StackSocket, reader: asyncio.Handle,
                      done: asyncio.Future) -> None:
        """Report `sock` readable, with `reader` as its read callback, until `done` is done:
        what asyncio's sock_recv gets by registering a reader and unregistering it once
        done, without the registration (SimEventLoop.sock_recv)."""
        fd = sock._fileno
        if fd not in self._attached:
            self._attached[fd] = socket_for(fd)
            sock._add_poller(self)
        key = selectors.SelectorKey(sock, fd, selectors.EVENT_READ, (reader, None))
        self._recv_waits[fd] = (key, done)
        self._dirty.add(fd)

    def stop_waiting(self, sock: StackSocket, done: asyncio.Future) -> None:
        """The sock_recv call that waits with `done` was cancelled."""
        wait = self._recv_waits.get(sock._fileno)
        if wait is not None and wait[1] is done:
            del self._recv_waits[sock._fileno]

    def unregister(self, fileobj):
        key = super().unregister(fileobj)
        self._dirty.discard(key.fd)
        self._registered.pop(key.fd, None)
        return key

    def get_key(self, fileobj):
        # selectors' own goes through a mapping object and a file-number lookup each time
        fd = fileobj if type(fileobj) is int else self._fileobj_lookup(fileobj)
        try:
            return self._fd_to_key[fd]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def close(self) -> None:
        for sock in self._attached.values():
            try:
                sock._remove_poller(self)
            except OSError:
                pass  # closed already: it forgot its pollers
        self._attached.clear()
        self._registered.clear()
        self._recv_waits.clear()
        super().close()

    # The Waker protocol (netstack.api.base_socket): a watched socket has news.
    def _wakeup(self, sock, events: int) -> None:
        fd = sock._fileno
        if fd in self._registered or fd in self._recv_waits:
            self._woken = True
            self._dirty.add(fd)

    def _socket_closed(self, sock) -> None:
        fd = sock._fileno
        self._attached.pop(fd, None)
        if fd in self._registered or fd in self._recv_waits:
            self._woken = True
            self._dirty.add(fd)

    def _stop(self) -> bool:
        return self._woken

    def select(self, timeout: float | None = None):
        ready = self._ready()
        if ready or (timeout is not None and timeout <= 0):
            return ready
        sim = self.sim
        self._woken = False
        # Waiting without a timeout: until a socket has news. Stacks keep timers forever
        # (ARP aging...), so "nothing left to do" may never come: give up after IDLE_LIMIT.
        end = sim.now + (IDLE_LIMIT if timeout is None else timeout)
        sim.run_until(end, self._stop)
        if timeout is None and not self._woken:
            raise SimulationStalled(
                f"the simulation stalled at t={sim.now:.6f}: every application waits for "
                "the network, and nothing arrived for a day of virtual time")
        return self._ready()

    def _ready(self) -> list:
        ready: list = []
        dirty = self._dirty
        if not dirty:
            return ready
        keys, sockets, waits = self._fd_to_key, self._registered, self._recv_waits
        for fd in sorted(dirty):
            key = keys.get(fd)
            wait = waits.get(fd)
            if wait is not None and wait[1].done():
                del waits[fd]  # its read callback ran (or it was cancelled)
                wait = None
            if key is None and wait is None:
                dirty.discard(fd)
                continue
            sock = sockets[fd] if key is not None else wait[0].fileobj  # type: ignore[index]
            events = sock.readiness()  # POLLNVAL once closed
            found = False
            if key is not None:
                mask = 0
                if events & READ_EVENTS and key.events & selectors.EVENT_READ:
                    mask |= selectors.EVENT_READ
                if events & WRITE_EVENTS and key.events & selectors.EVENT_WRITE:
                    mask |= selectors.EVENT_WRITE
                if mask:
                    ready.append((key, mask))
                    found = True
            if wait is not None and events & READ_EVENTS:
                ready.append((wait[0], selectors.EVENT_READ))
                found = True
            if not found:
                dirty.discard(fd)
        return ready


class SimEventLoop(selector_events.BaseSelectorEventLoop):
    """asyncio's selector loop on the simulator's clock (see the module docstring)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        super().__init__(SimSelector(sim))
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self.sim.now

    async def sock_recv(self, sock, n):
        """asyncio's sock_recv, step for step: try at once; else wait, and asyncio's own
        reader callback (_sock_recv) takes the data where the selector reports the socket
        readable, and the caller resumes on the next turn of the loop. Only the bookkeeping
        differs: the wait is handed to the selector (SimSelector.wait_readable) instead of
        registering a reader and unregistering it once done, which a reader that keeps up
        with a flow would do for every segment."""
        try:
            return sock.recv(n)
        except (BlockingIOError, InterruptedError):
            pass
        self._check_closed()
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        selector = self._selector
        if fd in selector._fd_to_key:
            # A reader or writer is registered for it already: asyncio's way, which knows
            # how to share the registration.
            return await super().sock_recv(sock, n)
        done = self.create_future()
        selector.wait_readable(sock, asyncio.Handle(self._sock_recv, (done, sock, n), self, None),
                               done)
        try:
            return await done
        except asyncio.CancelledError:
            selector.stop_waiting(sock, done)
            raise

    # One thread only, so no self-pipe to wake it from others.
    def _make_self_pipe(self) -> None:
        self._ssock = self._csock = None

    def _close_self_pipe(self) -> None:
        pass


@contextlib.contextmanager
def outside_running_loop():
    """Set aside an asyncio loop already running in this thread (Jupyter's, IPython's)
    while a simulation runs on its own loop, and put it back after. The simulation runs to
    its end before returning, so the outer loop, blocked in this call anyway, misses nothing;
    asyncio would otherwise refuse to start a loop inside a running one."""
    outer = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(outer)


def run(sim: Simulator, main) -> object:
    """Run coroutine `main` to completion on a fresh SimEventLoop, then close the loop."""
    loop = SimEventLoop(sim)
    try:
        with outside_running_loop():
            return loop.run_until_complete(main)
    finally:
        loop.close()
        asyncio.set_event_loop(None)
