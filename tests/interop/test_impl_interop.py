"""A replaced unit, given on the command line, against the Linux kernel.

A lab manual: run `netstack run --impl checksum=tests.units.alternatives.checksum_wide` (a
checksum computed another way, still correct) in a namespace, with the web service on port
80. The kernel (192.0.2.1) pings the stack, small and fragmented, and fetches its front page
with curl. Every reply must arrive, and when the stack stops, tshark checks every frame it
sent, checksums included.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.test_cli import netstack
from tests.interop.kernel_peer import STACK_IP, KernelPeer, ping_ok, requires_root

# The replacement under test: UNIT=package.module[:Attr], exactly as a student types it.
ALTERNATIVE = "checksum=tests.units.alternatives.checksum_wide"


def test_the_alternative_resolves():
    """Without root: the replacement imports and has its interface's members."""
    result = netstack("run", "--port", "memory:x", "--ip", "192.0.2.2/24", "--impl", ALTERNATIVE,
                      "--print-config")
    assert result.returncode == 0, result.stderr
    unit, _, path = ALTERNATIVE.partition("=")
    assert f'{unit} = "{path}"' in result.stdout


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Iterator[KernelPeer]:
    tmp_path = tmp_path_factory.mktemp("impl-interop")
    with KernelPeer(tmp_path, "--impl", ALTERNATIVE, "--service", "http:80") as peer:
        yield peer
        if peer.stack.returncode is None:
            peer.stop()


@requires_root
def test_the_kernel_pings_the_stack_without_loss(bench):
    assert ping_ok(bench.ping("-c", "5", "-i", "0.2"), 5)
    # 4000 bytes: fragmented by the kernel, reassembled and fragmented again by the stack.
    assert ping_ok(bench.ping("-c", "2", "-i", "0.2", "-s", "4000"), 2)


@requires_root
def test_curl_gets_the_front_page(bench):
    result = bench.run("curl", "--silent", "--show-error", "--max-time", "20", "--output",
                       "/dev/null", "--write-out", "%{http_code} %{size_download}",
                       f"http://{STACK_IP}/", timeout=30)
    assert result.returncode == 0, result.stderr
    status, size = result.stdout.split()
    assert status == "200" and int(size) > 0, result.stdout


@requires_root
def test_the_stack_stops_cleanly_having_verified_every_checksum(bench):
    """stop(): exit status 0 and, with tshark, every frame the stack sent is well formed.
    Its counters: it answered all seven pings, and it judged no kernel frame's checksum bad."""
    counters = bench.stop()
    assert counters.get("icmp.tx.echo_reply", 0) >= 7, counters
    bad = {name: n for name, n in counters.items() if name.endswith(".drop.bad_checksum")}
    assert not bad, bad
