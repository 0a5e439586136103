"""Re-check lab 5's evidence offline (no root, no network): read stack.pcap again.

From the capture alone, every datagram checked with its UDP checksum:
- the kernel's datagram to the stack's port 7 came back from port 7 with the same bytes;
- udpkv on port 7007 answered "OK" and then "VALUE <token>";
- the datagram to the closed port drew an ICMP port unreachable from the stack, quoting it;
- the stack sent "GET answer" to the kernel's server and got "VALUE <token>" back.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from labs.kit.real import KERNEL_IP, STACK_IP, load_evidence
from netstack.engine.pcapfile import read_pcap
from netstack.errors import MalformedPacket
from netstack.testing import decode
from netstack.wire import icmp as wire_icmp
from netstack.wire import udp as wire_udp
from netstack.wire.ipv4 import PROTO_ICMP, PROTO_UDP

STACK, KERNEL = IPv4Address(STACK_IP), IPv4Address(KERNEL_IP)


def datagrams(path: str) -> tuple[list[tuple], list[dict], list[str]]:
    """(src, sport, dst, dport, payload) of every well-formed UDP datagram, the ICMP
    messages, and the problems (bad checksums) met."""
    udp, icmp, problems = [], [], []
    for _, frame in read_pcap(path):
        fields = decode(frame)
        ip = fields.get("ip.header")
        if ip is None or ip.is_fragment:
            continue
        if ip.protocol == PROTO_UDP:
            try:
                header, data = wire_udp.parse(fields["payload"], ip.src, ip.dst)
            except MalformedPacket as exc:
                problems.append(f"a UDP datagram {ip.src} > {ip.dst} is malformed ({exc.reason})")
                continue
            udp.append((ip.src, header.src_port, ip.dst, header.dst_port, bytes(data)))
        elif ip.protocol == PROTO_ICMP and "icmp.type" in fields:
            icmp.append(fields)
    return udp, icmp, problems


def verify(folder: str) -> list[str]:
    """Problems found re-reading the evidence folder (sha256 values, then the capture)."""
    record, problems = load_evidence(folder)
    return problems + check_capture(folder, record) if record else problems


def check_capture(folder: str, record: dict) -> list[str]:
    """What stack.pcap shows, against the run's values in `record` (token, echo_text...)."""
    problems: list[str] = []
    token = record.get("token")
    echo_text = record.get("echo_text")
    if not token or not echo_text:
        return problems + ["evidence.json has no token/echo_text"]
    path = os.path.join(folder, "stack.pcap")
    if not os.path.exists(path):
        return problems + ["stack.pcap is missing"]
    udp, icmp, bad = datagrams(path)
    problems += bad

    def seen(src, sport, dst, dport, payload) -> bool:
        return any(d[0] == src and (sport is None or d[1] == sport) and d[2] == dst
                   and (dport is None or d[3] == dport) and d[4] == payload for d in udp)

    echo = echo_text.encode()
    if not seen(KERNEL, None, STACK, 7, echo):
        problems.append("no datagram from the kernel to the stack's port 7 with the echo text")
    if not seen(STACK, 7, KERNEL, None, echo):
        problems.append("the stack never sent the echo text back from port 7")
    if not seen(STACK, 7007, KERNEL, None, b"OK"):
        problems.append("udpkv on port 7007 never answered OK")
    if not seen(STACK, 7007, KERNEL, None, f"VALUE {token}".encode()):
        problems.append("udpkv on port 7007 never answered the GET with the value")
    closed = record.get("closed_port", 9)
    unreachable = [f for f in icmp if f["ip.src"] == STACK
                   and f["icmp.type"] == wire_icmp.TYPE_DEST_UNREACHABLE
                   and f["icmp.code"] == wire_icmp.CODE_PORT_UNREACHABLE
                   and len(f["payload"]) >= 28
                   and int.from_bytes(f["payload"][22:24], "big") == closed]
    if not unreachable:
        problems.append(f"no ICMP port unreachable from the stack quoting port {closed}")
    port = record.get("kernel_kv_port", 7008)
    if not seen(STACK, None, KERNEL, port, b"GET answer"):
        problems.append(f"the stack's client never sent 'GET answer' to {KERNEL_IP}:{port}")
    if not seen(KERNEL, port, STACK, None, f"VALUE {token}".encode()):
        problems.append("the kernel server's answer is not in the capture")
    return problems

