"""TCP on the DPDK port: tests/interop/test_tcp_kernel_clients.py, unchanged, on a stack
whose port is `dpdk:net_tap0,iface=...` (curl to the http service, 10 MB down, 20 MB
through tcp-echo both ways with sha256 checks, nc, RST for a closed port, a clean capture).

Only the `bench` fixture is this module's; the tests are that module's functions.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dpdk.dpdk_support import DpdkKernelPeer, requires_dpdk, requires_root
from tests.interop import test_tcp_kernel_clients as tcp

pytestmark = [requires_dpdk, requires_root]


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Iterator[DpdkKernelPeer]:
    tmp_path = tmp_path_factory.mktemp("dpdk-tcp-kernel-clients")
    with DpdkKernelPeer(tmp_path, "--service", "http:80", "--service", "tcp-echo:7") as peer:
        yield peer
        if peer.stack.returncode is None:
            peer.stop()


# In the module's order: the last one stops the stack and checks the capture.
test_curl_gets_the_front_page = tcp.test_curl_gets_the_front_page
test_curl_downloads_ten_million_bytes_of_the_known_pattern = (
    tcp.test_curl_downloads_ten_million_bytes_of_the_known_pattern)
test_kernel_sockets_carry_twenty_megabytes_through_tcp_echo_intact = (
    tcp.test_kernel_sockets_carry_twenty_megabytes_through_tcp_echo_intact)
test_curl_reuses_one_connection_for_two_requests = tcp.test_curl_reuses_one_connection_for_two_requests
test_netcat_talks_to_tcp_echo = tcp.test_netcat_talks_to_tcp_echo
test_netcat_to_a_closed_port_is_refused = tcp.test_netcat_to_a_closed_port_is_refused
test_stop_leaves_a_clean_capture_with_the_refusal_in_it = (
    tcp.test_stop_leaves_a_clean_capture_with_the_refusal_in_it)
