"""Re-check lab 3's evidence offline (no root, no network): re-read stack.pcap.

What check.py claims, confirmed from the capture alone:
- the kernel (192.0.2.1) sent 200 echo requests to the stack (192.0.2.2), and for each the
  stack sent an echo reply with the same identifier, sequence and data, from 192.0.2.2;
- the kernel sent a UDP datagram to port 9 and the stack answered it with an ICMP
  destination unreachable, code 3 (port), quoting that datagram's IP header and the first
  8 bytes of its payload, byte for byte.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)

from netstack.engine.pcapfile import read_pcap  # noqa: E402
from netstack.errors import ConfigError  # noqa: E402
from netstack.testing import decode  # noqa: E402
from netstack.wire import icmp as wire_icmp  # noqa: E402
from netstack.wire import ipv4 as wire_ipv4  # noqa: E402

KERNEL, STACK = "192.0.2.1", "192.0.2.2"
PINGS = 200
CLOSED_PORT = 9
ETHERNET_HEADER = 14
QUOTED_PAYLOAD = 8


def verify(folder: str) -> list[str]:
    try:
        frames = [frame for _, frame in read_pcap(os.path.join(folder, "stack.pcap"))]
    except ConfigError as exc:
        return [f"stack.pcap: {exc}"]
    requests: dict[tuple[int, int], bytes] = {}
    replies: dict[tuple[int, int], bytes] = {}
    udp_quotes: list[bytes] = []
    errors: list[bytes] = []
    for frame in frames:
        f = decode(frame)
        if "ip.header" not in f:
            continue
        src, dst = str(f["ip.src"]), str(f["ip.dst"])
        if f["ip.protocol"] == wire_ipv4.PROTO_UDP and src == KERNEL and dst == STACK:
            payload = f["payload"]
            if len(payload) >= 4 and int.from_bytes(payload[2:4], "big") == CLOSED_PORT:
                udp_quotes.append(frame[ETHERNET_HEADER:][: f["ip.header"].header_len
                                                          + QUOTED_PAYLOAD])
        if "icmp.type" not in f:
            continue
        key = (f["icmp.identifier"], f["icmp.sequence"])
        if f["icmp.type"] == wire_icmp.TYPE_ECHO_REQUEST and src == KERNEL and dst == STACK:
            requests[key] = f["payload"]
        elif f["icmp.type"] == wire_icmp.TYPE_ECHO_REPLY and src == STACK and dst == KERNEL:
            replies[key] = f["payload"]
        elif (f["icmp.type"] == wire_icmp.TYPE_DEST_UNREACHABLE and src == STACK
              and dst == KERNEL and f["icmp.code"] == wire_icmp.CODE_PORT_UNREACHABLE):
            errors.append(f["payload"])
    problems = []
    answered = [k for k, data in requests.items() if replies.get(k) == data]
    if len(requests) < PINGS:
        problems.append(f"stack.pcap: {len(requests)} echo requests from the kernel, "
                        f"expected {PINGS}")
    if len(answered) < PINGS:
        problems.append(f"stack.pcap: {len(answered)} echo requests answered with the same "
                        f"identifier, sequence and data, expected {PINGS}")
    if not udp_quotes:
        problems.append(f"stack.pcap: no UDP datagram from the kernel to port {CLOSED_PORT}")
    elif not any(quote in errors for quote in udp_quotes):
        problems.append("stack.pcap: no port unreachable from the stack quoting the UDP "
                        "datagram's IP header and first 8 bytes")
    return problems


if __name__ == "__main__":
    found = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(found) or "evidence verified")
    sys.exit(1 if found else 0)
