"""Lab 0, part 2: reading the response (RFC 9112 §4 status line, §5 fields, §6.3 body
length, §7.1 chunked). TCP delivers a byte stream: the server's sends arrive in any split,
so every test that cuts the response into pieces checks that webget does not care."""

from __future__ import annotations

import hashlib

from lab00_bench import CLOSE, HOLD, Bench, Pause, chunked, pieces, response


def run(variant, script: list, path: str = "/file"):
    bench = Bench(variant)
    bench.serve(script)
    outcome = bench.get(bench.server_ip, path, bench.port)
    bench.settle()
    return bench, outcome


def pattern(size: int, salt: int) -> bytes:
    """`size` bytes that differ from one variant to the next, with CRLFs inside."""
    block = hashlib.sha256(f"lab0/{salt}".encode()).digest() + b"\r\n\r\n"
    return (block * (size // len(block) + 1))[:size]


# --- Content-Length -----------------------------------------------------------------------


def test_a_200_response_with_content_length_in_one_segment(variant):
    """The whole response in one send: the body is what follows the empty line."""
    body = pattern(300, variant.stack_seed)
    bench, outcome = run(variant, [response(body=body), CLOSE])
    bench.expect_body(outcome, body)


def test_the_body_spread_over_many_segments(variant):
    """The head in one segment, then the body in 25 small segments with pauses."""
    body = pattern(2500, variant.stack_seed)
    head = response(body=body)[: -len(body)]
    bench, outcome = run(variant, [head, Pause(0.01), *pieces(body, 100), CLOSE])
    bench.expect_body(outcome, body)


def test_the_status_line_is_split_across_segments(variant):
    """"HTTP/1.1 2" in one segment, "00 OK..." in the next."""
    whole = response(body=b"split status")
    bench, outcome = run(variant, [whole[:10], Pause(0.02), whole[10:], CLOSE])
    bench.expect_body(outcome, b"split status")


def test_headers_split_mid_name_and_between_cr_and_lf(variant):
    """Segments cut inside a header name, between CR and LF, and inside the empty line."""
    body = b"headers in pieces"
    whole = response(body=body, headers=["Server: lab0", f"Content-Length: {len(body)}",
                                         "X-Variant: " + variant.name])
    cuts = [whole.index(b"Cont") + 3, whole.index(b"\r\n") + 1, len(whole) - len(body) - 1]
    cuts.sort()
    script: list = []
    start = 0
    for cut in cuts:
        script += [whole[start:cut], Pause(0.01)]
        start = cut
    bench, outcome = run(variant, [*script, whole[start:], CLOSE])
    bench.expect_body(outcome, body)


def test_every_byte_in_its_own_segment(variant):
    """A slow server: the response one byte at a time."""
    body = b"byte by byte"
    bench, outcome = run(variant, [*pieces(response(body=body), 1, 0.002), CLOSE])
    bench.expect_body(outcome, body)


def test_header_names_are_case_insensitive(variant):
    """RFC 9110 §5.1: "content-LENGTH" is Content-Length."""
    body = b"case"
    bench, outcome = run(variant, [response(body=body, headers=[f"content-LENGTH: {len(body)}"]),
                                   HOLD])
    bench.expect_body(outcome, body)
    bench.expect("get returned well before the server's hold ended", outcome.at < 5.0,
                 f"it returned at t={outcome.at:.3f}")


def test_optional_whitespace_around_header_values(variant):
    """RFC 9112 §5.1: "Content-Length:   5  " is 5 (leading and trailing spaces/tabs)."""
    body = b"space"
    bench, outcome = run(variant, [response(body=body, headers=["Content-Length: \t 5 \t"]),
                                   HOLD])
    bench.expect_body(outcome, body)


def test_content_length_stops_reading_even_if_the_server_keeps_the_connection(variant):
    """The server ignores Connection: close and keeps the connection open: get returns once
    Content-Length bytes arrived, not when the server gives up."""
    body = pattern(1000, variant.stack_seed)
    bench, outcome = run(variant, [response(body=body), HOLD])
    bench.expect_body(outcome, body)
    bench.expect("get returned within a second of virtual time", outcome.at < 1.0,
                 f"it returned at t={outcome.at:.3f}")


def test_a_zero_content_length_is_an_empty_body(variant):
    """Content-Length: 0: the body is b""."""
    bench, outcome = run(variant, [response(body=b""), HOLD])
    bench.expect_body(outcome, b"")


def test_a_large_body(variant):
    """200 KB with Content-Length, sent in big pieces: every byte, in order."""
    body = pattern(200_000, variant.stack_seed)
    bench, outcome = run(variant, [response(body=body), CLOSE])
    bench.expect_body(outcome, body)


def test_a_binary_body_with_crlfs_and_nuls(variant):
    """The body is bytes, not text: CRLF CRLF and NUL bytes inside it are data."""
    body = bytes(range(256)) + b"\r\n\r\n" + bytes(64) + b"HTTP/1.1 200 OK\r\n\r\n"
    bench, outcome = run(variant, [response(body=body), CLOSE])
    bench.expect_body(outcome, body)


def test_other_2xx_statuses_return_the_body(variant):
    """Any 2xx is a success: 203 Non-Authoritative Information returns its body."""
    bench, outcome = run(variant, [response("203 Non-Authoritative Information", b"fine"),
                                   CLOSE])
    bench.expect_body(outcome, b"fine")


def test_an_http_1_0_response_is_accepted(variant):
    """A server may answer with HTTP/1.0 (RFC 9112 §2.3): same status line, same body."""
    bench, outcome = run(variant, [response(body=b"old", version="HTTP/1.0"), CLOSE])
    bench.expect_body(outcome, b"old")


# --- no Content-Length: the end of the connection ends the body ------------------------------


def test_without_content_length_the_body_ends_with_the_connection(variant):
    """RFC 9112 §6.3 (8): no framing header: read until the server closes."""
    body = pattern(5000, variant.stack_seed)
    head = response(body=body, headers=["Server: lab0"])[: -len(body)]
    bench, outcome = run(variant, [head, *pieces(body, 700), CLOSE])
    bench.expect_body(outcome, body)


def test_a_large_body_without_content_length(variant):
    """150 KB and a close: every byte."""
    body = pattern(150_000, variant.stack_seed + 1)
    bench, outcome = run(variant, [response(body=body, headers=[]), CLOSE])
    bench.expect_body(outcome, body)


# --- chunked --------------------------------------------------------------------------------


def test_a_chunked_body_is_decoded(variant):
    """RFC 9112 §7.1: hex size CRLF data CRLF ... 0 CRLF CRLF; the body is the data."""
    body = pattern(1000, variant.stack_seed)
    bench, outcome = run(variant, [response(body=chunked(body, 300),
                                            headers=["Transfer-Encoding: chunked"]), CLOSE])
    bench.expect_body(outcome, body)


def test_chunk_sizes_in_upper_and_lower_case_hex_with_extensions(variant):
    """Sizes "1A" and "1a" are both 26; ";name=value" after a size is an extension to skip."""
    data = b"abcdefghijklmnopqrstuvwxyz"
    encoded = (b"1A;lab=0\r\n" + data + b"\r\n" + b"1a\r\n" + data.upper() + b"\r\n"
               + b"0\r\n\r\n")
    bench, outcome = run(variant, [response(body=encoded, headers=["Transfer-Encoding: chunked"]),
                                   CLOSE])
    bench.expect_body(outcome, data + data.upper())


def test_chunked_split_everywhere_with_a_trailer(variant):
    """Chunks cut mid-size, mid-data and mid-CRLF, and a trailer field after the last chunk."""
    body = pattern(700, variant.stack_seed)
    encoded = chunked(body, 97)[:-2] + b"X-Checksum: none\r\n\r\n"
    whole = response(body=encoded, headers=["Transfer-Encoding: chunked"])
    bench, outcome = run(variant, [*pieces(whole, 37, 0.002), CLOSE])
    bench.expect_body(outcome, body)


def test_chunked_stops_at_the_last_chunk_even_if_the_connection_stays_open(variant):
    """The zero-size chunk ends the body: get returns without waiting for a close."""
    body = pattern(900, variant.stack_seed)
    bench, outcome = run(variant, [response(body=chunked(body, 256),
                                            headers=["Transfer-Encoding: chunked"]), HOLD])
    bench.expect_body(outcome, body)
    bench.expect("get returned within a second of virtual time", outcome.at < 1.0,
                 f"it returned at t={outcome.at:.3f}")
