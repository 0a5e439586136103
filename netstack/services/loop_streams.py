"""Stream (TCP) services run by the engine's own loop thread: no thread per connection.

stream_runner.py gives each connection a thread and blocking calls, the easiest code to
read. But each short connection then pays for a new thread and for several hand-offs between
threads (the loop wakes the accept loop, which starts a thread, which wakes the loop...), and
on two cores each wake-up of a sleeping thread costs tens of microseconds, more than the
protocol work of an echo. Here the loop thread serves the connections itself, in a pass hook
(Engine.add_pass_hook), like LoopServices (runner.py) does for datagrams: once the frames
of a pass are dispatched it asks one epoll which sockets are ready, accepts, reads and
answers there and then, and the engine sends the answers in the same pass.

A loop stream handler is written as callbacks, as with asyncio's Protocol (one handler
object serves every connection; `conn` tells them apart):

    connection_made(conn)        a client connected (conn.peer is its address)
    data_received(conn, data)    bytes arrived, in whatever pieces the network made
    eof_received(conn)           the client half-closed (its FIN); the runner closes our
                                 side once what was written is sent, unless the handler
                                 returns True to keep writing

`conn.write(data)` never blocks: what the send buffer does not take now is kept and sent as
room opens, and meanwhile the connection is not read (a client that never reads cannot make
us buffer without limit). `conn.close()` closes once everything written is sent. Handlers
run on the thread that moves every frame, so they must not block or take long.

The same socket calls as tcp_hold.py, on non-blocking sockets; only the thread differs.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from netstack import api
from netstack.services.listeners import open_listener
from netstack.services.loop_hook import PassHookService
from netstack.services.registry import service_of

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 1024  # beyond this the listener is not served: clients wait in its backlog
LISTEN_BACKLOG = 128
CHUNK = 65536  # bytes taken per recv
READS_PER_REPORT = 16  # recv calls per connection per pass: one busy client cannot hog it


class LoopStreamHandler(Protocol):
    def connection_made(self, conn: LoopConnection) -> None: ...

    def data_received(self, conn: LoopConnection, data: bytes) -> None: ...

    def eof_received(self, conn: LoopConnection) -> bool | None: ...


def is_loop_stream_handler(handler: Any) -> bool:
    return callable(getattr(handler, "data_received", None))


class LoopConnection:
    """One client of a loop stream service, as its handler sees it."""

    def __init__(self, streams: LoopStreams, sock: Any, peer: tuple[str, int],
                 handler: LoopStreamHandler) -> None:
        self.sock = sock
        self.peer = peer
        self.handler = handler
        self.closing = False  # close() was called: the socket closes once `pending` is sent
        self.eof = False  # the client's FIN was read
        self.pending = bytearray()  # written, not yet taken by the send buffer
        self._streams = streams

    @property
    def is_open(self) -> bool:
        """The socket is still open (close() with nothing pending closes it at once)."""
        return self.sock.fileno() != -1

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send `data` after whatever was written before, without blocking."""
        if self.closing:
            raise OSError(errno.EPIPE, "write after close()")
        if self.pending:
            self.pending += data
            return
        view = memoryview(data)
        sent = _send_some(self.sock, view)
        if sent < len(view):
            self.pending += view[sent:]
            self._streams._watch(self)

    def close(self) -> None:
        """Close once everything written has been sent (at once if nothing waits)."""
        self.closing = True
        if not self.pending:
            self._streams._finish(self)

    def _flush(self) -> None:
        """Send what the send buffer takes of `pending` now."""
        sent = _send_some(self.sock, self.pending)
        del self.pending[:sent]


def _send_some(sock: Any, data: Any) -> int:
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0


class LoopStreams(PassHookService):
    """Stream services served in the engine's passes. The hook and its plumbing are
    PassHookService's (loop_hook.py). Interface of ServiceThread (runner.py): start (raises
    why a port could not be listened on), stop, running, error."""

    what = "stream services"

    def __init__(self, host: Any, bindings: Sequence[tuple[LoopStreamHandler, int]],
                 max_connections: int = MAX_CONNECTIONS,
                 listen_backlog: int = LISTEN_BACKLOG) -> None:
        super().__init__(host, bindings)
        self.max_connections = max_connections
        self.listen_backlog = listen_backlog
        self._listeners: dict[int, tuple[Any, LoopStreamHandler]] = {}
        self._connections: dict[int, LoopConnection] = {}
        self._accepting = True  # False while max_connections are open

    def _open(self, handler: LoopStreamHandler, port: int) -> None:
        sock = open_listener(self.host, port, self.listen_backlog, owner=service_of(handler))
        self._listeners[sock.fileno()] = (sock, handler)
        self._poller.register(sock, api.EPOLLIN)

    # --- on the loop thread ---------------------------------------------------------------

    def _ready(self, fileno: int, events: int) -> None:
        """Accept, read and answer on one socket that is ready."""
        conn = self._connections.get(fileno)
        if conn is not None:
            self._serve_connection(conn, events)
        elif fileno in self._listeners:
            self._accept_all(*self._listeners[fileno])

    def _accept_all(self, listener: Any, handler: LoopStreamHandler) -> None:
        while self._accepting:
            try:
                sock, peer = listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            conn = LoopConnection(self, sock, peer, handler)
            self._connections[sock.fileno()] = conn
            if len(self._connections) >= self.max_connections:
                self._set_accepting(False)
            self._poller.register(sock, api.EPOLLIN)
            if self._guarded(conn, handler.connection_made, conn):
                # Its first bytes may have come in the same pass as the handshake's last ACK.
                self._serve_connection(conn, api.EPOLLIN)

    def _serve_connection(self, conn: LoopConnection, events: int) -> None:
        if conn.pending:
            if events & (api.EPOLLOUT | api.EPOLLERR | api.EPOLLHUP):
                self._guarded(conn, conn._flush)
            if conn.pending:
                return
            if conn.closing:
                self._finish(conn)
                return
            self._poller.modify(conn.sock, 0 if conn.eof else api.EPOLLIN)
        if conn.eof:
            if events & (api.EPOLLERR | api.EPOLLHUP) and not conn.closing:
                self._finish(conn)  # the handler kept writing, but the peer is gone
            return
        for _ in range(READS_PER_REPORT):
            try:
                data = conn.sock.recv(CHUNK)
            except BlockingIOError:
                return
            except OSError as exc:
                self._ended(conn, exc)
                return
            if not data:
                conn.eof = True
                if not self._guarded(conn, self._eof, conn):
                    return
                if not conn.closing and not conn.pending:
                    self._poller.modify(conn.sock, 0)  # only errors and hang-ups from now on
                return
            if not self._guarded(conn, conn.handler.data_received, conn, data):
                return
            if conn.closing or conn.pending:
                return  # the rest waits until the client reads (or we are gone)

    @staticmethod
    def _eof(conn: LoopConnection) -> None:
        if not conn.handler.eof_received(conn) and not conn.closing:
            conn.close()

    def _guarded(self, conn: LoopConnection, fn: Any, *args: Any) -> bool:
        """Run a handler callback: False if it (or the socket under it) failed, and the
        connection was closed."""
        try:
            fn(*args)
        except OSError as exc:
            if exc.errno == errno.ENETDOWN:
                raise
            self._ended(conn, exc)
            return False
        except Exception:  # noqa: BLE001 - one broken connection must not stop the service
            log.exception("connection from %s:%d failed", *conn.peer)
            self._finish(conn)
            return False
        return conn.is_open

    def _ended(self, conn: LoopConnection, exc: OSError) -> None:
        # A client that resets or vanishes ends its own connection, nothing more.
        log.info("connection from %s:%d ended: %s", conn.peer[0], conn.peer[1], exc)
        self._finish(conn)

    def _watch(self, conn: LoopConnection) -> None:
        """`conn` has bytes waiting for room: wake it for that instead of for reading."""
        self._poller.modify(conn.sock, api.EPOLLOUT)

    def _finish(self, conn: LoopConnection) -> None:
        fileno = conn.sock.fileno()
        if self._connections.pop(fileno, None) is None:
            return
        conn.closing = True
        conn.sock.close()  # which also takes it out of the epoll set
        if not self._accepting and len(self._connections) < self.max_connections:
            self._set_accepting(True)

    def _set_accepting(self, accepting: bool) -> None:
        self._accepting = accepting
        for sock, _handler in self._listeners.values():
            self._poller.modify(sock, api.EPOLLIN if accepting else 0)

    # --- stopping -------------------------------------------------------------------------

    def _stop_here(self) -> None:
        """On the loop thread: unhook, then close every connection and listener."""
        self._unhook_here()
        self._close_all()

    def _close_sockets(self) -> None:
        for conn in list(self._connections.values()):
            conn.sock.close()
        self._connections.clear()
        for sock, _handler in self._listeners.values():
            sock.close()
        self._listeners.clear()
