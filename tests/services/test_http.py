"""The HTTP service over a memory cable, spoken to by a tiny client written here.

The client reads exactly what HTTP/1.1 framing says (status line, headers, Content-Length
bytes), so a response with one byte too many or too few breaks the next request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from netstack import api
from netstack.services import ServiceRunner, http
from tests.api.tcp_fixtures import SERVER_IP, TIMEOUT


class Client:
    def __init__(self, host: Any) -> None:
        self.sock = host.socket(api.AF_INET, api.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((SERVER_IP, 80))
        self.rfile = self.sock.makefile("rb")

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, version: str = "HTTP/1.1") -> None:
        lines = [f"{method} {path} {version}", "Host: test"]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def response(self, head: bool = False) -> tuple[int, dict[str, str], bytes]:
        status_line = self.rfile.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        status = int(status_line.split()[1])
        headers = {}
        while (line := self.rfile.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", 0))
        return status, headers, self.rfile.read(length)

    def at_eof(self) -> bool:
        return self.rfile.read(1) == b""

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


@pytest.fixture
def client(tcp_hosts) -> Iterator[Client]:
    with ServiceRunner(tcp_hosts.server, [(http.Handler(), 80)]):
        c = Client(tcp_hosts.client)
        try:
            yield c
        finally:
            c.close()


def test_the_front_page_shows_live_counters(client):
    client.request("GET", "/")
    status, headers, body = client.response()
    assert status == 200 and headers["content-type"].startswith("text/html")
    page = body.decode()
    assert "netstack" in page and "192.0.2.2/24" in page
    assert "<td>tcp.conn.established</td>" in page and "<td>tcp.rx.segments</td>" in page


@pytest.mark.parametrize("size", [0, 1, 255, 65536, 1_000_001])
def test_bytes_n_is_the_documented_pattern(client, size):
    client.request("GET", f"/bytes/{size}")
    status, headers, body = client.response()
    assert status == 200 and int(headers["content-length"]) == size
    expected = hashlib.sha256(bytes(range(256)) * (size // 256) + bytes(range(size % 256)))
    assert hashlib.sha256(body).hexdigest() == expected.hexdigest()
    assert body == http.pattern_bytes(size)


def test_echo_returns_the_posted_body(client):
    body = bytes(range(256)) * 1000
    client.request("POST", "/echo", body)
    status, headers, echoed = client.response()
    assert status == 200 and echoed == body


def test_expect_100_continue_gets_an_interim_response(client):
    client.request("POST", "/echo", b"", headers={"Expect": "100-continue"})
    assert client.rfile.readline() == b"HTTP/1.1 100 Continue\r\n"
    assert client.rfile.readline() == b"\r\n"
    status, _headers, body = client.response()
    assert status == 200 and body == b""


def test_keep_alive_carries_several_requests_on_one_connection(client, tcp_hosts):
    for path, expected in (("/bytes/10", http.pattern_bytes(10)), ("/bytes/3", b"\0\1\2")):
        client.request("GET", path)
        status, headers, body = client.response()
        assert (status, body) == (200, expected)
        assert headers["connection"] == "keep-alive"
    client.request("POST", "/echo", b"third")
    assert client.response()[2] == b"third"
    established = tcp_hosts.server.counters.snapshot()["tcp.conn.established"]
    assert established == 1  # all three on the one connection


def test_pipelined_requests_are_answered_in_order(client):
    client.sock.sendall(b"GET /bytes/1 HTTP/1.1\r\n\r\nGET /bytes/2 HTTP/1.1\r\n\r\n")
    assert client.response()[2] == b"\0"
    assert client.response()[2] == b"\0\1"


def test_connection_close_is_honoured(client):
    client.request("GET", "/bytes/5", headers={"Connection": "close"})
    status, headers, body = client.response()
    assert status == 200 and headers["connection"] == "close" and len(body) == 5
    assert client.at_eof()


def test_http_1_0_closes_unless_asked_to_keep_alive(client):
    client.request("GET", "/bytes/1", version="HTTP/1.0", headers={"Connection": "keep-alive"})
    assert client.response()[1]["connection"] == "keep-alive"
    client.request("GET", "/bytes/1", version="HTTP/1.0")
    assert client.response()[1]["connection"] == "close"
    assert client.at_eof()


def test_head_has_the_headers_without_the_body(client):
    client.request("HEAD", "/bytes/1000")
    status, headers, body = client.response(head=True)
    assert status == 200 and headers["content-length"] == "1000"
    client.request("GET", "/bytes/2")  # no stray body bytes sit before this answer
    assert client.response()[2] == b"\0\1"


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/nowhere", 404), ("GET", "/bytes/lots", 404), ("POST", "/", 405),
    ("GET", "/echo", 405), ("DELETE", "/bytes/1", 405),
])
def test_errors_keep_the_connection(client, method, path, status):
    client.request(method, path, b"ignored body" if method == "POST" else b"")
    got, headers, _body = client.response()
    assert got == status
    if status == 405:
        assert headers["allow"]
    client.request("GET", "/bytes/1")
    assert client.response()[2] == b"\0"


@pytest.mark.parametrize("raw, status", [
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nbad header line\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"POST /echo HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n", 413),
    (b"POST /echo HTTP/1.1\r\n\r\n", 411),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
])
def test_bad_requests_are_refused_and_the_connection_closed(client, raw, status):
    client.sock.sendall(raw)
    assert client.response()[0] == status
    assert client.at_eof()


def test_many_clients_at_once(tcp_hosts):
    with ServiceRunner(tcp_hosts.server, [(http.Handler(), 80)]):
        clients = [Client(tcp_hosts.client) for _ in range(12)]
        try:
            for n, c in enumerate(clients):
                c.request("GET", f"/bytes/{1000 + n}")
            for n, c in enumerate(clients):
                assert c.response()[2] == http.pattern_bytes(1000 + n)
        finally:
            for c in clients:
                c.close()
