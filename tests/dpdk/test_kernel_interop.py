"""`netstack run --port dpdk:net_tap0,iface=...`: the kernel's ping, UDP echo and KNI tests.

These are the TAP port's own interop tests (tests/interop/), run unchanged with the port
swapped for DPDK's TAP PMD: where a test builds its bench with `KernelPeer`, it gets
`DpdkKernelPeer`; where it takes a `bench` fixture, this module's fixture provides the
DPDK one. Nothing about the protocols is DPDK-specific, and these tests prove it.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator

import pytest

from tests.dpdk.dpdk_support import DpdkKernelPeer, dpdk_port_spec, requires_dpdk, requires_root
from tests.interop import test_kernel_ping, test_kni, test_udp_echo_service
from tests.interop.kernel_peer import STACK_IP, ping_ok
from tests.netns import NetstackProcess, unique_name, veth_pair

pytestmark = [requires_dpdk, requires_root]


@pytest.fixture
def on_dpdk(monkeypatch):
    """Tests that build their own KernelPeer build a DpdkKernelPeer instead."""
    for module in (test_kernel_ping, test_kni):
        monkeypatch.setattr(module, "KernelPeer", DpdkKernelPeer)


def test_kernel_pings_the_stack_20_times_without_loss(tmp_path, on_dpdk):
    test_kernel_ping.test_kernel_pings_the_stack_20_times_without_loss(tmp_path)


def test_4000_byte_pings_are_fragmented_both_ways(tmp_path, on_dpdk):
    test_kernel_ping.test_4000_byte_pings_are_fragmented_both_ways(tmp_path)


def test_ipv6_ping_crosses_the_stack_through_kni(tmp_path, on_dpdk):
    # Our TAP-based KNI next to the DPDK port (rte_kni is gone: see dpdk_engine.py).
    test_kni.test_ipv6_ping_crosses_the_stack_through_kni(tmp_path, engine="python")


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Iterator[DpdkKernelPeer]:
    """test_udp_echo_service's bench, on the DPDK port."""
    tmp_path = tmp_path_factory.mktemp("dpdk-udp-echo")
    with DpdkKernelPeer(tmp_path, "--service", "udp-echo:7", "--service", "udp-echo:7007",
                        "--service", "daytime:13") as peer:
        yield peer
        if peer.stack.returncode is None:
            peer.stop()


# The UDP echo interop, as it is in tests/interop/test_udp_echo_service.py (its last test
# stops the stack and checks the counters and the capture).
test_kernel_client_gets_every_size_back_byte_for_byte = (
    test_udp_echo_service.test_kernel_client_gets_every_size_back_byte_for_byte)
test_netcat_talks_to_the_echo_service = test_udp_echo_service.test_netcat_talks_to_the_echo_service
test_daytime_answers_the_kernel = test_udp_echo_service.test_daytime_answers_the_kernel
test_stop_reports_clean_counters_and_a_clean_capture = (
    test_udp_echo_service.test_stop_reports_clean_counters_and_a_clean_capture)


def test_sigterm_releases_the_eal_and_removes_the_tap(netns):
    """SIGTERM: the loop ends, the port is closed (the TAP PMD deletes its TAP device), the
    mempool is freed, rte_eal_cleanup runs, and the process exits 0 with its counters."""
    tap = unique_name("dt")
    with NetstackProcess(netns, "--port", dpdk_port_spec(tap), "--ip", "192.0.2.2/24",
                         "--service", "udp-echo:7") as stack:
        assert netns.has_link(tap), "DPDK's TAP PMD creates the device in our namespace"
        netns.add_address(tap, "192.0.2.1/24")
        netns.link_up(tap)
        kernel = netns.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        with kernel:
            kernel.settimeout(5)
            kernel.sendto(b"through rte_mbufs", (STACK_IP, 7))
            assert kernel.recvfrom(100) == (b"through rte_mbufs", (STACK_IP, 7))
        counters = stack.stop(sig=signal.SIGTERM)  # asserts exit status 0
    assert counters["udp.tx.datagrams"] == 1
    assert not netns.has_link(tap), "the TAP PMD's device outlived the port"


def test_af_packet_pmd_on_a_veth_answers_ping(netns):
    """The other vdev the issue names: DPDK's AF_PACKET PMD on one end of a veth pair. It has
    no rx interrupt fd, so this is also the engine's poll-with-backoff path."""
    kernel_end, stack_end = veth_pair(netns)
    netns.add_address(kernel_end, "192.0.2.1/24")
    with NetstackProcess(netns, "--port", f"dpdk:net_af_packet0,iface={stack_end}",
                         "--ip", "192.0.2.2/24") as stack:
        result = netns.run(["ping", "-n", "-c", "5", "-i", "0.05", "-W", "2", STACK_IP],
                           check=False)
        assert ping_ok(result, 5), result.stdout + result.stderr
        counters = stack.stop(sig=signal.SIGINT)
    assert counters["icmp.tx.echo_reply"] == 5
