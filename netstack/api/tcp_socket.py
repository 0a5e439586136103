"""TCP sockets (SOCK_STREAM): the stdlib stream-socket calls over a netstack TcpConnection.

The TCP stage owns every connection and runs only on the loop thread. This socket reaches it
in two ways (the contract in docs/ARCHITECTURE.md, section "TCP"):

- State changes (listen, connect, accept, shutdown, close) run on the loop thread through
  `host.call` and wait for it: they are rare, and their caller needs the answer.
- Bytes do not wait for the loop. The connection's `guard` is this socket's lock, so an
  application thread copies bytes into the send buffer (`conn.write_app`) or out of the
  receive buffer (`conn.read_app`) itself, under the lock, and then asks the loop to act on
  it (`conn.app_did_write` / `conn.app_did_read`). Those requests are batched: one callback
  is queued only when none is pending, so a burst of sends costs one wakeup of the loop.

The loop calls `_on_event` (lock held) after anything an application may wait for: data,
FIN, ACKed send space, a state change or an error. It wakes blocked calls and pollers.

Errors follow Linux. A connection's error (ECONNRESET, ECONNREFUSED, ETIMEDOUT) is reported
once, by the first call that looks (or by SO_ERROR); after that, sends raise EPIPE and
receives return b"" (end of file).
"""

from __future__ import annotations

import errno
import time
from collections import deque
from contextlib import nullcontext
from typing import Any

from netstack.api.base_socket import SocketHost, StackSocket
from netstack.api.constants import (
    IPPROTO_TCP,
    MSG_DONTWAIT,
    MSG_PEEK,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLRDHUP,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    TCP_INFO,
)
from netstack.api.tcp_options import TcpOptionsMixin
from netstack.api.tcp_ports import PortReservation, reserved_port, restore_reservation
from netstack.api.udp_socket import parse_address
from netstack.api.zero_copy import ZeroCopyBuffer, ZeroCopySend, allocate, merge_completions
from netstack.mbuf import HEADROOM
from netstack.stages.ports import os_error
from netstack.stages.tcp.collaborators import ZeroCopyExtent
from netstack.stages.tcp.connection import SEND_LOW_WATER_SHARE
from netstack.stages.tcp.info import TcpInfo, tcp_info
from netstack.stages.tcp.state import TcpState

ANY = ("0.0.0.0", 0)
CONNECTING = frozenset({TcpState.SYN_SENT, TcpState.SYN_RECEIVED})
# States where the application may still hand over bytes to send.
WRITABLE_STATES = frozenset({TcpState.ESTABLISHED, TcpState.CLOSE_WAIT})

def _address(pair: Any) -> tuple[str, int]:
    return ANY if pair is None else (str(pair[0]), int(pair[1]))


def _noop() -> None:
    pass


class TcpSocket(TcpOptionsMixin, StackSocket):
    def __init__(self, host: SocketHost, family: int, type: int, proto: int = 0) -> None:
        super().__init__(host, family, type, proto)
        tcp = getattr(host.stack, "tcp", None)
        if tcp is None:
            raise os_error(errno.EPROTONOSUPPORT, "this stack has no TCP stage")
        self._init_options(tcp.config.default_options())
        self._bound: PortReservation | None = None  # what bind() reserved
        self._conn: Any = None  # the TcpConnection, once connect() or accept() made one
        self._listener: Any = None  # the TcpListener, once listen() made one
        self._error_reported = False  # the connection's error was raised (or read) once
        self._shut_rd = False
        self._shut_wr = False
        self._write_scheduled = False  # an app_did_write callback is queued on the loop
        self._read_scheduled = False  # an app_did_read callback is queued on the loop
        # The copy ledger's counts from this thread, handed to the loop's counters by the
        # callbacks above (only the loop thread writes the stack's counters).
        self._copied_in = 0  # application -> send buffer
        self._copied_out = 0  # receive buffer -> application
        self._zc_sends = 0  # numbers zc_send gives, from 0 as MSG_ZEROCOPY's
        self._zc_done: deque = deque()  # (number, copied) of acknowledged zero-copy sends

    # --- binding, listening, accepting ----------------------------------------------------

    def bind(self, address: tuple[str, int]) -> None:
        ip, port = parse_address(address, "bind")
        with self._lock:
            self._check_usable_locked()
            if self._bound is not None or self._conn is not None or self._listener is not None:
                raise os_error(errno.EINVAL, "already bound")
        if int(ip) != 0 and ip != self.host.address.ip:
            raise os_error(errno.EADDRNOTAVAIL, str(ip))
        # The port is reserved now, so EADDRINUSE comes from bind() as it does on Linux,
        # and port 0 becomes the ephemeral port getsockname() shows.
        reservation = PortReservation(self._reuse_addr)
        self.host.call(lambda stack, now: stack.tcp.ports.add(reservation, ip, port))
        with self._lock:
            self._bound = reservation

    def listen(self, backlog: int = 128) -> None:
        backlog = max(0, int(backlog))
        with self._lock:
            self._check_usable_locked()
            if self._conn is not None:
                raise os_error(errno.EINVAL, "the socket is connected")
            listener = self._listener
        if listener is not None:  # listen() again: Linux just changes the backlog
            limit = self.host.stack.tcp.config.backlog_limit
            listener.backlog = max(1, min(backlog, limit))
            return
        options = self._options.copy()
        reuse = self._reuse_addr
        reservation = self._bound

        def start(stack: Any, now: float) -> None:
            local_ip, port = reserved_port(stack, reservation)
            try:
                lst = stack.tcp.listen(local_ip, port, backlog, reuse_addr=reuse,
                                       options=options)
            except OSError:
                restore_reservation(stack, reservation)
                raise
            with self._lock:
                lst.guard = self._lock
                lst.on_event = self._on_event
                self._listener = lst

        self.host.call(start)

    def accept(self) -> tuple[TcpSocket, tuple[str, int]]:
        """The next established connection, as a new blocking socket, and its peer."""
        with self._lock:
            self._check_usable_locked()
            lst = self._listener
            if lst is None:
                raise os_error(errno.EINVAL, "the socket is not listening")
        new: TcpSocket = self.host.socket(self.family, self.type, self.proto)
        try:
            while True:
                with self._lock:
                    if not lst.accept_queue:
                        self._wait_locked(lambda: bool(lst.accept_queue))
                conn = self.host.call(lambda stack, now: new._adopt(lst))
                if conn is not None:
                    break  # else another thread took that connection first: wait again
        except BaseException:
            new.close()
            raise
        new._inherit_options(self)
        new.owner = self.owner
        return new, _address(conn.remote)

    def _adopt(self, lst: Any) -> Any:
        """On the loop thread: take the next connection off `lst` and make it ours."""
        if not lst.accept_queue:
            return None
        with self._lock:
            conn = lst.accept_queue.popleft()
            conn.guard = self._lock
            conn.on_event = self._on_event
            self._conn = conn
        return conn

    # --- connecting -----------------------------------------------------------------------

    def connect(self, address: tuple[str, int]) -> None:
        code = self._connect(address)
        if code:
            raise os_error(code)

    def connect_ex(self, address: tuple[str, int]) -> int:
        """connect(), returning an errno (0: connected) instead of raising it."""
        try:
            return self._connect(address)
        except TimeoutError:
            return errno.EAGAIN  # what the stdlib's connect_ex returns on a timeout
        except OSError as exc:
            if exc.errno is None:
                raise
            return exc.errno

    def _connect(self, address: tuple[str, int]) -> int:
        ip, port = parse_address(address, "connect")
        nonblocking = self._timeout == 0.0
        with self._lock:
            self._check_usable_locked()
            conn = self._conn
            if self._listener is not None:
                return errno.EISCONN
            if conn is not None:
                if conn.state in CONNECTING:
                    if nonblocking:
                        return errno.EALREADY
                    return self._wait_connected_locked()
                if conn.error is None or self._error_reported:
                    return errno.EISCONN
                # A failed attempt whose error nobody has read yet: report it now.
                self._error_reported = True
                return conn.error
        if int(ip) == 0 or port == 0:
            return errno.ECONNREFUSED
        options = self._options.copy()
        reuse = self._reuse_addr
        reservation = self._bound

        def start(stack: Any, now: float) -> None:
            local_ip, local_port = reserved_port(stack, reservation)
            try:
                conn = stack.tcp.connect(local_ip, local_port, ip, port, now, options=options,
                                         reuse_addr=reuse)
            except OSError:
                restore_reservation(stack, reservation)
                raise
            with self._lock:
                conn.guard = self._lock
                conn.on_event = self._on_event
                self._conn = conn
                self._error_reported = False

        self.host.call(start)
        if nonblocking:
            return errno.EINPROGRESS
        with self._lock:
            return self._wait_connected_locked()

    def _wait_connected_locked(self) -> int:
        conn = self._conn
        self._wait_locked(lambda: conn.state not in CONNECTING or conn.error is not None)
        if conn.error is not None and not self._error_reported:
            self._error_reported = True
            return conn.error
        if conn.state in CONNECTING or conn.state == TcpState.CLOSED:
            return errno.ECONNABORTED
        return 0

    # --- addresses ------------------------------------------------------------------------

    def getsockname(self) -> tuple[str, int]:
        with self._lock:
            self._check_open_locked()
            if self._conn is not None:
                return _address(self._conn.local)
            if self._listener is not None:
                return _address(self._listener.local)
            if self._bound is not None:
                return _address(self._bound.local)
            return ANY

    def getpeername(self) -> tuple[str, int]:
        with self._lock:
            self._check_open_locked()
            conn = self._conn
            if conn is None or conn.state in (TcpState.SYN_SENT, TcpState.CLOSED):
                raise os_error(errno.ENOTCONN)
            return _address(conn.remote)

    # --- TCP_INFO -------------------------------------------------------------------------

    def info(self) -> TcpInfo:
        """The connection's TCP_INFO snapshot (stages/tcp/info.py), taken on the loop
        thread so its values agree. OSError(ENOTCONN) before connect() or accept()."""
        with self._lock:
            self._check_open_locked()
            conn = self._conn
        if conn is None:
            raise os_error(errno.ENOTCONN, "TCP_INFO needs a connection")
        return self.host.call(lambda stack, now: tcp_info(conn, now))

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        """As TcpOptionsMixin's; (IPPROTO_TCP, TCP_INFO) returns a TcpInfo (Linux returns
        the bytes of struct tcp_info: see docs/TCP_INFO.md), whatever `buflen`."""
        if level == IPPROTO_TCP and option == TCP_INFO:
            return self.info()
        return super().getsockopt(level, option, buflen)

    # --- sending --------------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0) -> int:
        """Copy as much of `data` as the send buffer takes (waiting for room if blocking);
        returns how many bytes that was."""
        return self._send(memoryview(data).cast("B"), flags)

    def _send(self, view: memoryview, flags: int, deadline: float | None = None) -> int:
        nonblocking = self._is_nonblocking(flags, MSG_DONTWAIT)
        with self._lock:
            self._wait_locked(lambda: self._can_send_locked(len(view)), nonblocking, deadline)
            if not view:
                return 0
            sent = self._conn.write_app(view[: self._conn.writable])
            self._copied_in += sent
        if sent and not self._write_scheduled:
            # Cleared by the loop before it runs app_did_write, so a send that finds it set
            # is covered by the callback already queued.
            self._write_scheduled = True
            self.host.engine.call_soon_threadsafe(self._did_write)
        return sent

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send every byte of `data`, or raise. The socket's timeout covers the whole call,
        as CPython's has since 3.5, not each wait for room: a slow reader cannot stretch
        it by taking a little at a time."""
        view = memoryview(data).cast("B")
        timeout = self._timeout
        deadline = time.monotonic() + timeout if timeout else None
        while view:
            view = view[self._send(view, flags, deadline):]

    def _can_send_locked(self, wanted: int) -> bool:
        conn = self._conn
        if conn is None:
            raise os_error(errno.EPIPE)  # what Linux says to a send on an unconnected socket
        if conn.state in CONNECTING and conn.error is None:
            return False  # Linux waits for the handshake (sk_stream_wait_connect)
        self._raise_pending_error_locked()
        if self._shut_wr or conn.state not in WRITABLE_STATES:
            raise os_error(errno.EPIPE)
        free = conn.writable
        return free >= min(wanted, max(1, self._options.sndbuf // SEND_LOW_WATER_SHARE))

    def _did_write(self, stack: Any, now: float) -> None:
        self._write_scheduled = False
        if self._copied_in:
            with self._lock:
                copied, self._copied_in = self._copied_in, 0
            stack.counters.bump("copy.app_to_sndbuf", copied)
        conn = self._conn
        if conn is not None and not self._closed:
            conn.app_did_write(now)

    # --- zero-copy send (api/zero_copy.py) -------------------------------------------------

    def zc_alloc(self, size: int) -> ZeroCopyBuffer:
        """Pool mbufs for `size` bytes of payload, one segment each, to fill in place."""
        with self._lock:
            self._check_usable_locked()
            conn = self._conn
            if conn is None or conn.state != TcpState.ESTABLISHED:
                raise os_error(errno.ENOTCONN, "zc_alloc sizes its mbufs to the connection's "
                                               "segments: connect first")
            segment = conn.sender.segment_limit()
        return allocate(self.host.stack.pool, size, segment)

    def zc_send(self, buf: ZeroCopyBuffer) -> int:
        """Hand the filled buffer to the stack, all of it or nothing; returns its send
        number (zc_completions reports it acknowledged). See api/zero_copy.py."""
        buf._check()
        if buf._still_exported():
            raise BufferError("a view of this zero-copy buffer is still exported: release "
                              "it before zc_send (the stack would send bytes you can change)")
        total = len(buf)
        if total > self._options.sndbuf:
            raise os_error(errno.EMSGSIZE, f"{total} bytes never fit a {self._options.sndbuf}"
                                           "-byte send buffer: allocate less per zc_send")
        with self._lock:
            self._wait_locked(lambda: self._can_send_locked(total)
                              and self._conn.writable >= total, self._timeout == 0.0)
            conn = self._conn
            if conn.stage.stack.pool is not buf._pool:
                raise ValueError("this buffer came from another stack's pool")
            number, self._zc_sends = self._zc_sends, self._zc_sends + 1
            parts = buf._take()
            owner = ZeroCopySend(number, len(parts), self._zc_done)
            for mbuf, size in parts:
                conn.send_stream.add_zero_copy(ZeroCopyExtent(mbuf, HEADROOM, size, owner))
        if not self._write_scheduled:
            self._write_scheduled = True
            self.host.engine.call_soon_threadsafe(self._did_write)
        return number

    def zc_completions(self) -> list[tuple[int, int, bool]]:
        """Zero-copy sends acknowledged since the last call: [(first, last, copied)], as
        MSG_ZEROCOPY's notifications; `copied` if any segment of them had to be copied."""
        return merge_completions(self._zc_done)

    # --- receiving ------------------------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to `bufsize` bytes: whatever is there, waiting only when nothing is;
        b"" at end of file (the peer's FIN, shutdown(SHUT_RD), or an error read before)."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if flags & MSG_PEEK:  # the stage's read_app only takes bytes; no silent misread
            raise os_error(errno.EOPNOTSUPP, "MSG_PEEK on a stream socket")
        nonblocking = self._is_nonblocking(flags, MSG_DONTWAIT)
        with self._lock:
            conn = self._conn
            if conn is None or not conn.readable:
                self._wait_locked(self._can_receive_locked, nonblocking)
                conn = self._conn
            if not bufsize or not conn.readable:
                return b""
            data = conn.read_app(bufsize)
            self._copied_out += len(data)
        if not self._read_scheduled:
            self._read_scheduled = True
            self.host.engine.call_soon_threadsafe(self._did_read)
        return bytes(data)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes > len(view):
            raise ValueError("buffer too small for requested bytes")
        data = self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, None]:
        return self.recv(bufsize, flags), None  # a stream has no per-message sender

    def _can_receive_locked(self) -> bool:
        conn = self._conn
        if conn is None:
            raise os_error(errno.ENOTCONN)
        if conn.readable:
            return True  # Linux hands over queued data before it reports an error
        if conn.state in CONNECTING and conn.error is None:
            return False
        self._raise_pending_error_locked()
        return bool(conn.at_eof or self._shut_rd or conn.state == TcpState.CLOSED
                    or conn.error is not None)

    def _did_read(self, stack: Any, now: float) -> None:
        self._read_scheduled = False
        if self._copied_out:
            with self._lock:
                copied, self._copied_out = self._copied_out, 0
            stack.counters.bump("copy.rcvbuf_to_app", copied)
        conn = self._conn
        if conn is not None and not self._closed:
            if self._write_scheduled:
                # Send what was written since first (an echo, an answer): its segment
                # carries the window this read opened, so no pure window update is needed.
                self._did_write(stack, now)
            conn.app_did_read(now)

    # --- shutting down and closing --------------------------------------------------------

    def shutdown(self, how: int) -> None:
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise os_error(errno.EINVAL, f"shutdown how={how}")
        with self._lock:
            self._check_usable_locked()
            conn = self._conn
            if conn is None or conn.state in (TcpState.SYN_SENT, TcpState.CLOSED):
                raise os_error(errno.ENOTCONN)
            if how in (SHUT_RD, SHUT_RDWR):
                self._shut_rd = True  # recv returns what is buffered, then b""
            send_fin = how in (SHUT_WR, SHUT_RDWR) and not self._shut_wr
            if send_fin:
                self._shut_wr = True
            self._notify_locked(POLLIN | POLLOUT)  # blocked calls see EOF or EPIPE now
        if send_fin:
            # Queued after any pending app_did_write, so the FIN follows the data.
            self.host.call(lambda stack, now: conn.shutdown_write(now))

    def _release(self) -> None:
        """On close(): hand the connection (or listener) back to the stage."""
        conn, listener = self._conn, self._listener
        if self.host.closed or (conn is None and listener is None and self._bound is None):
            return
        abortive = self._options.linger_zero
        bound = self._bound

        def release(stack: Any, now: float) -> None:
            if listener is not None:
                listener.on_event = _noop
                listener.guard = nullcontext()
                stack.tcp.close_listener(listener, now)
            elif conn is not None:
                conn.on_event = _noop  # the stage may keep it (FIN-WAIT, TIME-WAIT) a while
                conn.guard = nullcontext()
                if abortive:
                    conn.abort(now)  # SO_LINGER (1, 0): RST now, unsent data dropped
                else:
                    conn.close(now)
            else:
                reserved_port(stack, bound)

        try:
            self.host.call(release)
        except OSError:
            pass  # the host stopped meanwhile: nothing is left to release

    # --- errors and readiness -------------------------------------------------------------

    def _raise_pending_error_locked(self) -> None:
        code = self._take_error_locked()
        if code is not None:
            raise os_error(code)

    def _take_error_locked(self) -> int | None:
        conn = self._conn
        if conn is None or conn.error is None or self._error_reported:
            return None
        self._error_reported = True
        return conn.error

    def _events_locked(self) -> int:
        if self._listener is not None:
            return POLLIN if self._listener.accept_queue else 0
        conn = self._conn
        if conn is None:
            return POLLOUT | POLLHUP  # what Linux reports for a fresh, unconnected socket
        state = conn.state
        events = POLLERR if conn.error is not None and not self._error_reported else 0
        if state in CONNECTING and conn.error is None:
            return events
        if state == TcpState.CLOSED or conn.error is not None:
            return events | POLLIN | POLLOUT | POLLHUP | POLLRDHUP
        if conn.readable or self._shut_rd:
            events |= POLLIN
        if conn.at_eof:
            events |= POLLIN | POLLRDHUP
        if self._shut_wr or state not in WRITABLE_STATES:
            events |= POLLOUT  # a send would not block: it raises EPIPE at once
            if conn.at_eof:
                events |= POLLHUP
        elif conn.writable >= max(1, self._options.sndbuf // SEND_LOW_WATER_SHARE):
            events |= POLLOUT
        return events

    def _on_event(self) -> None:
        """On the loop thread, lock held: something an application may wait for happened."""
        if self._waiters:
            self._cond.notify_all()
        if self._pollers:
            events = self._events_locked() if self._pollers_need_events else 0
            for poller in self._pollers:
                poller._wakeup(self, events)

    def _check_usable_locked(self) -> None:
        self._check_open_locked()
        if self._network_is_down:
            raise os_error(errno.ENETDOWN)

    # --- files ----------------------------------------------------------------------------

    def makefile(self, mode: str = "r", buffering: int | None = None, *,
                 encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None) -> Any:
        """A file object over the socket, like socket.socket.makefile."""
        from netstack.api.stream_file import make_file

        return make_file(self, mode, buffering, encoding, errors, newline)
