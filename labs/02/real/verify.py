"""Re-check lab 2's evidence offline (no root, no network): re-read stack.pcap.

check.py claims the kernel's ping and arping were answered. Here, from the capture alone:
- the stack sent at least 4 ARP replies (1+ for the ping's resolution, 3 for arping), each
  "192.0.2.2 is-at <the stack's MAC>", from that MAC, unicast to the requester's MAC, and
  each answering an earlier request for 192.0.2.2;
- every echo request from the kernel got an echo reply with the same id and sequence, sent
  to the MAC the kernel's ARP traffic announced for 192.0.2.1.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)

from ipaddress import IPv4Address  # noqa: E402

from netstack.engine.pcapfile import read_pcap  # noqa: E402
from netstack.errors import ConfigError  # noqa: E402
from netstack.testing import decode  # noqa: E402
from netstack.wire import arp as wire_arp  # noqa: E402
from netstack.wire import icmp as wire_icmp  # noqa: E402

KERNEL, STACK = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
STACK_MAC = bytes.fromhex("0200c0000202")


def verify(folder: str) -> list[str]:
    problems: list[str] = []
    try:
        frames = [decode(frame) for _, frame in read_pcap(os.path.join(folder, "stack.pcap"))]
    except (ConfigError, OSError) as exc:
        return [f"stack.pcap: cannot read it ({exc})"]
    asked: set[bytes] = set()  # MACs that asked for the stack's address
    kernel_mac = None
    replies = 0
    requests: set[tuple[int, int]] = set()
    answered: set[tuple[int, int]] = set()
    for f in frames:
        if "error" in f:
            problems.append(f"stack.pcap: a malformed frame ({f['error']})")
            continue
        if "arp.op" in f:
            if f["arp.sender_ip"] == KERNEL:
                kernel_mac = f["arp.sender_mac"]
            if f["arp.op"] == wire_arp.OP_REQUEST and f["arp.target_ip"] == STACK \
                    and f["arp.sender_ip"] != STACK:
                asked.add(f["arp.sender_mac"])
            elif f["arp.op"] == wire_arp.OP_REPLY and f["arp.sender_ip"] == STACK:
                if f["arp.sender_mac"] != STACK_MAC or f["eth.src"] != STACK_MAC:
                    problems.append("an ARP reply for 192.0.2.2 does not carry the stack's MAC")
                elif f["eth.dst"] != f["arp.target_mac"] or f["eth.dst"] not in asked:
                    problems.append("an ARP reply went to a MAC that had not asked")
                else:
                    replies += 1
        elif f.get("icmp.type") == wire_icmp.TYPE_ECHO_REQUEST and f["ip.dst"] == STACK:
            requests.add((f["icmp.identifier"], f["icmp.sequence"]))
        elif f.get("icmp.type") == wire_icmp.TYPE_ECHO_REPLY and f["ip.src"] == STACK:
            if kernel_mac is not None and f["eth.dst"] != kernel_mac:
                problems.append("an echo reply went to a MAC other than the kernel's")
            answered.add((f["icmp.identifier"], f["icmp.sequence"]))
    if replies < 4:
        problems.append(f"stack.pcap: {replies} well-formed ARP replies from the stack, "
                        "expected at least 4 (the ping's resolution and arping's 3)")
    if len(requests) < 3:
        problems.append(f"stack.pcap: {len(requests)} echo requests from the kernel, expected 3")
    missing = requests - answered
    if missing:
        problems.append(f"stack.pcap: echo requests {sorted(missing)} have no reply")
    return problems


if __name__ == "__main__":
    found = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(found) or "evidence verified")
    sys.exit(1 if found else 0)
