"""UDP sockets (SOCK_DGRAM): the stdlib socket calls over a netstack UDP endpoint.

The endpoint is made here, private to this socket until bind (or the implicit bind of
connect or a first send) hands it to the UDP stage on the loop thread. Its `guard` is this
socket's Condition and its `on_event` our `_on_event`, so from then on:

- receiving takes datagrams straight from `ep.queue` under the lock: no trip to the loop;
- sending checks what it can here (size, destination, SO_BROADCAST), charges the datagram to
  SO_SNDBUF, and queues it for the loop thread without waiting. The loop sends it, then gives
  the bytes back; a sender finding SO_SNDBUF full waits for that (or gets EAGAIN);
- errors the loop meets later (an ICMP port unreachable, a route that vanished) become the
  endpoint's pending error, raised by the next call, as Linux does for connected sockets.
"""

from __future__ import annotations

import errno
from ipaddress import IPv4Address
from typing import Any

from netstack.api.base_socket import SocketHost, StackSocket
from netstack.api.constants import (
    MSG_DONTWAIT,
    MSG_PEEK,
    POLLERR,
    POLLIN,
    POLLOUT,
    SO_BROADCAST,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SOL_SOCKET,
)
from netstack.stages.ports import os_error
from netstack.stages.udp import DATAGRAM_OVERHEAD, MAX_PAYLOAD, UdpEndpoint

ANY = ("0.0.0.0", 0)
_NO_ADDRESS = object()


def parse_address(address: Any, call: str) -> tuple[IPv4Address, int]:
    """("192.0.2.1", 7) -> (IPv4Address, 7), with the stdlib's complaints for bad input."""
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError(f"{call}(): AF_INET address must be tuple, not {type(address).__name__}")
    host, port = address
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 0xFFFF:
        raise OverflowError(f"{call}(): port must be 0-65535.")
    if host in ("", None):
        host = "0.0.0.0"
    elif host == "<broadcast>":
        host = "255.255.255.255"
    try:
        return IPv4Address(host), port
    except ValueError:
        raise os_error(errno.EINVAL, f"{host!r} is not an IPv4 address") from None


class UdpSocket(StackSocket):
    def __init__(self, host: SocketHost, family: int, type: int, proto: int = 0) -> None:
        super().__init__(host, family, type, proto)
        config = host.stack.config
        self._last_arrival: object = None  # the datagram the copy ledger counted last
        self._ep = UdpEndpoint(rcvbuf=config.udp_rcvbuf, sndbuf=config.udp_sndbuf)
        self._ep.guard = self._cond
        self._ep.on_event = self._on_event
        self._bound = False  # the stage knows the endpoint (after bind, connect or a send)
        self._local = ANY
        self._remote: tuple[str, int] | None = None
        # SO_SNDBUF accounting: bytes handed to the loop (written by application threads,
        # under the lock) and bytes it has sent (written by the loop thread only).
        self._handed = 0
        self._sent = 0
        self._writer_waiting = False  # tell the loop to notify when it frees room
        self._last_dst: tuple[Any, tuple[IPv4Address, int]] = (None, (IPv4Address(0), 0))

    # --- binding and connecting -----------------------------------------------------------

    def bind(self, address: tuple[str, int]) -> None:
        ip, port = parse_address(address, "bind")
        self._check_usable()
        if self._bound:
            raise os_error(errno.EINVAL, "already bound")
        self._on_loop(lambda stack, now: stack.udp.bind(ip, port, endpoint=self._ep))
        self._bound = True
        self._local = self._address_of(self._ep.local)

    def connect(self, address: tuple[str, int]) -> None:
        ip, port = parse_address(address, "connect")
        self._check_usable()
        if ip == IPv4Address(0):
            raise os_error(errno.ECONNREFUSED, "cannot connect to 0.0.0.0")
        self._on_loop(lambda stack, now: stack.udp.connect(self._ep, ip, port))
        self._bound = True
        self._local = self._address_of(self._ep.local)
        self._remote = (str(ip), port)

    def getsockname(self) -> tuple[str, int]:
        self._check_usable(network=False)
        return self._local

    def getpeername(self) -> tuple[str, int]:
        self._check_usable(network=False)
        if self._remote is None:
            raise os_error(errno.ENOTCONN)
        return self._remote

    # --- sending --------------------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview, flags: int = 0) -> int:
        return self._send(data, flags, None)

    def sendto(self, data: bytes | bytearray | memoryview, flags_or_address: Any,
               address: Any = _NO_ADDRESS) -> int:
        """sendto(data, address) or sendto(data, flags, address), as in the stdlib."""
        if address is _NO_ADDRESS:
            flags, address = 0, flags_or_address
        else:
            flags = flags_or_address
        last_address, dst = self._last_dst
        if address != last_address:  # parsing is slow; most sends repeat the last address
            dst = parse_address(address, "sendto")
            if dst[1] == 0:
                raise os_error(errno.EINVAL, "port 0")
            if str(dst[0]) in self.host.broadcast_addresses and not self._ep.broadcast:
                raise os_error(errno.EACCES, "broadcast needs SO_BROADCAST")
            self._last_dst = (address, dst)
        return self._send(data, flags, dst)

    def _send(self, data: bytes | bytearray | memoryview, flags: int,
              dst: tuple[IPv4Address, int] | None) -> int:
        payload = bytes(data)  # the caller may reuse its buffer once we return
        size = len(payload)
        if size > MAX_PAYLOAD:
            raise os_error(errno.EMSGSIZE, f"{size} bytes")
        if dst is None and self._remote is None:
            with self._cond:
                self._check_open_locked()
            raise os_error(errno.EDESTADDRREQ)
        if not self._bound:
            self._autobind()
        ep = self._ep
        with self._cond:
            if (self._closed or self._network_is_down or ep.error is not None
                    or self._handed - self._sent >= ep.sndbuf):
                self._wait_locked(self._can_send_locked,
                                  self._is_nonblocking(flags, MSG_DONTWAIT))
            self._handed += size + DATAGRAM_OVERHEAD
        self.host._queue_send(self, payload, dst)
        return size

    def _can_send_locked(self) -> bool:
        self._raise_pending_error_locked()
        # Like Linux, a datagram may go whenever the buffer is not already full, so one
        # bigger than SO_SNDBUF still goes when nothing else is waiting.
        if self._handed - self._sent < self._ep.sndbuf:
            return True
        self._writer_waiting = True  # set before the second look: no wakeup can slip by
        return self._handed - self._sent < self._ep.sndbuf

    def _transmit(self, stack: Any, payload: bytes, dst: tuple[IPv4Address, int] | None,
                  now: float) -> None:
        """On the loop thread: send one datagram handed over by `_send`."""
        ep = self._ep
        try:
            stack.udp.send(ep, payload, dst, now)
        except OSError as exc:
            if not ep.closed:
                with self._cond:
                    ep.error = exc.errno
                    self._notify_locked(POLLERR)
        self._sent += len(payload) + DATAGRAM_OVERHEAD
        # The copy ledger: `_send` copied the caller's bytes, the stage copies them into an mbuf.
        stack.counters.bump("copy.app_to_sndbuf", len(payload))
        stack.counters.bump("copy.sndbuf_to_mbuf", len(payload))
        if self._writer_waiting:
            with self._cond:
                self._writer_waiting = False
                self._notify_locked(POLLOUT)

    def _autobind(self) -> None:
        def bind_if_needed(stack: Any, now: float) -> None:
            if self._ep.local is None:
                stack.udp.bind(None, 0, endpoint=self._ep)

        self._on_loop(bind_if_needed)
        self._bound = True
        self._local = self._address_of(self._ep.local)

    # --- receiving ------------------------------------------------------------------------

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[str, int]]:
        """The next datagram (cut to `bufsize`; the rest is lost, as with the stdlib)."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        ep = self._ep
        with self._cond:
            if not ep.queue or ep.error is not None or self._closed:
                self._wait_locked(self._can_receive_locked,
                                  self._is_nonblocking(flags, MSG_DONTWAIT))
            data, source = ep.take(peek=bool(flags & MSG_PEEK))
        if len(data) > bufsize:
            data = data[:bufsize]
        return data, source

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self.recvfrom(bufsize, flags)[0]

    def recvfrom_into(self, buffer: Any, nbytes: int = 0,
                      flags: int = 0) -> tuple[int, tuple[str, int]]:
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recvfrom_into")
        if nbytes > len(view):
            raise ValueError("nbytes is greater than the length of the buffer")
        data, source = self.recvfrom(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data), source

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self.recvfrom_into(buffer, nbytes, flags)[0]

    def _can_receive_locked(self) -> bool:
        # Linux reports a pending error before any queued data (sock_error in
        # __skb_recv_udp), and clears it as it does.
        self._raise_pending_error_locked()
        return bool(self._ep.queue)

    # --- errors, readiness, options -------------------------------------------------------

    def _raise_pending_error_locked(self) -> None:
        code = self._take_error_locked()
        if code is not None:
            raise os_error(code)

    def _take_error_locked(self) -> int | None:
        code = self._ep.error
        self._ep.error = None
        return code

    def _events_locked(self) -> int:
        ep = self._ep
        events = POLLIN if ep.queue else 0
        if ep.error is not None:
            events |= POLLERR
        if self._handed - self._sent < ep.sndbuf:
            events |= POLLOUT
        else:
            self._writer_waiting = True  # a poller wants to hear when room frees up
        return events

    def _on_event(self) -> None:
        """On the loop thread, lock held: a datagram or an error arrived."""
        queue = self._ep.queue
        if queue and queue[-1] is not self._last_arrival:  # a datagram, not an error:
            self._last_arrival = queue[-1]  # the stage copied it out of its mbuf (ledger)
            self.host.stack.counters.bump("copy.mbuf_to_rcvbuf", len(queue[-1][0]))
        if not self.host._wake_later(self):
            self._wake_now_locked()

    def _wake_now_locked(self) -> None:
        """Tell waiters and pollers what is true now: data to read, or an error."""
        if self._waiters:
            self._cond.notify_all()
        if self._pollers:
            ep = self._ep
            events = (POLLIN if ep.queue else 0) | (POLLERR if ep.error is not None else 0)
            for poller in self._pollers:
                poller._wakeup(self, events)

    def _getsockopt(self, level: int, option: int) -> int:
        ep = self._ep
        if level == SOL_SOCKET:
            values = {SO_RCVBUF: ep.rcvbuf, SO_SNDBUF: ep.sndbuf,
                      SO_REUSEADDR: int(ep.reuse_addr), SO_BROADCAST: int(ep.broadcast)}
            if option in values:
                return values[option]
        return super()._getsockopt(level, option)

    def _setsockopt(self, level: int, option: int, value: int) -> None:
        if level != SOL_SOCKET or option not in (SO_RCVBUF, SO_SNDBUF, SO_REUSEADDR,
                                                 SO_BROADCAST):
            super()._setsockopt(level, option, value)
            return
        if option in (SO_RCVBUF, SO_SNDBUF) and value < 1:
            raise os_error(errno.EINVAL, "buffer sizes are at least 1 byte")
        name = {SO_RCVBUF: "rcvbuf", SO_SNDBUF: "sndbuf", SO_REUSEADDR: "reuse_addr",
                SO_BROADCAST: "broadcast"}[option]
        setting = value if option in (SO_RCVBUF, SO_SNDBUF) else bool(value)

        def apply(stack: Any = None, now: float = 0.0) -> None:
            with self._cond:
                setattr(self._ep, name, setting)
                if option == SO_SNDBUF:
                    self._notify_locked(POLLOUT)  # a bigger buffer may free waiting senders

        if self._bound:
            self._on_loop(apply)  # the stage reads these on the loop thread
        else:
            apply()
        if option == SO_BROADCAST:
            self._last_dst = (None, self._last_dst[1])  # re-check cached destinations

    # --- plumbing -------------------------------------------------------------------------

    def _check_usable(self, network: bool = True) -> None:
        if self._closed:
            raise os_error(errno.EBADF)
        if network and self._network_is_down:
            raise os_error(errno.ENETDOWN)

    def _on_loop(self, fn: Any) -> Any:
        return self.host.call(fn)

    @staticmethod
    def _address_of(local: tuple[IPv4Address, int] | None) -> tuple[str, int]:
        return ANY if local is None else (str(local[0]), local[1])

    def _release(self) -> None:
        if not self._bound or self.host.closed:
            return
        ep = self._ep
        try:
            self.host.call(lambda stack, now: stack.udp.close(ep))
        except OSError:
            pass  # the host stopped meanwhile: nothing is left to release
