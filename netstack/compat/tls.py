"""TLS over a netstack socket: `ssl` through `SSLContext.wrap_bio` and two MemoryBIOs.

The `ssl` module's own SSLSocket hands OpenSSL a kernel file descriptor, which a netstack
socket is not. asyncio already solves this for its transports: OpenSSL reads its input from
one memory buffer and writes its output to another, and the caller moves the bytes. This
class does the same for blocking (and timeout) sockets:

    OpenSSL wants to read   -> flush what it wrote, recv from the socket, feed `incoming`
    OpenSSL wrote something -> send the bytes of `outgoing` on the socket

so `context.wrap_socket(netstack_sock)` (patched: patch.py) and everything built on it
(http.client's HTTPS, urllib) work unchanged. A non-blocking socket is refused: its caller
would need the want-read/want-write dance, which asyncio's own TLS code does instead.
"""

from __future__ import annotations

import errno
import io
import ssl
from typing import Any

from netstack.compat.socket_class import SocketIO

READ_SIZE = 16384


class NetstackSSLSocket:
    def __init__(self, context: ssl.SSLContext, sock: Any, server_side: bool = False,
                 do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                 server_hostname: str | None = None, session: Any = None) -> None:
        if sock.gettimeout() == 0.0:
            raise ValueError("netstack's TLS needs a blocking socket (asyncio brings its own)")
        self._sock = sock
        self.context = context
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.suppress_ragged_eofs = suppress_ragged_eofs
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side,
                                     server_hostname, session)
        self._io_refs = 0
        self._closed = False
        if do_handshake_on_connect:
            self.do_handshake()

    # --- moving bytes between OpenSSL and the socket --------------------------------------
    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def _run(self, operation: Any, *args: Any) -> Any:
        """Run one OpenSSL call, feeding it from the socket until it has what it needs."""
        while True:
            try:
                result = operation(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self._sock.recv(READ_SIZE)
                if not data:
                    self._incoming.write_eof()
                else:
                    self._incoming.write(data)
                continue
            except ssl.SSLWantWriteError:
                self._flush()
                continue
            self._flush()
            return result

    def do_handshake(self) -> None:
        self._run(self._tls.do_handshake)

    # --- the SSLSocket calls programs make --------------------------------------------------
    def send(self, data: Any, flags: int = 0) -> int:
        return self._run(self._tls.write, data)

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        while view:
            view = view[self.send(view):]

    def write(self, data: Any) -> int:
        return self.send(data)

    def recv(self, bufsize: int = 1024, flags: int = 0) -> bytes:
        try:
            return self._run(self._tls.read, bufsize)
        except ssl.SSLEOFError:
            if self.suppress_ragged_eofs:
                return b""
            raise
        except ssl.SSLZeroReturnError:
            return b""

    def read(self, n: int = 1024, buffer: Any = None) -> Any:
        if buffer is not None:
            return self.recv_into(buffer, n)
        return self.recv(n)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view))
        view[:len(data)] = data
        return len(data)

    def pending(self) -> int:
        return self._tls.pending()

    def makefile(self, mode: str = "r", buffering: int | None = None, **text: Any) -> Any:
        raw = SocketIO(self, mode.replace("b", ""))
        self._io_refs += 1
        buffered: Any = io.BufferedReader(raw, io.DEFAULT_BUFFER_SIZE) if "w" not in mode \
            else io.BufferedWriter(raw, io.DEFAULT_BUFFER_SIZE)
        if buffering == 0 and "b" in mode:
            return raw
        return buffered if "b" in mode else io.TextIOWrapper(buffered, **text)

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def unwrap(self) -> Any:
        try:
            self._run(self._tls.unwrap)
        except (ssl.SSLError, OSError) as exc:
            if getattr(exc, "errno", None) not in (None, errno.EPIPE, errno.ECONNRESET):
                raise
        return self._sock

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()

    def __enter__(self) -> NetstackSSLSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- what it says about the session ---------------------------------------------------
    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._tls.getpeercert(binary_form)

    def version(self) -> str | None:
        return self._tls.version()

    def cipher(self) -> Any:
        return self._tls.cipher()

    def selected_alpn_protocol(self) -> str | None:
        return self._tls.selected_alpn_protocol()

    @property
    def session(self) -> Any:
        return self._tls.session

    # --- the rest is the plain socket's ---------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
