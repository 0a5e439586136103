"""Broken UDP from the wire is dropped and counted, and the echo service keeps working.

scapy, in the kernel's namespace, writes the datagrams straight into the TAP, so they reach
the stack exactly as a broken host would send them. Every broken one is addressed to the
echo port: if the stack accepted one, the capture would show its echo.
"""

from __future__ import annotations

import sys
import textwrap

from tests.capture_check import assert_capture_clean, frames_from
from tests.interop.kernel_peer import STACK_IP, STACK_MAC, KernelPeer, requires_root

pytestmark = requires_root

BROKEN_SPORT = 40000  # every broken datagram comes from this port...
PLAIN_SPORT = 40001   # ...and the well-formed oddities from this one

# (name, scapy expression for what follows Ether(), counter that must rise)
BROKEN = [
    ("length field larger than the datagram",
     "IP(dst=DST)/UDP(sport=40000, dport=7, len=200)/Raw(b'too-long-claim')", "udp.drop.bad_length"),
    ("length field smaller than the header",
     "IP(dst=DST)/UDP(sport=40000, dport=7, len=4)/Raw(b'too-short-claim')", "udp.drop.bad_length"),
    ("bad checksum", "corrupt_last_byte(IP(dst=DST)/UDP(sport=40000, dport=7)/Raw(b'bad-checksum'))",
     "udp.drop.bad_checksum"),
    ("truncated header", "IP(dst=DST, proto=17)/Raw(b'\\x9c\\x40\\x00')", "udp.drop.truncated"),
]
# Well formed, if unusual: checksum 0 means "none" (RFC 768), so this one is echoed.
NO_CHECKSUM = "IP(dst=DST)/UDP(sport=40001, dport=7, chksum=0)/Raw(b'no-checksum')"

SENDER = textwrap.dedent("""
    import sys
    from scapy.all import IP, UDP, Ether, Raw, raw, sendp, get_if_hwaddr
    iface, exprs = sys.argv[1], sys.argv[2:]
    DST, SRC = {stack_ip!r}, get_if_hwaddr(iface)
    def corrupt_last_byte(packet):
        data = bytearray(raw(packet))
        data[-1] ^= 0xFF  # the UDP checksum covers it, the IP header checksum does not
        return Raw(bytes(data))
    # Raw bytes carry no ethertype of their own: they stand for an IPv4 packet.
    frames = [Ether(dst={stack_mac!r}, src=SRC, type=0x0800) / eval(expr) for expr in exprs]
    sendp(frames, iface=iface, verbose=False)
    print("sent", len(frames))
""").format(stack_ip=STACK_IP, stack_mac=STACK_MAC)

ECHO_CHECK = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.connect((sys.argv[1], 7))
    for n in range(3):
        s.send(b"still there? %d" % n)
        assert s.recv(100) == b"still there? %d" % n
print("echoed")
"""


def test_malformed_udp_is_dropped_counted_and_echo_keeps_working(tmp_path):
    script = tmp_path / "send_udp.py"
    script.write_text(SENDER)
    with KernelPeer(tmp_path, "--service", "udp-echo:7") as bench:
        assert bench.run(sys.executable, "-c", ECHO_CHECK, STACK_IP).stdout.strip() == "echoed"
        exprs = [expr for _name, expr, _counter in BROKEN] + [NO_CHECKSUM]
        sent = bench.run(sys.executable, str(script), bench.tap, *exprs)
        assert sent.stdout.strip() == f"sent {len(exprs)}", f"scapy failed to send: {sent.stderr}"
        after = bench.run(sys.executable, "-c", ECHO_CHECK, STACK_IP)
        assert after.stdout.strip() == "echoed", "the echo service stopped answering:\n" + after.stderr
        counters = bench.stop()

    missing = [f"{name}: {counter} is {counters.get(counter, 0)}" for name, _e, counter in BROKEN
               if counters.get(counter, 0) < 1]
    assert not missing, "drops not counted:\n" + "\n".join(missing) + f"\ncounters: {counters}"
    assert counters.get("udp.drop.bad_length", 0) == 2
    assert frames_from(bench.capture, bench.mac, f"udp.srcport == 7 and udp.dstport == {BROKEN_SPORT}") == 0, \
        "the stack echoed a broken datagram"
    assert frames_from(bench.capture, bench.mac, f"udp.dstport == {PLAIN_SPORT} and udp.length == 19") == 1, \
        "the datagram without a checksum was not echoed"
    assert_capture_clean(bench.capture, bench.mac, min_frames=7)
