"""Lab 0, part 3: what goes wrong. A status other than 2xx is HttpError (with the status
and the body); a response webget cannot read, or one cut short, is ResponseError; a refused
connection is the socket's own OSError (ConnectionRefusedError)."""

from __future__ import annotations

from lab00_bench import CLOSE, HOLD, Bench, Pause, response


def run(variant, script: list, path: str = "/missing"):
    bench = Bench(variant)
    bench.serve(script)
    outcome = bench.get(bench.server_ip, path, bench.port)
    bench.settle()
    return bench, outcome


def test_404_raises_http_error_with_the_status(variant):
    """404 Not Found: HttpError, .status 404."""
    page = b"<h1>no such page</h1>"
    bench, outcome = run(variant, [response("404 Not Found", page), CLOSE])
    bench.expect_error(outcome, "HttpError", status=404)


def test_http_error_keeps_the_body_and_the_reason(variant):
    """The error page is kept in HttpError.body, the reason phrase in .reason."""
    page = f"<h1>nothing at seed {variant.stack_seed}</h1>".encode()
    bench, outcome = run(variant, [response("404 Not Found", page), CLOSE])
    bench.expect_error(outcome, "HttpError", status=404, reason="Not Found", body=page)


def test_500_raises_http_error(variant):
    """500 Internal Server Error: HttpError, .status 500."""
    bench, outcome = run(variant, [response("500 Internal Server Error", b"oops"), CLOSE])
    bench.expect_error(outcome, "HttpError", status=500)


def test_a_redirect_is_not_followed(variant):
    """301 with a Location: webget does not follow it; HttpError, .status 301."""
    bench, outcome = run(variant, [response("301 Moved Permanently", b"",
                                            ["Location: /elsewhere", "Content-Length: 0"]),
                                   CLOSE])
    bench.expect_error(outcome, "HttpError", status=301)
    bench.expect("one connection only (the redirect not followed)",
                 len(bench.sockets.made) == 1, f"get made {len(bench.sockets.made)} sockets")


def test_an_error_status_with_a_held_connection_still_returns(variant):
    """404 with Content-Length and the connection held open: the error comes at once."""
    bench, outcome = run(variant, [response("404 Not Found", b"gone"), HOLD])
    bench.expect_error(outcome, "HttpError", status=404, body=b"gone")
    bench.expect("get returned within a second of virtual time", outcome.at < 1.0,
                 f"it returned at t={outcome.at:.3f}")


def test_the_server_closes_before_the_announced_body_is_complete(variant):
    """Content-Length 1000, 300 bytes, then a close: ResponseError, not a short body."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    bench, outcome = run(variant, [head + bytes(300), Pause(0.01), CLOSE])
    bench.expect_error(outcome, "ResponseError")


def test_the_server_closes_without_answering(variant):
    """The request arrives, then a close and no byte: ResponseError."""
    bench, outcome = run(variant, [CLOSE])
    bench.expect_error(outcome, "ResponseError")


def test_the_server_closes_in_the_middle_of_the_headers(variant):
    """"HTTP/1.1 200 OK\\r\\nContent-Le" and a close: ResponseError."""
    bench, outcome = run(variant, [b"HTTP/1.1 200 OK\r\nContent-Le", CLOSE])
    bench.expect_error(outcome, "ResponseError")


def test_a_chunked_body_cut_short(variant):
    """A chunk of 0x100 bytes announced, 10 sent, then a close: ResponseError."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    bench, outcome = run(variant, [head + b"100\r\n" + bytes(10), CLOSE])
    bench.expect_error(outcome, "ResponseError")


def test_a_response_that_is_not_http(variant):
    """The server speaks something else ("SSH-2.0-..."): ResponseError."""
    bench, outcome = run(variant, [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", CLOSE])
    bench.expect_error(outcome, "ResponseError")


def test_a_status_code_that_is_not_three_digits(variant):
    """"HTTP/1.1 2OO OK" (letters O): ResponseError."""
    bench, outcome = run(variant, [b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", CLOSE])
    bench.expect_error(outcome, "ResponseError")


def test_a_refused_connection_raises_the_socket_error(variant):
    """No server on the port: the peer's stack answers RST, connect raises
    ConnectionRefusedError, and get lets it through (it is an OSError)."""
    bench = Bench(variant)
    bench.log(f"server    nothing listens on {bench.server_ip}:{bench.port}")
    outcome = bench.get(bench.server_ip, "/", bench.port)
    error = outcome.error
    bench.expect("ConnectionRefusedError", isinstance(error, ConnectionRefusedError),
                 f"got {type(error).__name__}: {error}\n{outcome.trace}" if error else
                 f"get returned {outcome.body!r}")
