"""Lab 0, part 1: what webget sends (RFC 9112 §3 the request line, RFC 9110 §7.2 Host,
RFC 9112 §9.6 Connection: close) and that it closes its connection."""

from __future__ import annotations

from lab00_bench import CLOSE, HOLD, Bench, response


def fetch(variant, path: str = "/index.html", port: int | None = None, body: bytes = b"ok",
          script: list | None = None):
    bench = Bench(variant)
    server_port = bench.port if port is None else port
    bench.serve(script if script is not None else [response(body=body), CLOSE], server_port)
    outcome = bench.get(bench.server_ip, path, server_port)
    bench.settle()
    return bench, outcome


def head_lines(request: bytes) -> list[bytes]:
    return request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_the_request_line_is_get_path_http_1_1(variant):
    """The first line is exactly "GET <path> HTTP/1.1", CRLF-terminated."""
    bench, outcome = fetch(variant, "/index.html")
    request = bench.request()
    first = request.split(b"\r\n", 1)[0]
    bench.expect("the request line b'GET /index.html HTTP/1.1'",
                 first == b"GET /index.html HTTP/1.1", f"got {first!r}")
    bench.expect_body(outcome, b"ok")


def test_the_path_is_sent_as_given_with_its_query(variant):
    """A path with a query string and escapes goes out untouched."""
    path = f"/search?q=net%20stack&seed={variant.stack_seed}"
    bench, outcome = fetch(variant, path)
    first = bench.request().split(b"\r\n", 1)[0]
    expected = f"GET {path} HTTP/1.1".encode()
    bench.expect(f"the request line {expected!r}", first == expected, f"got {first!r}")


def test_the_host_header_carries_the_port_when_it_is_not_80(variant):
    """RFC 9110 §7.2: Host is host:port unless the port is the scheme's default."""
    bench, outcome = fetch(variant)
    expected = f"{bench.server_ip}:{bench.port}".encode()
    hosts = [line.split(b":", 1)[1].strip() for line in head_lines(bench.request())[1:]
             if line.split(b":", 1)[0].strip().lower() == b"host"]
    bench.expect(f"exactly one Host header, {expected!r}", hosts == [expected],
                 f"got {hosts!r}")


def test_the_host_header_is_the_bare_host_on_port_80(variant):
    """On port 80 the Host header is just the host (RFC 9110 §7.2)."""
    bench, outcome = fetch(variant, port=80)
    expected = bench.server_ip.encode()
    hosts = [line.split(b":", 1)[1].strip() for line in head_lines(bench.request())[1:]
             if line.split(b":", 1)[0].strip().lower() == b"host"]
    bench.expect(f"exactly one Host header, {expected!r}", hosts == [expected],
                 f"got {hosts!r}")
    bench.expect_body(outcome, b"ok")


def test_the_request_asks_for_connection_close(variant):
    """RFC 9112 §9.6: "Connection: close" tells the server to close after its response."""
    bench, outcome = fetch(variant)
    values = [line.split(b":", 1)[1].strip().lower() for line in head_lines(bench.request())[1:]
              if line.split(b":", 1)[0].strip().lower() == b"connection"]
    bench.expect("a Connection: close header", values == [b"close"], f"got {values!r}")


def test_every_request_line_ends_in_crlf_and_an_empty_line_ends_the_head(variant):
    """RFC 9112 §2.1: lines end in CRLF, no bare LF; the head ends with CRLF CRLF, and a GET
    has no body after it."""
    bench, outcome = fetch(variant)
    request = bench.request()
    bench.expect("the request ends with b'\\r\\n\\r\\n' (nothing after it)",
                 request.endswith(b"\r\n\r\n") and request.count(b"\r\n\r\n") == 1,
                 f"got {request!r}")
    bare = request.replace(b"\r\n", b"").count(b"\n") + request.replace(b"\r\n", b"").count(b"\r")
    bench.expect("no bare LF or CR", bare == 0, f"got {request!r}")


def test_every_header_line_is_a_name_colon_value(variant):
    """Extra headers (User-Agent, Accept...) are allowed, but each must be "Name: value"."""
    bench, outcome = fetch(variant)
    bad = [line for line in head_lines(bench.request())[1:]
           if b":" not in line or not line.split(b":", 1)[0] or b" " in line.split(b":", 1)[0]]
    bench.expect("well-formed header lines", not bad, f"these are not: {bad!r}")


def test_the_default_path_is_slash_and_the_default_port_80(variant):
    """get(sockets, host) fetches http://host/ (path "/", port 80)."""
    bench = Bench(variant)
    bench.serve([response(body=b"root"), CLOSE], 80)
    outcome = bench.get(bench.server_ip)
    bench.settle()
    first = bench.request().split(b"\r\n", 1)[0]
    bench.expect("the request line b'GET / HTTP/1.1'", first == b"GET / HTTP/1.1",
                 f"got {first!r}")
    bench.expect_body(outcome, b"root")


def test_webget_closes_its_socket_after_the_response(variant):
    """The server holds the connection open after a Content-Length body: webget must
    close its side itself (the server sees the FIN)."""
    bench, outcome = fetch(variant, script=[response(body=b"kept open"), HOLD])
    bench.expect_body(outcome, b"kept open")
    app = bench.server_app
    bench.expect("the server saw the client close its side", app is not None
                 and app.client_closed, "no FIN came from webget within 1 s")


def test_webget_uses_one_socket(variant):
    """One fetch, one connection: get opens exactly one socket."""
    bench, outcome = fetch(variant)
    bench.expect_body(outcome, b"ok")
    made = len(bench.sockets.made)
    bench.expect("exactly one socket made", made == 1, f"get made {made}")
