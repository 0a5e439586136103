"""What every stack socket shares, whatever its protocol: identity, blocking and readiness.

Threads: a socket is used from application threads, while the stage behind it runs on the
engine's loop thread. The two meet in one place, the socket's `threading.Condition`:
- the loop thread changes what applications read (the receive queue, the pending error) only
  while holding it, then notifies it and tells every poller the socket is registered with;
- an application thread checks its condition (data queued? room to send?) while holding it,
  and sleeps in `Condition.wait` until notified, never spinning.
Lock order: a socket's lock, then a poller's lock. Pollers never hold their own lock while
taking a socket's, so the two can never wait for each other.

A protocol subclass (UdpSocket, TcpSocket) says what "readable" and "writable" mean
(`_events_locked`) and implements the calls; errors, timeouts, blocking and readiness come
from here.
"""

from __future__ import annotations

import errno
import itertools
import threading
import time
import weakref
from collections.abc import Callable
from ipaddress import IPv4Interface
from typing import Any, Protocol

from netstack.api.constants import POLLERR, POLLHUP, POLLNVAL, SO_ERROR, SO_TYPE, SOL_SOCKET
from netstack.stages.ports import os_error

# File numbers are unique in the whole process (so a poller may mix sockets of two hosts)
# and can never be OS file descriptors: those are C ints, below 2**31, and these start
# there. A real selector mixing both (netstack/compat/selector.py) tells them apart by that,
# and an os.* call handed one fails (OverflowError) instead of touching some real file.
FIRST_FILENO = 2**31
_filenos = itertools.count(FIRST_FILENO)
_live_sockets: weakref.WeakValueDictionary[int, StackSocket] = weakref.WeakValueDictionary()


def live_sockets() -> list[StackSocket]:
    """Every open socket of this process (for `netstack ss -e`). Another thread may open or
    close one meanwhile: the copy is retried rather than failing the caller."""
    for _ in range(10):
        try:
            return list(_live_sockets.values())
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    return []


class Waker(Protocol):
    """A poller, as a socket sees it. One may say it ignores the events it is woken with
    (a class attribute `needs_events = False`): a socket then need not work them out."""

    def _wakeup(self, sock: StackSocket, events: int) -> None: ...

    def _socket_closed(self, sock: StackSocket) -> None: ...


class SocketHost(Protocol):
    """What a socket uses of the host it lives on (netstack.api.host.Host is the one), so the
    socket modules need not import the host, which imports them."""

    stack: Any
    engine: Any
    address: IPv4Interface
    broadcast_addresses: frozenset[str]

    @property
    def closed(self) -> bool: ...

    def socket(self, family: int, type: int, proto: int = 0) -> Any: ...

    def call(self, fn: Callable[[Any, float], Any], timeout: float | None = 5.0) -> Any: ...

    def _queue_send(self, sock: Any, payload: bytes, dst: Any) -> None: ...

    def _wake_later(self, sock: StackSocket) -> bool: ...

    def _forget(self, sock: StackSocket) -> None: ...


def socket_for(fd: int | StackSocket) -> StackSocket:
    """The socket behind a file number (or the socket itself)."""
    if isinstance(fd, StackSocket):
        if fd._closed:
            raise os_error(errno.EBADF, "the socket is closed")
        return fd
    if not isinstance(fd, int) and hasattr(fd, "fileno"):
        fd = fd.fileno()
    sock = _live_sockets.get(fd)  # type: ignore[arg-type]
    if sock is None:
        raise os_error(errno.EBADF, f"no stack socket has file number {fd}")
    return sock


class StackSocket:
    """The protocol-independent part of a socket (see the module docstring)."""

    def __init__(self, host: SocketHost, family: int, type: int, proto: int = 0) -> None:
        self.host = host
        self.family = family
        self.type = type
        self.proto = proto
        self._fileno = next(_filenos)
        _live_sockets[self._fileno] = self
        # Who uses it, for `netstack ss -e`: the thread that opened it, or the service that
        # says so (services/listeners.py); an accepted socket takes its listener's.
        self.owner = threading.current_thread().name
        # `with self._lock` where no waiting is involved: the Condition's own lock, taken
        # without the Condition's __enter__/__exit__, which are Python calls (readiness and
        # the TCP connection's guard take it for every segment).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._timeout: float | None = None  # None: block; 0.0: non-blocking; else seconds
        self._closed = False
        self._network_is_down = False
        self._pollers: tuple[Waker, ...] = ()  # replaced, never mutated: safe to iterate
        self._pollers_need_events = False  # one of them reads the events it is woken with
        self._waiters = 0  # threads asleep in _wait_locked, so notify only when it matters

    # --- identity and modes ---------------------------------------------------------------

    def fileno(self) -> int:
        """A number unique in this process, never an OS file descriptor; -1 once closed."""
        return -1 if self._closed else self._fileno

    def settimeout(self, timeout: float | None) -> None:
        if timeout is not None:
            timeout = float(timeout)
            if timeout < 0:
                raise ValueError("Timeout value out of range")
        self._timeout = timeout

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    def __enter__(self) -> StackSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " [closed]" if self._closed else ""
        return f"<{type(self).__name__} fd={self._fileno}{state}>"

    # --- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Release the socket; blocked calls in other threads raise EBADF. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            pollers = self._pollers
        _live_sockets.pop(self._fileno, None)
        self.host._forget(self)
        try:
            self._release()
        finally:
            for poller in pollers:
                poller._socket_closed(self)

    def _release(self) -> None:
        """Subclasses free their stage state here (on the loop thread, through the host)."""

    def _network_down(self) -> None:
        """The host stopped: wake everyone; calls from now on raise ENETDOWN."""
        with self._lock:
            self._network_is_down = True
            self._notify_locked(POLLERR | POLLHUP)

    # --- readiness ------------------------------------------------------------------------

    def readiness(self) -> int:
        """The POLL* events true now (POLLNVAL once closed)."""
        with self._lock:
            if self._closed:
                return POLLNVAL
            events = self._events_locked()
            if self._network_is_down:
                events |= POLLERR | POLLHUP
            return events

    def _events_locked(self) -> int:
        raise NotImplementedError

    def _notify_locked(self, events: int) -> None:
        """Something happened (`events`, POLL* bits): wake waiters and pollers. The caller
        holds the lock, usually the loop thread, from a stage's on_event."""
        if self._waiters:
            self._cond.notify_all()
        for poller in self._pollers:
            poller._wakeup(self, events)

    def _add_poller(self, poller: Waker) -> None:
        with self._lock:
            if poller not in self._pollers:
                self._set_pollers_locked((*self._pollers, poller))

    def _remove_poller(self, poller: Waker) -> None:
        with self._lock:
            self._set_pollers_locked(tuple(p for p in self._pollers if p is not poller))

    def _set_pollers_locked(self, pollers: tuple[Waker, ...]) -> None:
        self._pollers = pollers
        self._pollers_need_events = any(getattr(p, "needs_events", True) for p in pollers)

    # --- blocking -------------------------------------------------------------------------

    def _check_open_locked(self) -> None:
        if self._closed:
            raise os_error(errno.EBADF)

    def _wait_locked(self, ready: Callable[[], bool], nonblocking: bool = False,
                     deadline: float | None = None) -> None:
        """Return once `ready()` is true; the caller holds the lock.

        `ready` may raise (a pending error). Raises EBADF if the socket is or gets closed,
        ENETDOWN if the host stops, BlockingIOError(EAGAIN) instead of waiting when
        non-blocking, TimeoutError when the socket's timeout passes first, or `deadline`
        (time.monotonic()) when a call's timeout covers several waits (sendall).
        """
        timeout = 0.0 if nonblocking else self._timeout
        if deadline is not None and not nonblocking:
            timeout = deadline - time.monotonic()
            if timeout <= 0 and not ready():
                raise TimeoutError("timed out")
            timeout = max(timeout, 1e-6)  # a wait, however short: never the EAGAIN path
        if timeout == 0.0:
            # Non-blocking (an asyncio reader tries once per wait): one look, no clock.
            self._check_open_locked()
            if self._network_is_down:
                raise os_error(errno.ENETDOWN)
            if ready():
                return
            raise os_error(errno.EAGAIN)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._check_open_locked()
            if self._network_is_down:
                raise os_error(errno.ENETDOWN)
            if ready():
                return
            if deadline is None:
                remaining = None
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if timeout == 0.0:
                        raise os_error(errno.EAGAIN)
                    raise TimeoutError("timed out")
            self._waiters += 1
            try:
                self._cond.wait(remaining)
            finally:
                self._waiters -= 1

    def _is_nonblocking(self, flags: int, dontwait_flag: int) -> bool:
        return bool(flags & dontwait_flag) or self._timeout == 0.0

    # --- options --------------------------------------------------------------------------

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> int:
        if buflen is not None:
            raise os_error(errno.ENOPROTOOPT, "only integer options are supported")
        with self._lock:
            self._check_open_locked()
            if level == SOL_SOCKET and option == SO_ERROR:
                return self._take_error_locked() or 0
            if level == SOL_SOCKET and option == SO_TYPE:
                return self.type
        return self._getsockopt(level, option)

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        with self._lock:
            self._check_open_locked()
        if isinstance(value, (bytes, bytearray)):
            value = int.from_bytes(value[:4], "little") if value else 0
        if not isinstance(value, int):
            raise TypeError("an integer is required")
        self._setsockopt(level, option, value)

    def _take_error_locked(self) -> int | None:
        """Return and clear the pending error (SO_ERROR), if the protocol keeps one."""
        return None

    def _getsockopt(self, level: int, option: int) -> int:
        raise os_error(errno.ENOPROTOOPT, f"option {option} at level {level}")

    def _setsockopt(self, level: int, option: int, value: int) -> None:
        raise os_error(errno.ENOPROTOOPT, f"option {option} at level {level}")
