"""Bad scripts get a clear one-line error, never a crash or a hang: fields out of range,
absurd sizes, bad options, and a seeded run of random mutations of the corpus."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from netstack.drill.runner import run_file

HANDSHAKE = """\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  bind(3, ..., ...) = 0
+0  listen(3, 1) = 0
+0  < S 0:0(0) win 65535 <mss 1000>
+0  > S. 0:0(0) ack 1 <mss 1460>
+.1 < . 1:1(0) ack 1 win 65535
+0  accept(3, ..., ...) = 4
"""
CORPUS = sorted(Path(__file__).parent.rglob("*.pkt"))


@pytest.mark.parametrize(("before", "after", "status", "words"), [
    ("--mtu=10", "", "error", "mtu 10 is outside"),
    ("--local_ip=foo", "", "error", "bad option value"),
    ("--tolerance_usecs=abc", "", "error", "bad option value"),
    ("", "+0 < . 1:1(0) ack 1 win 65535 <mss 70000>", "error", "cannot build the packet"),
    ("", "+0 < . 1:1(0) ack 1 win 70000", "error", "does not fit in 16 bits"),
    ("", "+0 < . 1:1(0) ack 1 win 1 <sack 1:2 3:4 5:6 7:8 9:10>", "error", "at most 40 fit"),
    ("", "+0 < udp (70000)", "error", "at most 65495 bytes"),
    ("", "+0 < P. 1:4294967297(4294967296) ack 1 win 1", "error", "out of range"),
    ("", "+0 < icmp unreachable frag_needed mtu 99999", "error", "16-bit"),
    ("", "+0 write(4, ..., 99999999999) = 5", "unsupported", "a buffer of 99999999999 bytes"),
    ("", "+0 read(4, ..., -5) = 0", "fail", "read() returned -1 EFAULT"),
    ("", "+0 %{ assert tcpi_rto / 0 }%", "fail", "division by zero"),
    ("", "+0 %{ assert 'a' * 999999999999 }%", "fail", "numbers only"),
    ("", "+0 %{ assert 10 ** 100000 }%", "unsupported", "BinOp"),
    ("", "+0 poll([{fd=4, events=POLLIN}], 1, 99999999999) = 1", "fail", "never returned"),
    ("", "+0 close(99) = 0", "fail", "close() returned -1 EBADF"),
])
def test_a_bad_script_gets_a_clear_error(tmp_path, before, after, status, words):
    path = tmp_path / "bad.pkt"
    path.write_text("\n".join(filter(None, [before, HANDSHAKE, after])) + "\n")
    result = run_file(path)
    assert result.status == status, result.explain()
    assert words in result.message
    assert "\n" not in result.message.split("\n  expected")[0]  # one line, then details


def test_random_mutations_of_the_corpus_never_crash(tmp_path):
    rng = random.Random(16)
    tokens = ["99999999999", "-1", "0", "4294967296", "...", "[", "]", "{", "}", "(", ")",
              "<", ">", ",", "%{", "}%", "`", "S.", "win", "ack", "mss 70000", "wscale 99",
              "TS val 1 ecr", "sack 5:1", "\n", "+", "*", "~", "0.1...", "fd=", "POLLIN",
              '"x"', "udp (70000)", "icmp unreachable", "mtu 0", "close(3) = 0",
              "read(9, ..., 5) = 5", "--mtu=10", "\n--tolerance_usecs=-5\n",
              "socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3", "\x00", "é"]
    path = tmp_path / "mutant.pkt"
    statuses = set()
    for _ in range(150):
        text = rng.choice(CORPUS).read_text()
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(text))
            if rng.random() < 0.6:
                text = text[:pos] + rng.choice(tokens) + text[pos:]
            else:
                text = text[:pos] + text[pos + rng.randint(1, 10):]
        path.write_text(text)
        result = run_file(path, rng.choice(["strict", "rfc"]))  # must not raise
        assert result.status in ("pass", "fail", "error", "unsupported")
        assert result.message or result.passed
        statuses.add(result.status)
    # The mutations did reach the checks: some scripts broke (which ones depends on the corpus).
    assert "error" in statuses and statuses - {"pass", "error"}


def test_a_binary_file_is_an_error(tmp_path):
    path = tmp_path / "binary.pkt"
    path.write_bytes(bytes(range(256)) * 4)
    result = run_file(path)
    assert result.status == "error" and "cannot read" in result.message
