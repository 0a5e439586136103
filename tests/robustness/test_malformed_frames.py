"""Hostile and broken frames from the wire: each is dropped and counted, and ping still works.

scapy (the independent oracle) crafts the frames in the kernel's namespace and sends them
into the TAP, so they reach the stack exactly as a broken host would send them.
"""

import sys
import textwrap

import pytest

from tests.capture_check import assert_capture_clean, frames_from
from tests.interop.kernel_peer import STACK_IP, STACK_MAC, KernelPeer, ping_ok, requires_root

pytestmark = requires_root

# Each case: (name, scapy expression for the frame(s) after Ether(), counter that must rise).
# Echo requests carry an identifier 0xBAD0 + n so the capture can prove none was answered.
CASES = [
    ("bad IPv4 checksum", "IP(dst=DST, chksum=0xdead)/ICMP(id=0xbad1)/PAYLOAD", "ipv4.drop.bad_checksum"),
    ("bad ICMP checksum", "IP(dst=DST)/ICMP(id=0xbad2, chksum=0xdead)/PAYLOAD", "icmp.drop.bad_checksum"),
    ("truncated IPv4 header", "Raw(raw(IP(dst=DST)/ICMP(id=0xbad3))[:12])", "ipv4.drop.truncated"),
    ("IHL below 5", "Raw(bytes([0x44]) + raw(IP(dst=DST)/ICMP(id=0xbad4))[1:])", "ipv4.drop.bad_ihl"),
    ("IHL past the packet", "Raw(bytes([0x4f]) + raw(IP(dst=DST)/ICMP(id=0xbad5))[1:24])", "ipv4.drop.truncated"),
    ("total length past the frame", "IP(dst=DST, len=1400)/ICMP(id=0xbad6)/PAYLOAD", "ipv4.drop.bad_total_length"),
    ("overlapping fragments",
     "[IP(dst=DST, id=777, flags='MF', frag=0, proto=1)/Raw(raw(ICMP(id=0xbad7))+b'A'*16),"
     " IP(dst=DST, id=777, flags=0, frag=2, proto=1)/Raw(b'B'*24)]",
     "ipv4.drop.fragment_overlap"),
    ("ARP request for another host", "ARP(op=1, hwsrc=SRC, psrc='192.0.2.1', pdst='192.0.2.77')", "arp.drop.not_for_us"),
    ("frame longer than the MTU", "IP(dst=DST)/ICMP(id=0xbad8)/Raw(b'x' * 1600)", "eth.drop.oversized"),
]

SENDER = textwrap.dedent("""
    import sys
    from scapy.all import ARP, ICMP, IP, Ether, Raw, raw, sendp, get_if_hwaddr
    iface, expr = sys.argv[1], sys.argv[2]
    DST, SRC, PAYLOAD = {stack_ip!r}, get_if_hwaddr(iface), Raw(b'netstack' * 4)
    frames = eval(expr)
    frames = frames if isinstance(frames, list) else [frames]
    # Raw bytes carry no ethertype of their own: they stand for a broken IPv4 header.
    def ether(f):
        if isinstance(f, Raw):
            return Ether(dst={stack_mac!r}, src=SRC, type=0x0800)
        return Ether(dst={stack_mac!r}, src=SRC)
    sendp([ether(f) / f for f in frames], iface=iface, verbose=False)
""").format(stack_ip=STACK_IP, stack_mac=STACK_MAC)


def test_malformed_frames_are_dropped_counted_and_the_stack_keeps_answering(tmp_path):
    script = tmp_path / "send_frames.py"
    script.write_text(SENDER)
    with KernelPeer(tmp_path, kernel_mtu=9000) as bench:
        assert ping_ok(bench.ping("-c", "1"), 1), "the stack must answer before the attack"
        for name, expr, _counter in CASES:
            sent = bench.run(sys.executable, str(script), bench.tap, expr)
            assert sent.returncode == 0, f"{name}: scapy failed to send: {sent.stderr}"
        result = bench.ping("-c", "5", "-i", "0.05")
        assert ping_ok(result, 5), "the stack stopped answering:\n" + result.stdout
        counters = bench.stop()

    missing = [f"{name}: {counter} is {counters.get(counter, 0)}" for name, _e, counter in CASES
               if counters.get(counter, 0) < 1]
    assert not missing, "drops not counted:\n" + "\n".join(missing) + f"\ncounters: {counters}"
    answered = frames_from(bench.capture, bench.mac, "icmp.ident >= 0xbad0 and icmp.ident <= 0xbadf")
    assert answered == 0, "the stack answered a malformed echo request"
    assert frames_from(bench.capture, bench.mac, "arp.dst.proto_ipv4 == 192.0.2.77 or arp.src.proto_ipv4 == 192.0.2.77") == 0
    assert_capture_clean(bench.capture, bench.mac, min_frames=6)


@pytest.mark.parametrize("size", [4000, 8900])
def test_jumbo_frame_larger_than_any_buffer_is_dropped(tmp_path, size):
    script = tmp_path / "send_frames.py"
    script.write_text(SENDER)
    with KernelPeer(tmp_path, kernel_mtu=9000) as bench:
        expr = f"IP(dst=DST)/ICMP(id=0xbad9)/Raw(b'x' * {size})"
        assert bench.run(sys.executable, str(script), bench.tap, expr).returncode == 0
        assert ping_ok(bench.ping("-c", "3", "-i", "0.05"), 3)
        counters = bench.stop()
    dropped = sum(v for k, v in counters.items() if "oversized" in k or "too_big" in k)
    assert dropped >= 1, counters
