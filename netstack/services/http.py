"""A small HTTP/1.1 server (RFC 9112) written only against the public socket API.

    GET  /          an HTML page about the stack, with its live counters
    GET  /bytes/N   N bytes of a fixed pattern: byte i is i % 256, so the body is
                    bytes(range(256)) repeated (see `pattern_bytes`). Streamed in 64 KiB
                    pieces, so N may be far larger than memory.
    POST /echo      the request body, returned as the response body

HEAD works wherever GET does. Connections are persistent (keep-alive) by default in
HTTP/1.1, and in HTTP/1.0 only when the client asks; "Connection: close" is honoured. Each
connection runs on its own thread (stream_runner.py) with blocking calls, so the code reads
top to bottom like the protocol.

Limits, and what breaking them gets: a request line or header section over MAX_HEADER_BYTES
-> 431 (and the connection closes); a body over MAX_BODY_BYTES -> 413; a malformed request
-> 400; an unknown path -> 404; a method a path does not allow -> 405 with Allow. Request
bodies must carry Content-Length (chunked uploads get 411/501). "Expect: 100-continue"
(which curl sends before large uploads) is answered with 100 Continue.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from netstack import api
from netstack.services.stream_runner import serve_streams

DEFAULT_PORT = 80
MAX_HEADER_BYTES = 16 * 1024  # request line plus headers
MAX_HEADERS = 100
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_PATTERN_BYTES = 1 << 40  # /bytes/N: what N may be
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may sit between requests
# After an error that ends the connection, what we read and drop before closing: closing
# with unread data sends a RST (RFC 2525 §2.17), which could destroy our error response
# before the client reads it (Apache's "lingering close").
LINGER_BYTES = 1024 * 1024
LINGER_SECONDS = 1.0
CHUNK = 64 * 1024
PATTERN_BLOCK = bytes(range(256)) * (CHUNK // 256)  # /bytes/N's body, 64 KiB at a time
SERVER = "netstack"
REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 501: "Not Implemented",
           505: "HTTP Version Not Supported"}
ROUTES = {"/": ("GET", "HEAD"), "/bytes/": ("GET", "HEAD"), "/echo": ("POST",)}


def pattern_bytes(n: int) -> bytes:
    """The body of /bytes/N, built in memory (for clients and tests to hash)."""
    whole, rest = divmod(n, len(PATTERN_BLOCK))
    return PATTERN_BLOCK * whole + PATTERN_BLOCK[:rest]


class HttpError(Exception):
    """A request we answer with an error status; `close`: the connection cannot go on."""

    def __init__(self, status: int, detail: str = "", close: bool = True,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or REASONS[status])
        self.status = status
        self.close = close
        self.headers = headers or {}


class Request:
    def __init__(self, method: str, target: str, version: str,
                 headers: dict[str, str]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # names lower-cased; repeated fields joined with ", "

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def read_request(rfile: Any) -> Request | None:
    """The next request's line and headers from a buffered binary file; None at EOF."""
    budget = MAX_HEADER_BYTES
    line = rfile.readline(budget + 1)
    while line in (b"\r\n", b"\n"):  # RFC 9112 §2.2: ignore empty lines before a request
        line = rfile.readline(budget + 1)
    if not line:
        return None
    if len(line) > budget or not line.endswith(b"\n"):
        raise HttpError(431, "request line too long")
    budget -= len(line)
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(505)
    headers: dict[str, str] = {}
    while True:
        line = rfile.readline(budget + 1)
        if not line.endswith(b"\n") or len(line) > budget:
            raise HttpError(431 if len(line) > budget else 400, "headers too long or cut")
        budget -= len(line)
        if line in (b"\r\n", b"\n"):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():  # RFC 9112 §5.1: no space before :
            raise HttpError(400, "malformed header field")
        if len(headers) >= MAX_HEADERS:
            raise HttpError(431, "too many header fields")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Request(method, target, version, headers)


class Handler:
    def __init__(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.connections = 0

    # --- one connection, any number of requests --------------------------------------------

    def serve_connection(self, sock: Any, peer: tuple[str, int]) -> None:
        self.connections += 1
        sock.settimeout(IDLE_TIMEOUT)
        rfile = sock.makefile("rb")
        try:
            while True:
                try:
                    request = read_request(rfile)
                    if request is None:
                        return
                    self.requests += 1
                    keep_alive = self._respond(sock, rfile, request)
                except HttpError as error:
                    self._send_error(sock, error)
                    if error.close:
                        self._lingering_close(sock, rfile)
                    keep_alive = not error.close
                if not keep_alive:
                    return
        except TimeoutError:
            return  # an idle keep-alive connection: close it
        finally:
            rfile.close()

    def _respond(self, sock: Any, rfile: Any, request: Request) -> bool:
        """Answer one request; returns whether the connection may carry another."""
        path = request.target.split("?", 1)[0]
        route = "/bytes/" if path.startswith("/bytes/") else path
        allowed = ROUTES.get(route)
        length = self._content_length(request)
        if allowed is None or request.method not in allowed:
            self._discard_body(rfile, length)
            if allowed is None:
                raise HttpError(404, close=False)
            raise HttpError(405, close=False, headers={"Allow": ", ".join(allowed)})
        keep_alive = request.keep_alive
        head = request.method == "HEAD"
        if route == "/":
            body = self.page(getattr(sock, "host", None)).encode("utf-8")
            self._send_head(sock, 200, len(body), keep_alive, "text/html; charset=utf-8")
            if not head:
                sock.sendall(body)
        elif route == "/bytes/":
            count = path[len("/bytes/"):]
            if not count.isdigit() or int(count) > MAX_PATTERN_BYTES:
                raise HttpError(404, f"no such size {count!r}", close=False)
            self._send_head(sock, 200, int(count), keep_alive, "application/octet-stream")
            if not head:
                self._send_pattern(sock, int(count))
        else:  # /echo
            if length > MAX_BODY_BYTES:
                raise HttpError(413)
            if request.headers.get("expect", "").lower() == "100-continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._send_head(sock, 200, length, keep_alive, "application/octet-stream")
            self._copy_body(rfile, sock, length)
        return keep_alive

    @staticmethod
    def _content_length(request: Request) -> int:
        if "transfer-encoding" in request.headers:
            raise HttpError(501, "chunked request bodies are not supported")
        text = request.headers.get("content-length")
        if text is None:
            if request.method == "POST":
                raise HttpError(411)
            return 0
        if not text.isdigit():
            raise HttpError(400, "bad Content-Length")
        return int(text)

    # --- sending ---------------------------------------------------------------------------

    @staticmethod
    def _send_head(sock: Any, status: int, length: int, keep_alive: bool, content_type: str,
                   extra: dict[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {REASONS[status]}", f"Server: {SERVER}",
                 f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}",
                 f"Content-Type: {content_type}", f"Content-Length: {length}",
                 f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _send_error(self, sock: Any, error: HttpError) -> None:
        body = f"{error.status} {REASONS[error.status]}: {error}\n".encode()
        self._send_head(sock, error.status, len(body), not error.close,
                        "text/plain; charset=utf-8", error.headers)
        sock.sendall(body)

    @staticmethod
    def _send_pattern(sock: Any, count: int) -> None:
        # Every piece starts at a multiple of 256, so the same block serves them all.
        whole, rest = divmod(count, len(PATTERN_BLOCK))
        for _ in range(whole):
            sock.sendall(PATTERN_BLOCK)
        if rest:
            sock.sendall(memoryview(PATTERN_BLOCK)[:rest])

    @staticmethod
    def _copy_body(rfile: Any, sock: Any, length: int) -> None:
        """Stream `length` request-body bytes back out, a piece at a time."""
        while length:
            piece = rfile.read1(min(length, CHUNK))
            if not piece:  # our response has begun: all we can do is stop
                raise ConnectionAbortedError("the client closed in the middle of its body")
            sock.sendall(piece)
            length -= len(piece)

    @staticmethod
    def _lingering_close(sock: Any, rfile: Any) -> None:
        """Finish our side, then drop what the client still sends, for a bounded time."""
        sock.shutdown(api.SHUT_WR)
        sock.settimeout(LINGER_SECONDS)
        budget = LINGER_BYTES
        try:
            while budget > 0 and (piece := rfile.read1(CHUNK)):
                budget -= len(piece)
        except (TimeoutError, ConnectionError):
            pass

    @staticmethod
    def _discard_body(rfile: Any, length: int) -> None:
        if length > MAX_BODY_BYTES:
            raise HttpError(413)
        while length:
            piece = rfile.read1(min(length, CHUNK))
            if not piece:
                raise HttpError(400, "the body ended early")
            length -= len(piece)

    # --- the / page ------------------------------------------------------------------------

    def page(self, host: Any = None) -> str:
        """The / page; `host` (a netstack.api.Host) supplies the address and counters."""
        rows = ""
        address = "?"
        sockets = 0
        if host is not None:
            address = str(host.address)
            sockets = len(host.sockets())
            counters = host.counters.snapshot()
            rows = "\n".join(f"<tr><td>{name}</td><td>{value}</td></tr>"
                             for name, value in sorted(counters.items()))
        uptime = time.time() - self.started
        return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>netstack at {address}</title></head>
<body>
<h1>netstack</h1>
<p>A TCP/IP stack written from scratch in Python, for teaching networking. This page came
to you over its TCP, from {address}.</p>
<ul>
<li>service up for {uptime:.0f} s, {self.connections} connections, {self.requests} requests</li>
<li>open sockets: {sockets}</li>
<li>try <a href="/bytes/1000">/bytes/1000</a> (byte i is i % 256) or POST to /echo</li>
</ul>
<h2>Counters</h2>
<table>
<tr><th>counter</th><th>value</th></tr>
{rows}
</table>
</body></html>
"""


def serve(host: Any, port: int = DEFAULT_PORT, stop: threading.Event | None = None) -> None:
    """Serve HTTP on TCP `port` until `stop` is set (or the host closes)."""
    serve_streams(host, [(Handler(), port)], stop or threading.Event())
