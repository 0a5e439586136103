"""What one ICMP echo costs inside the stack, with no I/O at all.

    .venv/bin/python benchmarks/echo_cost.py [N]

Builds one echo request frame with `netstack.wire`, hands it to `Stack.receive` N times
(default 10,000) and frees each reply, and prints the best of 9 rounds in microseconds per
echo. The engine, the port and the kernel are left out, so this is the stages' share of the
round trip: compare it before and after a change to `stages/` or `wire/`.
"""

import sys
import time
from ipaddress import IPv4Address, IPv4Interface

from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.wire import ethernet, icmp, ipv4
from netstack.wire.ethernet import EthernetHeader
from netstack.wire.ipv4 import IPv4Header

KERNEL_MAC = bytes.fromhex("020000000001")
KERNEL_IP = IPv4Address("192.0.2.1")
ROUNDS = 9


def echo_cost(n: int) -> float:
    """Best seconds per echo over ROUNDS rounds of `n` echoes."""
    pool = MbufPool(4096)
    config = StackConfig(
        mac=bytes.fromhex("020000000002"),
        address=IPv4Interface("192.0.2.2/24"),
        static_arp={KERNEL_IP: KERNEL_MAC},  # no ARP exchange in the measurement
    )
    stack = Stack(config, pool)
    stack.start(0.0)
    stack.outgoing.clear()
    request = icmp.build(icmp.IcmpHeader.echo_request(1, 1), bytes(56))
    packet = ipv4.build(IPv4Header(KERNEL_IP, config.address.ip, ipv4.PROTO_ICMP), request)
    frame = bytearray(
        ethernet.build(EthernetHeader(config.mac, KERNEL_MAC, ethernet.ETHERTYPE_IPV4), packet)
    )
    outgoing = stack.outgoing
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            stack.receive(frame, 1.0)
            pool.free(outgoing.popleft())
        best = min(best, time.perf_counter() - start)
    return best / n


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seconds = echo_cost(count)
    print(f"ICMP echo through Stack.receive: {seconds * 1e6:.2f} us ({1 / seconds:,.0f}/s)")
