"""A `socket.socket` that lives on netstack: what an unmodified program gets after patching.

`NetstackSocket(family, type, proto)` is called exactly as `socket.socket(...)` is. For
AF_INET stream and datagram sockets it wraps a socket of the patched host (netstack.api);
for anything else (AF_UNIX, the socketpair asyncio wakes itself with, raw sockets...) it
returns a plain kernel socket, so a program keeps the kernel for what netstack does not do.
`isinstance(kernel_sock, socket.socket)` stays true after patching (the metaclass says so).

What it adds to netstack.api's sockets is the stdlib's behaviour where the two differ:
- the default timeout (`socket.setdefaulttimeout`) applies to new and accepted sockets;
- `sendall`'s timeout covers the whole call, as CPython's does since 3.5 (netstack.api's);
- `getsockopt(SO_ERROR)` reports a pending error once and clears it; SO_TYPE, SO_RCVBUF,
  SO_SNDBUF answer as Linux's;
- `makefile` builds on `socket.SocketIO`, and the socket really closes only when it and
  every file made from it are closed;
- `sendmsg`, `recvmsg_into` (no ancillary data), `sendfile`, `connect_ex`;
- file numbers are above any real one (netstack.api.base_socket.FIRST_FILENO), and what
  cannot work on one (`dup`, `detach`, passing it to `os.*`) says so instead of failing
  somewhere deeper.
"""

from __future__ import annotations

import errno
import io
import socket as _stdlib_socket
from typing import Any

from netstack.api.base_socket import FIRST_FILENO

# Taken before anything is patched: the real ones, for what stays on the kernel.
KernelSocket = _stdlib_socket.socket
SocketIO = _stdlib_socket.SocketIO
_ORIGINAL_GETDEFAULTTIMEOUT = _stdlib_socket.getdefaulttimeout

OURS = {(_stdlib_socket.AF_INET, _stdlib_socket.SOCK_STREAM),
        (_stdlib_socket.AF_INET, _stdlib_socket.SOCK_DGRAM)}
# Linux's socket(2) also takes these flags in `type`; netstack handles them itself.
_TYPE_FLAGS = getattr(_stdlib_socket, "SOCK_NONBLOCK", 0) | getattr(_stdlib_socket,
                                                                    "SOCK_CLOEXEC", 0)


def is_netstack_fileno(fd: Any) -> bool:
    return isinstance(fd, int) and fd >= FIRST_FILENO


class Unsupported(OSError):
    """Something a netstack socket cannot do, and why (raised instead of a deeper failure)."""

    def __init__(self, what: str) -> None:
        super().__init__(errno.EOPNOTSUPP, f"{what}: not possible on a netstack socket "
                                           "(it is not a kernel file descriptor)")


class _Meta(type):
    def __instancecheck__(cls, instance: Any) -> bool:
        # After patching, socket.socket is this class; a kernel socket made through it (or
        # before patching) is still a socket to `isinstance`, as code expects.
        return isinstance(instance, KernelSocket) or type.__instancecheck__(cls, instance)


class NetstackSocket(metaclass=_Meta):
    host: Any = None  # set by patch_all: the Host every new socket lives on
    default_timeout: float | None = None  # socket.setdefaulttimeout, as patched

    def __new__(cls, family: int = -1, type: int = -1, proto: int = -1,
                fileno: int | None = None, *, _inner: Any = None) -> Any:
        family = _stdlib_socket.AF_INET if family == -1 else family
        type = _stdlib_socket.SOCK_STREAM if type == -1 else type
        if _inner is None and (fileno is not None or (family, type & ~_TYPE_FLAGS) not in OURS
                               or cls.host is None):
            if is_netstack_fileno(fileno):
                raise Unsupported("socket(fileno=...)")
            return KernelSocket(family, type, -1 if proto == -1 else proto, fileno)
        return super().__new__(cls)

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1,
                 fileno: int | None = None, *, _inner: Any = None) -> None:
        family = _stdlib_socket.AF_INET if family == -1 else family
        type = _stdlib_socket.SOCK_STREAM if type == -1 else type
        nonblocking = bool(type & getattr(_stdlib_socket, "SOCK_NONBLOCK", 0))
        type &= ~_TYPE_FLAGS
        self._inner = _inner if _inner is not None else self.host.socket(family, type, 0)
        self._family, self._type = family, type
        self._proto = _stdlib_socket.IPPROTO_TCP if type == _stdlib_socket.SOCK_STREAM \
            else _stdlib_socket.IPPROTO_UDP
        self._io_refs = 0  # files from makefile() still open
        self._closed = False
        self.settimeout(0.0 if nonblocking else NetstackSocket.default_timeout)

    # --- what the stdlib's socket exposes -------------------------------------------------
    @property
    def family(self) -> _stdlib_socket.AddressFamily:
        return _stdlib_socket.AddressFamily(self._family)

    @property
    def type(self) -> _stdlib_socket.SocketKind:
        return _stdlib_socket.SocketKind(self._type)

    @property
    def proto(self) -> int:
        return self._proto

    def fileno(self) -> int:
        return self._inner.fileno()

    def __repr__(self) -> str:
        closed = " [closed]" if self._closed else ""
        return (f"<netstack socket fd={self.fileno()}{closed}, family={self.family!r}, "
                f"type={self.type!r}, proto={self._proto}>")

    def __enter__(self) -> NetstackSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getstate__(self) -> None:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")

    # --- timeouts -------------------------------------------------------------------------
    def settimeout(self, timeout: float | None) -> None:
        self._inner.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._inner.gettimeout()

    def setblocking(self, flag: bool) -> None:
        self._inner.setblocking(flag)

    def getblocking(self) -> bool:
        return self._inner.getblocking()

    # --- addresses, connecting, accepting -------------------------------------------------
    def bind(self, address: tuple[str, int]) -> None:
        self._inner.bind(_numeric(address))

    def listen(self, backlog: int = 128) -> None:
        self._inner.listen(backlog)

    def accept(self) -> tuple[NetstackSocket, tuple[str, int]]:
        inner, peer = self._inner.accept()
        sock = NetstackSocket(self._family, self._type, _inner=inner)
        # As CPython: an accepted socket is blocking unless a default timeout is set,
        # whatever the listening socket's mode.
        sock.settimeout(NetstackSocket.default_timeout)
        return sock, peer

    def connect(self, address: tuple[str, int]) -> None:
        self._inner.connect(_numeric(address))  # TimeoutError on a timeout, as CPython's

    def connect_ex(self, address: tuple[str, int]) -> int:
        """0, or the errno connect() would raise (EINPROGRESS when non-blocking)."""
        address = _numeric(address)
        if self._type == _stdlib_socket.SOCK_STREAM:
            return self._inner.connect_ex(address)
        try:
            self._inner.connect(address)
        except TimeoutError:
            raise
        except OSError as exc:
            return exc.errno or errno.EINVAL
        return 0

    def getsockname(self) -> tuple[str, int]:
        return self._inner.getsockname()

    def getpeername(self) -> tuple[str, int]:
        return self._inner.getpeername()

    # --- sending --------------------------------------------------------------------------
    def send(self, data: Any, flags: int = 0) -> int:
        return self._inner.send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Every byte, or an error; the timeout covers the whole call, as CPython's."""
        self._inner.sendall(data, flags)

    def sendto(self, data: Any, flags_or_address: Any, address: Any = None) -> int:
        if address is None:
            return self._inner.sendto(data, _numeric(flags_or_address))
        return self._inner.sendto(data, flags_or_address, _numeric(address))

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0,
                address: Any = None) -> int:
        if ancdata:
            raise Unsupported("sendmsg with ancillary data")
        data = b"".join(bytes(b) for b in buffers)
        if address is not None:
            return self.sendto(data, flags, address)
        return self.send(data, flags)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Copies through user space (there is no kernel to splice into netstack)."""
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if self._type != _stdlib_socket.SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        if offset:
            file.seek(offset)
        total = 0
        while count is None or total < count:
            chunk = file.read(65536 if count is None else min(65536, count - total))
            if not chunk:
                break
            self.sendall(chunk)
            total += len(chunk)
        if hasattr(file, "seek"):
            file.seek(offset + total)
        return total

    # --- receiving ------------------------------------------------------------------------
    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self._inner.recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self._inner.recv_into(buffer, nbytes, flags)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        return self._inner.recvfrom(bufsize, flags)

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        if self._type == _stdlib_socket.SOCK_STREAM:
            return self._inner.recv_into(buffer, nbytes, flags), None
        return self._inner.recvfrom_into(buffer, nbytes, flags)

    def recvmsg_into(self, buffers: Any, ancbufsize: int = 0,
                     flags: int = 0) -> tuple[int, list, int, Any]:
        views = [memoryview(b).cast("B") for b in buffers]
        data, address = self.recvfrom(sum(len(v) for v in views), flags)
        at = 0
        for view in views:
            n = min(len(view), len(data) - at)
            view[:n] = data[at:at + n]
            at += n
        return len(data), [], 0, address

    def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> tuple:
        data, address = self.recvfrom(bufsize, flags)
        return data, [], 0, address

    # --- options --------------------------------------------------------------------------
    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        # SO_ERROR is reported once and then cleared by the api socket, as Linux does.
        if level == _stdlib_socket.SOL_SOCKET and option == _stdlib_socket.SO_TYPE:
            return self._type
        return self._inner.getsockopt(level, option, buflen) if buflen is not None \
            else self._inner.getsockopt(level, option)

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        try:
            self._inner.setsockopt(level, option, value)
        except OSError as exc:
            # Options netstack does not model (IP_TOS, SO_REUSEPORT, IPV6_V6ONLY...) are
            # accepted and ignored, as many programs set them only as hints; a wrong value
            # for one netstack does model is still an error.
            if exc.errno != errno.ENOPROTOOPT:
                raise

    # --- shutting down and closing --------------------------------------------------------
    def shutdown(self, how: int) -> None:
        self._inner.shutdown(how)

    def makefile(self, mode: str = "r", buffering: int | None = None, *,
                 encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None) -> Any:
        """A file over the socket, built as the stdlib builds it (socket.SocketIO under
        io's buffered and text layers). Closing it does not close the socket."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing, reading = "w" in mode, "r" in mode or "w" not in mode
        raw = SocketIO(self, ("r" if reading else "") + ("w" if writing else ""))
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if "b" not in mode:
                raise ValueError("unbuffered streams must be binary")
            return raw
        if reading and writing:
            buffered: Any = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffered = io.BufferedReader(raw, buffering)
        else:
            buffered = io.BufferedWriter(raw, buffering)
        if "b" in mode:
            return buffered
        text = io.TextIOWrapper(buffered, encoding, errors, newline)
        text.mode = mode
        return text

    def _decref_socketios(self) -> None:
        """A file made by makefile() closed (socket.SocketIO calls this)."""
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._inner.close()

    def detach(self) -> int:
        raise Unsupported("detach()")

    def dup(self) -> Any:
        raise Unsupported("dup()")

    def get_inheritable(self) -> bool:
        return False

    def set_inheritable(self, inheritable: bool) -> None:
        if inheritable:
            raise Unsupported("set_inheritable(True) (a child process cannot share it)")

    @property
    def timeout(self) -> float | None:
        return self.gettimeout()

    # The api socket's extras stay reachable (TCP_INFO as an object, zero-copy later).
    def info(self) -> Any:
        return self._inner.info()


def _numeric(address: Any) -> tuple[str, int]:
    """("localhost", 80) -> ("127.0.0.1", 80): names go through the patched resolver."""
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError(f"AF_INET address must be a pair (host, port), not {address!r}")
    host, port = address
    if host in ("", None):
        return "0.0.0.0", port
    if host == "<broadcast>":
        return "255.255.255.255", port
    from netstack.compat.resolver import to_ipv4

    return to_ipv4(host), port
