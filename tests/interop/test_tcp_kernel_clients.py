"""The Linux kernel's TCP clients against `netstack run --service http:80 --service tcp-echo:7`.

A lab manual: start the stack with its services in a namespace, run curl, nc and Python
socket clients there (they are the kernel's, 192.0.2.1), and check what they got, down to the
sha256 of every byte. When the stack stops, tshark checks every frame it sent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from netstack.bench.tcp_kernel import ECHO_CLIENT
from tests.capture_check import assert_capture_clean, frames_from
from tests.interop.kernel_peer import STACK_IP, KernelPeer, requires_root
from tests.interop.tcp_support import MB, http_bytes_pattern, known_bytes, parse_result, sha256_hex

pytestmark = requires_root

CLOSED_PORT = 81  # nothing listens there: the stack must answer a SYN with a RST
BIG = 10_000_000  # the curl download
ECHO_BYTES = 20 * MB  # the echo transfer


@pytest.fixture(scope="module")
def bench(tmp_path_factory, engine) -> Iterator[KernelPeer]:
    """One stack per engine for the module, serving http on 80 and tcp-echo on 7."""
    tmp_path = tmp_path_factory.mktemp("tcp-kernel-clients")
    with KernelPeer(tmp_path, "--service", "http:80", "--service", "tcp-echo:7",
                    "--engine", engine) as peer:
        yield peer
        if peer.stack.returncode is None:  # not stopped by the last test
            peer.stop()


def curl(bench: KernelPeer, *args: str, timeout: float = 60) -> str:
    result = bench.run("curl", "--silent", "--show-error", "--max-time", str(int(timeout)), *args,
                       timeout=timeout + 5)
    assert result.returncode == 0, f"curl {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result.stdout


def test_curl_gets_the_front_page(bench):
    # -w appends the status and the byte count curl received, after the body.
    out = curl(bench, "--write-out", "\n%{http_code} %{size_download} %{content_type}",
               f"http://{STACK_IP}/")
    body, _, summary = out.rpartition("\n")
    status, size, content_type = summary.split(" ", 2)
    assert status == "200", out[-500:]
    assert int(size) == len(body.encode()) > 0
    assert "text/html" in content_type or "text/plain" in content_type, content_type
    assert "netstack" in body.lower(), body[:500]


def test_curl_downloads_ten_million_bytes_of_the_known_pattern(bench, tmp_path):
    target = tmp_path / "bytes.bin"
    curl(bench, "--output", str(target), f"http://{STACK_IP}/bytes/{BIG}", timeout=90)
    data = target.read_bytes()
    assert len(data) == BIG
    assert sha256_hex(data) == sha256_hex(http_bytes_pattern(BIG)), \
        "the body is not the /bytes/N pattern (same length, different bytes)"


def test_curl_reuses_one_connection_for_two_requests(bench):
    """HTTP/1.1 keep-alive: curl's second transfer says it made no new connection."""
    out = curl(bench, "--output", "/dev/null", "--output", "/dev/null",
               "--write-out", "%{http_code} %{num_connects}\n",
               f"http://{STACK_IP}/bytes/1000", f"http://{STACK_IP}/bytes/2000")
    assert out.split("\n")[:2] == ["200 1", "200 0"], out


def test_kernel_sockets_carry_twenty_megabytes_through_tcp_echo_intact(bench):
    """One kernel thread sends 20 MB of known bytes while another reads the echo: sha256 of
    what went out and of what came back must be the same, and both the expected one."""
    result = bench.run(sys.executable, "-c", ECHO_CLIENT, STACK_IP, "7", str(ECHO_BYTES), "5",
                       timeout=150)
    assert result.returncode == 0, f"the echo client failed:\n{result.stderr}"
    echoed = parse_result(result.stdout)
    assert echoed["sent_sha"] == sha256_hex(known_bytes(ECHO_BYTES, 5))
    assert int(echoed["received"]) == ECHO_BYTES, echoed
    assert echoed["received_sha"] == echoed["sent_sha"], "the echo came back with different bytes"


def test_netcat_talks_to_tcp_echo(bench):
    # -N: shut down the sending half at the end of stdin, so the echo service sees EOF, closes,
    # and nc exits after printing the echo.
    result = bench.run("sh", "-c", f"printf 'hello, netstack\\n' | nc -N -w 5 {STACK_IP} 7",
                       timeout=15)
    assert result.stdout == "hello, netstack\n", result.stderr


def test_netcat_to_a_closed_port_is_refused(bench):
    result = bench.run("nc", "-z", "-v", "-w", "5", STACK_IP, str(CLOSED_PORT), timeout=15)
    assert result.returncode != 0
    assert "refused" in result.stderr.lower(), result.stderr  # a RST, not a timeout
    listening = bench.run("nc", "-z", "-w", "5", STACK_IP, "80", timeout=15)
    assert listening.returncode == 0, "nc -z to the http port must succeed: " + listening.stderr


def test_stop_leaves_a_clean_capture_with_the_refusal_in_it(bench):
    """Runs last: stop the stack, then read its capture."""
    counters = bench.stop()  # exit status 0 and tshark's verdict are checked
    assert frames_from(bench.capture, bench.mac,
                       f"tcp.srcport == {CLOSED_PORT} and tcp.flags.reset == 1") >= 1
    # 20 MB each way plus 10 MB: well over 20,000 full-sized segments from the stack.
    assert frames_from(bench.capture, bench.mac, "tcp.len >= 1000") > 20_000
    assert_capture_clean(bench.capture, bench.mac, min_frames=1000)
    tcp_counters = {k: v for k, v in counters.items() if k.startswith("tcp.")}
    assert tcp_counters, f"the stack printed no tcp.* counters: {counters}"
