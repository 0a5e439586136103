"""Ports that need the kernel (root, inside a throw-away namespace): AF_PACKET and KNI."""

import pytest

from tests.netns import NetstackProcess, unique_name, veth_pair, wait_until

pytestmark = pytest.mark.root


def test_afpacket_on_a_veth_answers_the_kernels_pings(netns):
    kernel_end, stack_end = veth_pair(netns)
    netns.add_address(kernel_end, "192.0.2.1/24")
    with NetstackProcess(netns, "--port", f"afpacket:{stack_end}", "--ip", "192.0.2.2/24") as stack:
        result = netns.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.2"], check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        counters = stack.stop(expect_status=0)
    assert counters["icmp.tx.echo_reply"] == 3
    # Our own transmissions (unicast to the kernel's MAC) are not read back as received.
    assert counters.get("eth.drop.not_for_us", 0) == 0


def test_kni_device_carries_the_stacks_mac_and_goes_away(netns):
    tap, kni = unique_name("tap"), unique_name("kni")
    with NetstackProcess(netns, "--port", f"tap:{tap}", "--ip", "192.0.2.2/24",
                         "--mac", "02:00:00:00:00:2a", "--kni", f"tap:{kni}") as stack:
        name, _state, mac, flags = netns.run(["ip", "-br", "link", "show", "dev", kni]).stdout.split()
        assert mac == "02:00:00:00:00:2a"
        assert "UP" in flags.strip("<>").split(",")
        stack.stop()
    wait_until(lambda: not netns.has_link(kni), timeout=5, what=f"{kni} to be removed")
