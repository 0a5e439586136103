"""One selector for both kinds of socket: netstack's and the kernel's file descriptors.

A patched program may wait on a netstack socket and a real pipe at once (asyncio does, for
its self-pipe; a server may watch stdin). The kernel's epoll cannot see netstack sockets,
and netstack's poller cannot see real files, so `MixedSelector` uses both:

- real fds go to a kernel epoll (the original `selectors.EpollSelector`);
- netstack sockets register this selector as one of their pollers (base_socket.Waker). When
  one of them changes, the socket calls `_wakeup`, which writes to an eventfd that the
  kernel epoll also watches;
- `select(timeout)` first asks the netstack sockets for their readiness; if one is ready it
  only peeks at the kernel (timeout 0); otherwise it sleeps in epoll until a real fd is
  ready, the eventfd says a netstack socket changed, or the timeout passes.

A wakeup between the readiness check and the sleep is not lost: it leaves the eventfd
readable, and epoll returns at once. File numbers tell the kinds apart: netstack's start
above any real one (netstack.api.base_socket.FIRST_FILENO).
"""

from __future__ import annotations

import os
import select as _stdlib_select
import selectors
from collections.abc import Mapping
from typing import Any

from netstack.api.base_socket import socket_for
from netstack.api.constants import POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT
from netstack.compat.socket_class import is_netstack_fileno

KernelSelector = selectors.EpollSelector  # taken before patching
_READ_BITS = POLLIN | POLLERR | POLLHUP | POLLNVAL  # epoll wakes readers on errors too
_WRITE_BITS = POLLOUT | POLLERR | POLLHUP | POLLNVAL


class _Map(Mapping):
    def __init__(self, keys: dict[int, selectors.SelectorKey]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, fileobj: Any) -> selectors.SelectorKey:
        fd = _fileno(fileobj)
        return self._keys[fd]

    def __iter__(self):
        return iter(self._keys)


def _fileno(fileobj: Any) -> int:
    fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
    if not isinstance(fd, int) or fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class MixedSelector(selectors.BaseSelector):
    needs_events = False  # a wakeup only makes select() look again

    def __init__(self) -> None:
        self._keys: dict[int, selectors.SelectorKey] = {}
        self._stack_sockets: dict[int, Any] = {}  # fd -> the api socket
        self._kernel = KernelSelector()
        self._eventfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._kernel.register(self._eventfd, selectors.EVENT_READ)

    # --- registration ---------------------------------------------------------------------
    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        if not events or events & ~(selectors.EVENT_READ | selectors.EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        fd = _fileno(fileobj)
        if fd in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = selectors.SelectorKey(fileobj, fd, events, data)
        if is_netstack_fileno(fd):
            sock = socket_for(fd)
            self._stack_sockets[fd] = sock
            sock._add_poller(self)
        else:
            self._kernel.register(fd, events)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = _fileno(fileobj) if not isinstance(fileobj, int) else fileobj
        key = self._keys.pop(fd)  # KeyError if not registered, as the stdlib's
        sock = self._stack_sockets.pop(fd, None)
        if sock is not None:
            sock._remove_poller(self)
        else:
            try:
                self._kernel.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass  # closed before it was unregistered: the kernel forgot it already
        return key

    def get_map(self) -> Mapping:
        return _Map(self._keys)

    # --- waiting --------------------------------------------------------------------------
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._stack_ready()
        kernel_events = self._kernel.select(0 if ready else timeout)
        woken = False
        for kernel_key, events in kernel_events:
            if kernel_key.fd == self._eventfd:
                woken = True
                continue
            key = self._keys.get(kernel_key.fd)
            if key is not None and events & key.events:
                ready.append((key, events & key.events))
        if woken:
            try:
                os.eventfd_read(self._eventfd)
            except BlockingIOError:
                pass
            if not any(is_netstack_fileno(key.fd) for key, _ in ready):
                ready += self._stack_ready()
        return ready

    def _stack_ready(self) -> list[tuple[selectors.SelectorKey, int]]:
        ready = []
        for fd, sock in list(self._stack_sockets.items()):
            key = self._keys.get(fd)
            if key is None:
                continue
            bits = sock.readiness()
            events = (selectors.EVENT_READ if bits & _READ_BITS else 0) | (
                selectors.EVENT_WRITE if bits & _WRITE_BITS else 0)
            if events & key.events:
                ready.append((key, events & key.events))
        return ready

    # --- what a netstack socket calls (base_socket.Waker) ---------------------------------
    def _wakeup(self, sock: Any, events: int) -> None:
        try:
            os.eventfd_write(self._eventfd, 1)
        except OSError:
            pass  # closed: nobody waits any more

    def _socket_closed(self, sock: Any) -> None:
        self._wakeup(sock, POLLNVAL)

    def close(self) -> None:
        for fd in list(self._stack_sockets):
            self.unregister(fd)
        self._keys.clear()
        self._kernel.close()
        if self._eventfd >= 0:
            os.close(self._eventfd)
            self._eventfd = -1


def mixed_select(rlist: Any, wlist: Any, xlist: Any,
                 timeout: float | None = None) -> tuple[list, list, list]:
    """`select.select` over netstack sockets and real fds alike (xlist: real fds only)."""
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative")
    rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
    if not any(is_netstack_fileno(_fileno(f)) for f in rlist + wlist):
        return _stdlib_select.select(rlist, wlist, xlist, timeout)
    selector = MixedSelector()
    try:
        wanted: dict[int, int] = {}
        objects: dict[int, Any] = {}
        for fileobj, event in [(f, selectors.EVENT_READ) for f in rlist] + [
                (f, selectors.EVENT_WRITE) for f in wlist]:
            fd = _fileno(fileobj)
            wanted[fd] = wanted.get(fd, 0) | event
            objects[fd] = fileobj
        for fd, events in wanted.items():
            selector.register(fd, events)
        ready = selector.select(timeout)
    finally:
        selector.close()
    readable = [f for f in rlist if any(k.fd == _fileno(f) and e & selectors.EVENT_READ
                                        for k, e in ready)]
    writable = [f for f in wlist if any(k.fd == _fileno(f) and e & selectors.EVENT_WRITE
                                        for k, e in ready)]
    return readable, writable, []


class MixedPoll:
    """`select.poll()` over both kinds: register(fd, mask), poll(timeout_ms)."""

    def __init__(self) -> None:
        self._masks: dict[int, int] = {}

    def register(self, fd: Any, eventmask: int = POLLIN | POLLOUT) -> None:
        self._masks[_fileno(fd)] = eventmask

    def modify(self, fd: Any, eventmask: int) -> None:
        fd = _fileno(fd)
        if fd not in self._masks:
            raise FileNotFoundError(2, "No such file or directory")
        self._masks[fd] = eventmask

    def unregister(self, fd: Any) -> None:
        del self._masks[_fileno(fd)]

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        selector = MixedSelector()
        try:
            for fd, mask in self._masks.items():
                events = (selectors.EVENT_READ if mask & POLLIN else 0) | (
                    selectors.EVENT_WRITE if mask & POLLOUT else 0)
                selector.register(fd, events or selectors.EVENT_READ)
            seconds = None if timeout is None or timeout < 0 else timeout / 1000
            ready = selector.select(seconds)
        finally:
            selector.close()
        return [(key.fd, (POLLIN if events & selectors.EVENT_READ else 0)
                 | (POLLOUT if events & selectors.EVENT_WRITE else 0)) for key, events in ready]
