"""One thread, one epoll loop, any number of datagram services.

A service is a handler with `handle(sock, data, sender)`, called for each datagram that
arrives on the socket bound for it. The loop is the classic single-threaded server: wait
for readiness on every socket at once, read the datagrams queued on each ready socket (up
to DRAIN_LIMIT), hand each to that socket's handler, repeat. It uses only the public API: Host.socket and
netstack.api.epoll.

    stop = threading.Event()
    serve_datagrams(host, [(udp_echo.Handler(), 7), (daytime.Handler(), 13)], stop)

or, on a thread of its own, with start-up errors (a port in use) raised to the caller:

    with ServiceRunner(host, [(udp_echo.Handler(), 7)]):
        ...
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from netstack import api
from netstack.services.loop_hook import PassHookService
from netstack.services.registry import service_of

log = logging.getLogger(__name__)

# The largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header).
MAX_DATAGRAM = 65507
# How often the loop looks at its stop event while no datagram arrives. The wait is a real
# sleep inside epoll, so an idle service costs a wakeup this often and nothing more.
STOP_CHECK_INTERVAL = 0.1
# Datagrams read from one socket per readiness report. Each wakeup of this thread costs a
# thread switch, so we take what a burst queued; the limit keeps one busy socket from
# starving the others (level-triggered, a socket with more left is reported again).
DRAIN_LIMIT = 64
ANY_ADDRESS = "0.0.0.0"


class DatagramHandler(Protocol):
    def handle(self, sock: Any, data: bytes, sender: tuple[str, int]) -> None:
        """Act on one datagram that `sender` sent to `sock`; may reply with sock.sendto."""


Binding = tuple[DatagramHandler, int]  # (handler, UDP port)


def serve_datagrams(host: Any, bindings: Sequence[Binding], stop: threading.Event,
                    on_ready: Callable[[], None] | None = None) -> None:
    """Bind one socket per binding, then serve them all until `stop` is set or the host
    closes. `on_ready` runs once every socket is bound. Sockets are closed on the way out."""
    poller = api.epoll()
    sockets: dict[int, tuple[Any, DatagramHandler]] = {}
    try:
        for handler, port in bindings:
            sock = host.socket(api.AF_INET, api.SOCK_DGRAM)
            sock.owner = service_of(handler)
            sockets[sock.fileno()] = (sock, handler)  # recorded first: closed even if bind fails
            sock.bind((ANY_ADDRESS, port))
            # Level-triggered: a socket with datagrams left after DRAIN_LIMIT reads stays
            # ready, so a busy socket cannot starve the others and nothing is left behind.
            poller.register(sock, api.EPOLLIN)
        if on_ready is not None:
            on_ready()
        while not stop.is_set():
            for fileno, _events in poller.poll(STOP_CHECK_INTERVAL):
                sock, handler = sockets[fileno]
                _serve_ready(sock, handler)
    except OSError as exc:
        if exc.errno != errno.ENETDOWN:  # ENETDOWN: the host closed under us, a normal end
            raise
    finally:
        poller.close()
        for sock, _handler in sockets.values():
            sock.close()


def _serve_ready(sock: Any, handler: DatagramHandler) -> None:
    """Serve what is queued on `sock` now, up to DRAIN_LIMIT datagrams, without blocking."""
    for _ in range(DRAIN_LIMIT):
        try:
            data, sender = sock.recvfrom(MAX_DATAGRAM, api.MSG_DONTWAIT)
        except BlockingIOError:
            return  # drained: back to epoll
        except OSError as exc:
            if exc.errno == errno.ENETDOWN:
                raise
            # A pending error (say an ICMP port unreachable) is reported once, by this read.
            log.info("service on %s: %s", sock.getsockname(), exc)
            continue
        try:
            handler.handle(sock, data, sender)
        except OSError as exc:
            if exc.errno == errno.ENETDOWN:
                raise
            # One sender's trouble (say an unreachable reply address) must not stop the service.
            log.info("service on %s: %s", sock.getsockname(), exc)


class ServiceThread:
    """One service loop on a background thread: start() returns once every port is bound
    (or raises why one could not be); stop() ends the loop and waits for it.

    `serve(stop, on_ready)` is the loop: it binds, calls on_ready(), and returns once the
    `stop` event is set."""

    def __init__(self, serve: Callable[[threading.Event, Callable[[], None]], None],
                 name: str) -> None:
        self._serve = serve
        self.name = name
        self.error: BaseException | None = None  # what ended the loop, if not stop()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"{self.name} did not start within {timeout:g} s")
        if self.error is not None:
            self._thread.join(timeout)
            self._thread = None
            raise self.error

    def _main(self) -> None:
        try:
            self._serve(self._stop, self._ready.set)
        except BaseException as exc:  # noqa: BLE001 - handed to start() or read by the owner
            self.error = exc
            log.exception("%s stopped by an error", self.name)
        finally:
            self._ready.set()  # wake start() even when binding failed

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"{self.name} did not stop within {timeout:g} s")
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ServiceThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class LoopServices(PassHookService):
    """The same datagram services, served by the engine's own loop thread.

    The socket calls are the same ones serve_datagrams makes (recvfrom with MSG_DONTWAIT,
    sendto on a non-blocking socket); only the thread differs. A pass hook (Engine.
    add_pass_hook) runs after the loop has dispatched a burst of frames and woken the
    sockets: it asks the epoll which sockets are ready and serves them there and then, and
    the engine sends the answers in the same pass. No thread hand-off per burst: on two
    cores a wake-up of a sleeping thread costs tens of microseconds, more than an echo.

    Handlers must not block (they run on the thread that moves every frame): the datagram
    services here only read and send. The hook and its plumbing are PassHookService's
    (loop_hook.py). Interface of ServiceThread: start, stop, running, error.
    """

    what = "datagram services"

    def __init__(self, host: Any, bindings: Sequence[Binding]) -> None:
        super().__init__(host, bindings)
        self._sockets: dict[int, tuple[Any, DatagramHandler]] = {}

    def _open(self, handler: DatagramHandler, port: int) -> None:
        sock = self.host.socket(api.AF_INET, api.SOCK_DGRAM)
        sock.owner = service_of(handler)
        self._sockets[sock.fileno()] = (sock, handler)  # recorded first: closed if bind fails
        sock.bind((ANY_ADDRESS, port))
        sock.setblocking(False)  # a full send buffer drops, never blocks the loop
        self._poller.register(sock, api.EPOLLIN)

    def _ready(self, fileno: int, events: int) -> None:
        entry = self._sockets.get(fileno)
        if entry is not None:
            _serve_ready(*entry)

    def _close_sockets(self) -> None:
        for sock, _handler in self._sockets.values():
            sock.close()
        self._sockets.clear()


class ServiceRunner(ServiceThread):
    """serve_datagrams on a background thread (see ServiceThread)."""

    def __init__(self, host: Any, bindings: Sequence[Binding]) -> None:
        self.host = host
        self.bindings = list(bindings)
        super().__init__(
            lambda stop, on_ready: serve_datagrams(host, self.bindings, stop, on_ready=on_ready),
            name="services",
        )

    @classmethod
    def from_names(cls, host: Any, services: Sequence[tuple[str, int]]) -> ServiceRunner:
        """From (name, port) pairs as `netstack run --service NAME:PORT` gives them."""
        from netstack.services.registry import make_handler

        return cls(host, [(make_handler(name), port) for name, port in services])


def datagram_services(host: Any, bindings: Sequence[Binding],
                      on_loop: bool | None = None) -> ServiceRunner | LoopServices:
    """The runner `netstack run` uses: on the loop thread (LoopServices) when the engine
    allows it and `on_loop` is not False, else on a thread of their own (ServiceRunner)."""
    if on_loop is None:
        on_loop = LoopServices.possible(host)
    return LoopServices(host, bindings) if on_loop else ServiceRunner(host, bindings)
