"""Readiness over stack sockets: `poll()` like select.poll, `epoll()` like F-Stack's ff_epoll.

Both let one thread serve many sockets. A socket tells every poller it is registered with
when something happens to it (`_wakeup`, called with the socket's lock held, often on the
loop thread); the poller then looks at the sockets' readiness itself, without holding its
own lock, so the lock order is always socket then poller.

- `Poll` is stateless, like poll(2): each call asks every registered socket for its events.
- `Epoll` keeps a ready list, like epoll(7): only sockets that were woken are looked at.
  Level-triggered (the default), a socket stays on the list while it is ready, so it is
  reported on every call until drained. Edge-triggered (EPOLLET), it is reported once per
  wakeup: new data arriving reports it again, data left unread does not. EPOLLONESHOT
  reports it once, then disables it until `modify`.
"""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass

from netstack.api.base_socket import StackSocket, socket_for
from netstack.api.constants import (
    EPOLLERR,
    EPOLLET,
    EPOLLHUP,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLPRI,
)
from netstack.stages.ports import os_error

ALWAYS_REPORTED = POLLERR | POLLHUP | POLLNVAL  # poll(2) reports these whatever the mask


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None or timeout < 0 else time.monotonic() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


class Poll:
    """select.poll() for stack sockets: register(sock, mask), poll(timeout_ms)."""

    needs_events = False  # a wakeup only makes poll() look again (base_socket.Waker)

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._registered: dict[int, tuple[StackSocket, int]] = {}
        self._generation = 0  # bumped by every wakeup, so poll() never sleeps through one

    def register(self, fd: int | StackSocket, eventmask: int = POLLIN | POLLPRI | POLLOUT) -> None:
        sock = socket_for(fd)
        with self._cond:
            self._registered[sock._fileno] = (sock, eventmask)
        sock._add_poller(self)
        self._wakeup(sock, 0)

    def modify(self, fd: int | StackSocket, eventmask: int) -> None:
        sock = socket_for(fd)
        with self._cond:
            if sock._fileno not in self._registered:
                raise os_error(errno.ENOENT)
            self._registered[sock._fileno] = (sock, eventmask)
        self._wakeup(sock, 0)

    def unregister(self, fd: int | StackSocket) -> None:
        sock = fd if isinstance(fd, StackSocket) else _registered_socket(self._registered, fd)
        with self._cond:
            if self._registered.pop(sock._fileno, None) is None:
                raise KeyError(sock._fileno)
        sock._remove_poller(self)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        """[(fileno, events)] of the ready sockets; waits up to `timeout` milliseconds
        (None or negative: forever) for one. A closed socket reports POLLNVAL."""
        deadline = _deadline(None if timeout is None else timeout / 1000)
        while True:
            with self._cond:
                generation = self._generation
                registered = list(self._registered.items())
            ready = []
            for fileno, (sock, mask) in registered:
                events = sock.readiness() & (mask | ALWAYS_REPORTED)
                if events:
                    ready.append((fileno, events))
            if ready:
                return ready
            with self._cond:
                while generation == self._generation:
                    remaining = _remaining(deadline)
                    if remaining is not None and remaining <= 0:
                        return []
                    self._cond.wait(remaining)

    def _wakeup(self, sock: StackSocket, events: int) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def _socket_closed(self, sock: StackSocket) -> None:
        self._wakeup(sock, POLLNVAL)  # it stays registered and reports POLLNVAL, as poll(2)


def _registered_socket(registered: dict[int, tuple[StackSocket, int]], fd: int) -> StackSocket:
    entry = registered.get(fd)
    if entry is None:
        raise KeyError(fd)
    return entry[0]


@dataclass(eq=False)
class _Interest:
    sock: StackSocket
    mask: int
    enabled: bool = True  # EPOLLONESHOT turns it off once reported


class Epoll:
    """An epoll instance over stack sockets (ff_epoll_create/ctl/wait in one object)."""

    def __init__(self, sizehint: int = -1, flags: int = 0) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._interests: dict[int, _Interest] = {}
        self._ready: dict[int, _Interest] = {}  # insertion order: the ready list, oldest first
        self._closed = False

    def register(self, fd: int | StackSocket,
                 eventmask: int = EPOLLIN | EPOLLOUT) -> None:
        sock = socket_for(fd)
        with self._cond:
            self._check_open()
            if sock._fileno in self._interests:
                raise os_error(errno.EEXIST)
            self._interests[sock._fileno] = _Interest(sock, eventmask)
        sock._add_poller(self)
        self._wakeup(sock, 0)  # epoll_ctl(ADD) reports a socket that is ready already

    def modify(self, fd: int | StackSocket, eventmask: int) -> None:
        sock = socket_for(fd)
        with self._cond:
            self._check_open()
            interest = self._interests.get(sock._fileno)
            if interest is None:
                raise os_error(errno.ENOENT)
            interest.mask = eventmask
            interest.enabled = True
        self._wakeup(sock, 0)  # and so does MOD

    def unregister(self, fd: int | StackSocket) -> None:
        fileno = fd._fileno if isinstance(fd, StackSocket) else fd
        with self._cond:
            self._check_open()
            interest = self._interests.pop(fileno, None)  # type: ignore[arg-type]
            if interest is None:
                raise os_error(errno.ENOENT)
            self._ready.pop(fileno, None)  # type: ignore[arg-type]
        interest.sock._remove_poller(self)

    def poll(self, timeout: float = -1, maxevents: int = -1) -> list[tuple[int, int]]:
        """[(fileno, events)], at most `maxevents` of them; waits up to `timeout` seconds
        (negative: forever) for one."""
        deadline = _deadline(timeout)
        while True:
            with self._cond:
                self._check_open()
                fresh = list(self._ready.values())
                if maxevents > 0:
                    fresh = fresh[:maxevents]
                for interest in fresh:
                    del self._ready[interest.sock._fileno]
            reported = []
            still_ready = []
            for interest in fresh:
                mask = interest.mask
                events = interest.sock.readiness() & (mask | EPOLLERR | EPOLLHUP)
                if not events or not interest.enabled:
                    continue
                reported.append((interest.sock._fileno, events))
                if mask & EPOLLONESHOT:
                    interest.enabled = False
                elif not mask & EPOLLET:
                    still_ready.append(interest)  # level-triggered: look again next time
            with self._cond:
                for interest in still_ready:
                    fileno = interest.sock._fileno
                    if self._interests.get(fileno) is interest:
                        self._ready.setdefault(fileno, interest)  # to the back: fairness
                if reported:
                    return reported
                while not self._ready:
                    remaining = _remaining(deadline)
                    if remaining is not None and remaining <= 0:
                        return []
                    self._cond.wait(remaining)
                    self._check_open()

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            interests = list(self._interests.values())
            self._interests.clear()
            self._ready.clear()
            self._cond.notify_all()
        for interest in interests:
            interest.sock._remove_poller(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Epoll:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed epoll object")

    def _wakeup(self, sock: StackSocket, events: int) -> None:
        with self._cond:
            interest = self._interests.get(sock._fileno)
            if interest is None or not interest.enabled or sock._fileno in self._ready:
                return
            # Like ep_poll_callback: a wakeup for events nobody asked for (room to send, to
            # a reader) must not make an edge-triggered reader report its old data again.
            if events and not events & (interest.mask | EPOLLERR | EPOLLHUP):
                return
            self._ready[sock._fileno] = interest
            self._cond.notify_all()

    def _socket_closed(self, sock: StackSocket) -> None:
        # Closing a socket removes it from every epoll set (epoll(7): its last reference).
        with self._cond:
            self._interests.pop(sock._fileno, None)
            self._ready.pop(sock._fileno, None)


# The constructors' names in the stdlib select module.
poll = Poll
epoll = Epoll

__all__ = ["EPOLLERR", "EPOLLET", "EPOLLHUP", "EPOLLIN", "EPOLLONESHOT", "EPOLLOUT", "POLLERR",
           "POLLHUP", "POLLIN", "POLLNVAL", "POLLOUT", "POLLPRI", "Epoll", "Poll", "epoll", "poll"]
