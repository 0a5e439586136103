"""webget: fetch one URL's body with HTTP/1.1 over any socket API (lab 0).

    from netstack import api
    import webget
    with api.Host.open("tap:lab0", "192.0.2.2/24") as host:
        body = webget.get(host, "192.0.2.1", "/index.html", port=8000)

`sockets` is anything with `socket(family, type)`: a netstack `api.Host`, Python's own
`socket` module (the same code then runs on the kernel's TCP), or the lab's test bench.
Only the plain socket calls are used: connect, sendall, recv, close.

What is sent (RFC 9112 §3, RFC 9110 §7.2), byte for byte:

    GET /index.html HTTP/1.1\\r\\n
    Host: 192.0.2.1:8000\\r\\n          (just the host when the port is 80)
    Connection: close\\r\\n
    \\r\\n

What comes back (RFC 9112 §4, §6): a status line, header fields, an empty line, then the
body, framed by (in this order of precedence) Transfer-Encoding: chunked, Content-Length,
or the end of the connection. `get` returns the body of a 2xx response, raises HttpError
for any other status and ResponseError when the response is malformed or cut short.

The command line (the kernel's TCP, or a netstack stack on a port):

    python webget.py 192.0.2.1 /index.html --port 8000
    python webget.py 192.0.2.1 / --stack tap:lab0 --ip 192.0.2.2/24   (as root)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

AF_INET = 2  # the same values in Python's socket module and in netstack.api
SOCK_STREAM = 1
READ_SIZE = 4096
MAX_HEADER_BYTES = 64 * 1024  # a header section longer than this is not one we accept


class HttpError(Exception):
    """The server answered with a status other than 2xx; the body is kept."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body


class ResponseError(Exception):
    """Not a response we can read: a bad status line, bad framing, or the server closed
    the connection before the body it announced was complete."""


def request_bytes(host: str, path: str, port: int = 80) -> bytes:
    """The request `get` sends, exactly (see the module docstring)."""
    # BEGIN SOLUTION: the request line, Host (with :port unless it is 80), Connection: close
    authority = host if port == 80 else f"{host}:{port}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {authority}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("ascii")
    # END SOLUTION


def get(sockets: Any, host: str, path: str = "/", port: int = 80) -> bytes:
    """The body of `http://host:port/path`. Raises HttpError (status not 2xx),
    ResponseError (malformed or incomplete response), or the socket's own OSError."""
    # BEGIN SOLUTION: connect, send the request, read the response, return its body
    sock = sockets.socket(AF_INET, SOCK_STREAM)
    try:
        sock.connect((host, port))
        sock.sendall(request_bytes(host, path, port))
        reader = _Reader(sock)
        status, reason, headers = _read_head(reader)
        body = _read_body(reader, headers)
    finally:
        sock.close()
    if not 200 <= status <= 299:
        raise HttpError(status, reason, body)
    return body
    # END SOLUTION


# --- reading the response -----------------------------------------------------------------


class _Reader:
    """The bytes of the connection, read as they are needed (a response may be cut
    anywhere: mid-line, mid-header, mid-chunk-size)."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    def fill(self) -> bool:
        """Read once more; False at the end of the connection."""
        if self.eof:
            return False
        data = self.sock.recv(READ_SIZE)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def line(self, limit: int = MAX_HEADER_BYTES) -> bytes:
        """One line without its CRLF (a bare LF is accepted too, RFC 9112 §2.2)."""
        # BEGIN SOLUTION: find the LF in the buffer, reading more until there is one
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buffer) > limit:
                raise ResponseError("a header line longer than we accept")
            if not self.fill():
                raise ResponseError("the connection closed in the middle of the header")
        # END SOLUTION

    def exactly(self, count: int) -> bytes:
        """The next `count` bytes; ResponseError if the connection ends first."""
        # BEGIN SOLUTION: read until the buffer holds `count` bytes, then take them
        while len(self.buffer) < count:
            if not self.fill():
                raise ResponseError(f"the connection closed after {len(self.buffer)} of "
                                    f"{count} body bytes")
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data
        # END SOLUTION

    def rest(self) -> bytes:
        """Everything up to the end of the connection."""
        # BEGIN SOLUTION: read until the end of the connection, then take it all
        while self.fill():
            pass
        data = bytes(self.buffer)
        self.buffer.clear()
        return data
        # END SOLUTION


def _read_head(reader: _Reader) -> tuple[int, str, dict[str, str]]:
    """The status line and the header fields (names lower-cased; repeats joined by ", ")."""
    # BEGIN SOLUTION: parse "HTTP/1.x CODE REASON", then "Name: value" lines up to the empty one
    status_line = reader.line().decode("latin-1")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ResponseError(f"not an HTTP/1.x status line: {status_line!r}")
    headers: dict[str, str] = {}
    while True:
        line = reader.line().decode("latin-1")
        if not line:
            return int(code), reason.strip(), headers
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ResponseError(f"not a header field: {line!r}")
        name, value = name.lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    # END SOLUTION


def _read_body(reader: _Reader, headers: dict[str, str]) -> bytes:
    """The body, framed as RFC 9112 §6.3 says (without the cases a GET's response never
    meets: HEAD, 1xx, 204 and 304 are not handled)."""
    # BEGIN SOLUTION: chunked first, else Content-Length, else read to the end
    if "transfer-encoding" in headers:
        codings = [c.strip().lower() for c in headers["transfer-encoding"].split(",")]
        if codings[-1] != "chunked":
            raise ResponseError(f"unsupported Transfer-Encoding: {headers['transfer-encoding']}")
        return _read_chunked(reader)
    if "content-length" in headers:
        values = {v.strip() for v in headers["content-length"].split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise ResponseError(f"bad Content-Length: {headers['content-length']!r}")
        return reader.exactly(int(values.pop()))
    return reader.rest()
    # END SOLUTION


def _read_chunked(reader: _Reader) -> bytes:
    """RFC 9112 §7.1: hex size [;extensions] CRLF, data CRLF, ..., 0 CRLF, trailers, CRLF."""
    # BEGIN SOLUTION: sizes in hex (extensions after ';' ignored), data, CRLF; trailers skipped
    body = bytearray()
    while True:
        size_text = reader.line().split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ResponseError(f"bad chunk size {size_text!r}") from None
        if size == 0:
            while reader.line():  # trailer fields, up to the empty line
                pass
            return bytes(body)
        body += reader.exactly(size)
        if reader.exactly(2) != b"\r\n":
            raise ResponseError("a chunk is not followed by CRLF")
    # END SOLUTION


# --- the command line ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch a URL's body with HTTP/1.1.")
    parser.add_argument("host", help="the server's IPv4 address (or name, on the kernel)")
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--stack", metavar="PORTSPEC",
                        help="run on a netstack stack on this port (e.g. tap:lab0) instead "
                             "of the kernel's TCP")
    parser.add_argument("--ip", default="192.0.2.2/24", help="the stack's address")
    parser.add_argument("--output", "-o", help="write the body here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        if args.stack:
            from netstack import api

            with api.Host.open(args.stack, args.ip) as host:
                body = get(host, args.host, args.path, args.port)
        else:
            import socket

            body = get(socket, args.host, args.path, args.port)
    except HttpError as exc:
        print(f"webget: {exc}", file=sys.stderr)
        return 1
    except (ResponseError, OSError) as exc:
        print(f"webget: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "wb") as f:
            f.write(body)
    else:
        sys.stdout.buffer.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
