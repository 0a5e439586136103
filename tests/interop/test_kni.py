"""KNI: frames the stack does not handle (here IPv6) reach a kernel through a TAP device.

Two namespaces. In `peer`, the kernel owns the stack's port TAP with 2001:db8::1. The stack
creates a KNI TAP that carries its own MAC; we move that device into `host`, whose kernel
gives it 2001:db8::2. An IPv6 ping from `peer` crosses the stack, reaches `host` through
the KNI device, and the replies come back out through the stack's port.
"""

import pytest

from netstack.netns import Namespace, unique_name
from tests.capture_check import assert_capture_clean
from tests.interop.kernel_peer import KernelPeer, ping_ok, requires_root

pytestmark = requires_root


@pytest.mark.parametrize("engine", ["python", "native"])
def test_ipv6_ping_crosses_the_stack_through_kni(tmp_path, engine):
    kni = unique_name("kni")
    with Namespace("nshost") as host, KernelPeer(tmp_path, "--kni", f"tap:{kni}",
                                                 "--engine", engine) as peer:
        peer.run("ip", "link", "set", "dev", kni, "netns", host.name, check=True)
        host.run(["ip", "-6", "address", "add", "2001:db8::2/64", "dev", kni, "nodad"])
        host.link_up(kni)
        peer.run("ip", "-6", "address", "add", "2001:db8::1/64", "dev", peer.tap, "nodad", check=True)

        result = peer.run("ping", "-6", "-n", "-c", "5", "-i", "0.05", "-W", "2", "2001:db8::2")
        assert ping_ok(result, 5), result.stdout + result.stderr
        # The IPv4 side still works alongside it.
        assert ping_ok(peer.ping("-c", "2", "-i", "0.05"), 2)
        counters = peer.stop()
    assert counters.get("kni.to_kernel", 0) >= 5
    assert counters.get("kni.from_kernel", 0) >= 5
    assert_capture_clean(peer.capture, peer.mac, min_frames=10)
