"""The Linux kernel pings the stack over a TAP device, in a namespace of its own.

Like a lab manual: make the namespace, start the stack, run `ping`, read what it printed.
Every frame the stack sent is then checked by tshark (the independent oracle).
"""

import re

from tests.capture_check import assert_capture_clean
from tests.interop.kernel_peer import STACK_MAC, KernelPeer, ping_ok, requires_root

pytestmark = requires_root


def test_kernel_pings_the_stack_20_times_without_loss(tmp_path):
    with KernelPeer(tmp_path) as bench:
        result = bench.ping("-c", "20", "-i", "0.02")
        assert ping_ok(result, 20), result.stdout + result.stderr
        counters = bench.stop()
    assert counters.get("icmp.rx.echo_request", 0) >= 20
    assert counters.get("icmp.tx.echo_reply", 0) >= 20
    assert_capture_clean(bench.capture, bench.mac, min_frames=20)


def test_4000_byte_pings_are_fragmented_both_ways(tmp_path):
    with KernelPeer(tmp_path) as bench:
        result = bench.ping("-c", "20", "-i", "0.02", "-s", "4000")
        assert ping_ok(result, 20), result.stdout + result.stderr
        assert "4008 bytes from 192.0.2.2" in result.stdout
        bench.stop()
    # 4028 bytes of IP do not fit a 1500-byte MTU: each reply leaves as 3 fragments.
    from tests.capture_check import frames_from
    assert frames_from(bench.capture, bench.mac, "ip.flags.mf == 1") >= 40
    assert_capture_clean(bench.capture, bench.mac, min_frames=60)


def test_kernel_neighbour_table_holds_the_stack_mac(tmp_path):
    with KernelPeer(tmp_path) as bench:
        assert ping_ok(bench.ping("-c", "1"), 1)
        neigh = bench.run("ip", "neigh", "show", "dev", bench.tap).stdout
        assert re.search(rf"192\.0\.2\.2 lladdr {STACK_MAC} (REACHABLE|STALE|DELAY|PERMANENT)", neigh), neigh
        bench.stop()
    assert_capture_clean(bench.capture, bench.mac, min_frames=2)


def test_stack_resolves_the_kernel_and_counts_arp(tmp_path):
    with KernelPeer(tmp_path) as bench:
        assert ping_ok(bench.ping("-c", "3", "-i", "0.05"), 3)
        counters = bench.stop()
    assert counters.get("arp.tx.reply", 0) + counters.get("arp.tx.request", 0) >= 1
