"""tcp-hold: an echo that holds thousands of idle connections without a thread for each.

The other stream services spend a thread per connection (stream_runner.py), which is the
easiest code to read but caps them at a few dozen clients. This one is event-driven: one
thread, one epoll over the listener and every connection, nonblocking sockets throughout,
the way a server holding 10,000 mostly idle clients is written (the C10K problem):

- the listener is readable: accept until the queue is empty, register each new socket;
- a connection is readable: recv what is there and send it back (RFC 862 echo); at end of
  file, close it;
- what the send buffer did not take waits in `pending`, and the socket is watched for
  EPOLLOUT until it is all sent (reading from it stops meanwhile: a client that never
  reads cannot make us buffer without limit).

`netstack bench` uses it to count how many established connections the stack can hold and
what each costs in memory. It publishes two counters, printed by `netstack run` on exit:
`service.tcp_hold.accepted` and `service.tcp_hold.peak` (most connections held at once).
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from typing import Any

from netstack import api
from netstack.services.listeners import open_listener

DEFAULT_PORT = 7
LISTEN_BACKLOG = 4096  # the stack caps it at TcpConfig.backlog_limit
CHUNK = 65536
EVENTS_PER_POLL = 256
STOP_CHECK_INTERVAL = 0.1  # seconds each poll may sleep before the loop looks at `stop`


class Handler:
    """A loop service: `serve_loop` owns its thread (see stream_runner.ServiceRunner)."""

    def __init__(self) -> None:
        self.held = 0  # connections open right now
        self.peak = 0
        self.accepted = 0

    def serve_loop(self, host: Any, port: int, stop: threading.Event,
                   on_ready: Callable[[], None] | None = None) -> None:
        poller = api.epoll()
        listener = None
        connections: dict[int, Any] = {}
        pending: dict[int, memoryview] = {}  # echo bytes the send buffer has not taken yet
        try:
            listener = open_listener(host, port, LISTEN_BACKLOG, owner="tcp-hold")
            poller.register(listener, api.EPOLLIN)
            if on_ready is not None:
                on_ready()
            while not stop.is_set():
                for fileno, events in poller.poll(STOP_CHECK_INTERVAL, EVENTS_PER_POLL):
                    if fileno == listener.fileno():
                        self._accept_all(listener, poller, connections, host)
                    elif fileno in connections:
                        self._serve(connections[fileno], events, poller, connections, pending)
        except OSError as exc:
            if exc.errno != errno.ENETDOWN:  # ENETDOWN: the host closed under us, a normal end
                raise
        finally:
            poller.close()
            if listener is not None:
                listener.close()
            for sock in connections.values():
                sock.close()

    def _accept_all(self, listener: Any, poller: Any, connections: dict[int, Any],
                    host: Any) -> None:
        while True:
            try:
                sock, _peer = listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            connections[sock.fileno()] = sock
            poller.register(sock, api.EPOLLIN)
            self.accepted += 1
            self.held += 1
            host.counters.bump("service.tcp_hold.accepted")
            if self.held > self.peak:
                host.counters.bump("service.tcp_hold.peak", self.held - self.peak)
                self.peak = self.held

    def _serve(self, sock: Any, events: int, poller: Any, connections: dict[int, Any],
               pending: dict[int, memoryview]) -> None:
        fileno = sock.fileno()
        try:
            if fileno in pending:  # waiting for room to send the rest of an echo
                if events & (api.EPOLLOUT | api.EPOLLERR | api.EPOLLHUP):
                    rest = _send_some(sock, pending[fileno])
                    if rest:
                        pending[fileno] = rest
                    else:
                        del pending[fileno]
                        poller.modify(sock, api.EPOLLIN)
                return
            data = sock.recv(CHUNK)
            if not data:
                raise ConnectionResetError  # end of file: the client closed, so do we
            rest = _send_some(sock, memoryview(data))
            if rest:
                pending[fileno] = rest
                poller.modify(sock, api.EPOLLOUT)
        except BlockingIOError:
            return  # woken for nothing (another event was already handled)
        except OSError:
            poller.unregister(sock)
            pending.pop(fileno, None)
            del connections[fileno]
            sock.close()
            self.held -= 1


def _send_some(sock: Any, view: memoryview) -> memoryview:
    """Send what the send buffer takes now; the rest."""
    try:
        return view[sock.send(view):]
    except BlockingIOError:
        return view


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Hold and echo on TCP `port` until `stop` is set (or the host closes)."""
    Handler().serve_loop(host, port, stop or threading.Event())
