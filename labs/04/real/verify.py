"""Re-check lab 4's evidence offline (no root, no network): re-read the captures.

What check.py claims, and how it is confirmed here from the pcaps alone:
- stack.pcap: the kernel's 4000-byte echo requests arrived in fragments, and for each the
  stack sent an echo reply in fragments that fit 1500 bytes, with offsets in 8-byte units,
  MF on all but the last, and, put back together here (our own reassembly, trusting
  nothing the stack did), the same identifier, sequence and 4000 data bytes as the request;
- pinger.pcap: the stack's own 4000-byte echo requests left in valid fragments, and the
  kernel's fragmented replies carry the same data back;
- frag-needed.pcap: the router (198.51.100.1) answered a 1628-byte DF echo request to the
  stack with ICMP type 3 code 4 and next-hop MTU 1500; and stack.pcap shows that no
  datagram over 1500 bytes ever reached the stack, while the far host's 1600-byte pings
  did, in fragments, and were answered.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)

from netstack.engine.pcapfile import read_pcap  # noqa: E402
from netstack.errors import ConfigError, MalformedPacket  # noqa: E402
from netstack.wire import ethernet as wire_eth  # noqa: E402
from netstack.wire import icmp as wire_icmp  # noqa: E402
from netstack.wire import ipv4 as wire_ipv4  # noqa: E402

KERNEL, STACK = "192.0.2.1", "192.0.2.2"
PINGER_KERNEL, PINGER_STACK = "203.0.113.1", "203.0.113.2"
ROUTER, FAR = "198.51.100.1", "198.51.100.2"
SIZE = 4000
DF_SIZE = 1600
MTU = 1500


def datagrams(path: str, problems: list[str]) -> list[tuple[wire_ipv4.IPv4Header, bytes]]:
    """Every IPv4 datagram (header, payload) in a capture, in order."""
    out = []
    try:
        for _, frame in read_pcap(path):
            try:
                eth, rest = wire_eth.parse(frame)
                if eth.ethertype != wire_eth.ETHERTYPE_IPV4:
                    continue
                header, payload = wire_ipv4.parse(rest)
            except MalformedPacket as exc:
                problems.append(f"{os.path.basename(path)}: a malformed frame ({exc.reason})")
                continue
            out.append((header, bytes(payload)))
    except ConfigError as exc:
        problems.append(str(exc))
    return out


def reassemble(pieces, where: str, problems: list[str]):
    """Whole datagrams from fragments, checking RFC 791's rules as we go:
    {(src, dst, protocol, id): (first header, payload, fragment count)}."""
    groups = defaultdict(list)
    for header, payload in pieces:
        key = (str(header.src), str(header.dst), header.protocol, header.identification)
        groups[key].append((header, payload))
    whole = {}
    for key, frags in groups.items():
        frags.sort(key=lambda f: f[0].fragment_offset)
        expected, data = 0, b""
        for number, (header, payload) in enumerate(frags, 1):
            last = number == len(frags)
            if header.fragment_offset != expected:
                problems.append(f"{where}: datagram {key} has a hole or overlap at {expected}")
                break
            if header.header_len + len(payload) > MTU:
                problems.append(f"{where}: a fragment of {key} is over {MTU} bytes")
            if not last and (not header.more_fragments or len(payload) % 8):
                problems.append(f"{where}: fragment {number} of {key} lacks MF or carries "
                                f"{len(payload)} bytes, not a multiple of 8")
            if last and header.more_fragments:
                problems.append(f"{where}: the last fragment of {key} has MF set")
            data += payload
            expected += len(payload)
        else:
            whole[key] = (frags[0][0], data, len(frags))
    return whole


def echoes(whole, src: str, dst: str, icmp_type: int):
    """{(identifier, sequence): (data, fragment count)} of the echo messages src -> dst."""
    found = {}
    for (s, d, protocol, _), (_, payload, count) in whole.items():
        if (s, d, protocol) != (src, dst, wire_ipv4.PROTO_ICMP):
            continue
        try:
            header, data = wire_icmp.parse(payload)
        except MalformedPacket:
            continue
        if header.type == icmp_type:
            found[(header.identifier, header.sequence)] = (bytes(data), count)
    return found


def check_ping(path: str, client: str, server: str, size: int, what: str,
               problems: list[str]) -> None:
    """Three echo requests client -> server of `size` bytes, fragmented, each answered by
    a fragmented reply with the same identifier, sequence and data."""
    whole = reassemble(datagrams(path, problems), os.path.basename(path), problems)
    requests = echoes(whole, client, server, wire_icmp.TYPE_ECHO_REQUEST)
    replies = echoes(whole, server, client, wire_icmp.TYPE_ECHO_REPLY)
    big = {k: v for k, v in requests.items() if len(v[0]) == size and v[1] > 1}
    if len(big) < 3:
        problems.append(f"{what}: expected 3 fragmented {size}-byte echo requests "
                        f"{client} -> {server}, found {len(big)}")
    for key, (data, _) in big.items():
        reply = replies.get(key)
        if reply is None:
            problems.append(f"{what}: echo request {key} has no reply")
        elif reply[0] != data:
            problems.append(f"{what}: the reply to {key} carries other data")
        elif reply[1] < 2:
            problems.append(f"{what}: the reply to {key} was not fragmented")


def check_frag_needed(folder: str, problems: list[str]) -> None:
    found = False
    for header, payload in datagrams(os.path.join(folder, "frag-needed.pcap"), problems):
        if str(header.src) != ROUTER or header.protocol != wire_ipv4.PROTO_ICMP:
            continue
        try:
            icmp, quote = wire_icmp.parse(payload)
        except MalformedPacket:
            continue
        if (icmp.type, icmp.code) != (wire_icmp.TYPE_DEST_UNREACHABLE,
                                      wire_icmp.CODE_FRAGMENTATION_NEEDED):
            continue
        total = int.from_bytes(quote[2:4], "big")
        df = bool(quote[6] & 0x40)
        quoted_dst = ".".join(str(b) for b in quote[16:20])
        if icmp.next_hop_mtu == MTU and total == DF_SIZE + 28 and df and quoted_dst == STACK:
            found = True
    if not found:
        problems.append("frag-needed.pcap: no ICMP fragmentation needed (mtu 1500) from the "
                        f"router about a {DF_SIZE + 28}-byte DF datagram to {STACK}")
    stack = datagrams(os.path.join(folder, "stack.pcap"), problems)
    too_big = [h for h, p in stack if h.header_len + len(p) > MTU]
    if too_big:
        problems.append(f"stack.pcap: {len(too_big)} datagram(s) over {MTU} bytes on the TAP")
    whole = reassemble(stack, "stack.pcap", problems)
    routed = echoes(whole, FAR, STACK, wire_icmp.TYPE_ECHO_REQUEST)
    replies = echoes(whole, STACK, FAR, wire_icmp.TYPE_ECHO_REPLY)
    answered = [k for k, (data, count) in routed.items()
                if len(data) == DF_SIZE and count > 1 and replies.get(k, (None,))[0] == data]
    if len(answered) < 3:
        problems.append(f"stack.pcap: expected 3 fragmented {DF_SIZE}-byte pings from {FAR} "
                        f"answered by the stack, found {len(answered)}")


def verify(folder: str) -> list[str]:
    problems: list[str] = []
    check_ping(os.path.join(folder, "stack.pcap"), KERNEL, STACK, SIZE,
               "kernel -> stack ping -s 4000", problems)
    check_ping(os.path.join(folder, "pinger.pcap"), PINGER_STACK, PINGER_KERNEL, SIZE,
               "stack -> kernel ping of 4000 bytes", problems)
    check_frag_needed(folder, problems)
    return problems


if __name__ == "__main__":
    found = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(found) or "evidence verified")
    sys.exit(1 if found else 0)
