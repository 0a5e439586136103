"""Stream (TCP) services: one accept loop, one thread per connection, a bounded number.

A stream service is a handler with `serve_connection(sock, peer)`: it talks to one client
over a connected socket and returns when done (the runner closes the socket). The accept
loop is one thread with one epoll over every listening socket; each accepted connection gets
a thread of its own, because a service written with plain blocking calls (recv, sendall,
makefile) is the easiest to read. At most `max_connections` run at once: beyond that the
loop stops accepting, and new clients wait in the listen backlog, as with any busy server.

    stop = threading.Event()
    serve_streams(host, [(tcp_echo.Handler(), 7), (http.Handler(), 80)], stop)

`ServiceRunner` runs datagram and stream services side by side; it is what `netstack run
--service NAME:PORT` uses. A stream handler that also has the loop callbacks
(`data_received`..., see loop_streams.py: echo, daytime) is served by the engine's loop
thread when the engine allows it; the others (http) by the threads here. A service that
runs its own event loop (`serve_loop`, such as tcp-hold, which holds thousands of
connections on one thread) gets a thread of its own.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import netstack.services.runner as datagram_runner
from netstack import api
from netstack.services.listeners import open_listener
from netstack.services.loop_streams import LoopStreams, is_loop_stream_handler
from netstack.services.registry import service_of

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64  # connection threads per serve_streams loop
LISTEN_BACKLOG = 128
STOP_CHECK_INTERVAL = 0.1  # seconds the accept loop sleeps in epoll before it looks at `stop`
JOIN_TIMEOUT = 2.0  # how long stopping waits for connection threads to notice


class StreamHandler(Protocol):
    def serve_connection(self, sock: Any, peer: tuple[str, int]) -> None:
        """Talk to one client over the connected `sock`; the caller closes it afterwards."""


StreamBinding = tuple[StreamHandler, int]  # (handler, TCP port)


def is_stream_handler(handler: Any) -> bool:
    return callable(getattr(handler, "serve_connection", None))


def is_loop_handler(handler: Any) -> bool:
    """A service that runs its own event loop: `serve_loop(host, port, stop, on_ready)`."""
    return callable(getattr(handler, "serve_loop", None))


class _Connections:
    """The live connection threads and their sockets, so stopping can end them all."""

    def __init__(self, limit: int) -> None:
        self.slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._live: dict[threading.Thread, Any] = {}

    def start(self, handler: StreamHandler, sock: Any, peer: tuple[str, int]) -> None:
        thread = threading.Thread(target=self._run, args=(handler, sock, peer),
                                  name=f"service-conn-{peer[0]}:{peer[1]}", daemon=True)
        with self._lock:
            self._live[thread] = sock
        thread.start()

    def _run(self, handler: StreamHandler, sock: Any, peer: tuple[str, int]) -> None:
        try:
            handler.serve_connection(sock, peer)
        except OSError as exc:
            # A client that resets or vanishes ends its own connection, nothing more.
            log.info("connection from %s:%d ended: %s", peer[0], peer[1], exc)
        except Exception:  # noqa: BLE001 - one broken connection must not stop the service
            log.exception("connection from %s:%d failed", *peer)
        finally:
            sock.close()
            with self._lock:
                self._live.pop(threading.current_thread(), None)
            self.slots.release()

    def close_all(self) -> None:
        """Close every live socket (blocked calls raise EBADF) and wait for the threads."""
        with self._lock:
            live = list(self._live.items())
        for _thread, sock in live:
            sock.close()
        for thread, _sock in live:
            thread.join(JOIN_TIMEOUT)


def serve_streams(host: Any, bindings: Sequence[StreamBinding], stop: threading.Event,
                  on_ready: Callable[[], None] | None = None,
                  max_connections: int = MAX_CONNECTIONS) -> None:
    """Listen on one port per binding and serve every client until `stop` is set or the host
    closes. `on_ready` runs once every port listens. Everything is closed on the way out."""
    poller = api.epoll()
    listeners: dict[int, tuple[Any, StreamHandler]] = {}
    connections = _Connections(max_connections)
    try:
        for handler, port in bindings:
            sock = open_listener(host, port, LISTEN_BACKLOG, owner=service_of(handler))
            listeners[sock.fileno()] = (sock, handler)
            poller.register(sock, api.EPOLLIN)
        if on_ready is not None:
            on_ready()
        while not stop.is_set():
            # A free slot first, so a full server leaves new clients in the backlog instead
            # of spinning on a listener that stays ready.
            if not connections.slots.acquire(timeout=STOP_CHECK_INTERVAL):
                continue
            accepted = False
            try:
                for fileno, _events in poller.poll(STOP_CHECK_INTERVAL, 1):
                    sock, handler = listeners[fileno]
                    accepted = _accept_one(sock, handler, connections)
            finally:
                if not accepted:
                    connections.slots.release()
    except OSError as exc:
        if exc.errno != errno.ENETDOWN:  # ENETDOWN: the host closed under us, a normal end
            raise
    finally:
        poller.close()
        for sock, _handler in listeners.values():
            sock.close()
        connections.close_all()


def _accept_one(listener: Any, handler: StreamHandler, connections: _Connections) -> bool:
    try:
        sock, peer = listener.accept()
    except BlockingIOError:
        return False  # the client reset before we took it, or another poll saw it first
    connections.start(handler, sock, peer)
    return True


def _loop_of(host: Any, handler: Any, port: int) -> Callable[[threading.Event, Callable[[], None]], None]:
    return lambda stop, on_ready: handler.serve_loop(host, port, stop, on_ready)


class ServiceRunner:
    """Datagram and stream services, on the engine's loop or on background threads. start()
    returns once every port is bound (or raises why one could not be); stop() ends them.

    `bindings` are (handler, port): a handler with `serve_connection` is a stream (TCP)
    service, one with `serve_loop` runs its own event loop on a thread of its own (tcp-hold),
    one with `handle` a datagram (UDP) service. `on_loop=False` keeps every service off the
    loop thread (a thread per stream connection); None lets the engine decide."""

    def __init__(self, host: Any, bindings: Sequence[tuple[Any, int]],
                 on_loop: bool | None = None) -> None:
        self.host = host
        self.bindings = list(bindings)
        if on_loop is None:
            on_loop = LoopStreams.possible(host)
        looped = [(h, p) for h, p in self.bindings
                  if on_loop and is_stream_handler(h) and is_loop_stream_handler(h)]
        self._loop_streams = LoopStreams(host, looped) if looped else None
        streams = [(h, p) for h, p in self.bindings
                   if is_stream_handler(h) and (h, p) not in looped]
        loops = [(h, p) for h, p in self.bindings if is_loop_handler(h)]
        datagrams = [(h, p) for h, p in self.bindings
                     if not is_stream_handler(h) and not is_loop_handler(h)]
        self._datagrams = (datagram_runner.datagram_services(host, datagrams, on_loop)
                           if datagrams else None)
        self._streams = (
            datagram_runner.ServiceThread(
                lambda stop, on_ready: serve_streams(host, streams, stop, on_ready=on_ready),
                name="stream-services",
            )
            if streams else None
        )
        self._loops = [datagram_runner.ServiceThread(_loop_of(host, h, p), name=f"service-{p}")
                       for h, p in loops]

    @classmethod
    def from_names(cls, host: Any, services: Sequence[tuple[str, int]]) -> ServiceRunner:
        """From (name, port) pairs as `netstack run --service NAME:PORT` gives them; a
        service with a UDP and a TCP part (daytime) serves both on that port."""
        from netstack.services.registry import make_handlers

        return cls(host, [(handler, port) for name, port in services
                          for handler in make_handlers(name)])

    def _parts(self) -> list[Any]:
        return [p for p in (self._loop_streams, self._streams, *self._loops, self._datagrams)
                if p is not None]

    @property
    def error(self) -> BaseException | None:
        """What ended a loop, if not stop()."""
        for part in self._parts():
            if part.error is not None:
                return part.error
        return None

    def start(self, timeout: float = 10.0) -> None:
        if self._datagrams is not None:
            self._datagrams.start(timeout)
        try:
            for part in (self._loop_streams, self._streams, *self._loops):
                if part is not None:
                    part.start(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        for part in self._parts():
            part.stop(timeout)

    @property
    def running(self) -> bool:
        """Every part that was started is still serving (false once one has died)."""
        return all(part.running for part in self._parts())

    def __enter__(self) -> ServiceRunner:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
