"""Frames for transcript tests: decode them into named fields, describe them in words,
and build the ones a test feeds in (scapy works too; these need nothing beyond netstack)."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address
from typing import Any

from netstack.errors import MalformedPacket
from netstack.wire import arp as wire_arp
from netstack.wire import ethernet as wire_eth
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4

# --- decoding a frame into named fields --------------------------------------------------


class TranscriptMismatch(AssertionError):
    """A step did not go as expected; the message is the whole transcript."""


def decode(frame: bytes) -> dict[str, Any]:
    """The fields of a frame, flat: eth.*, arp.*, ip.*, icmp.*, and `payload` (bytes).

    Layers that do not parse are simply absent; `error` names the reason when one fails.
    """
    fields: dict[str, Any] = {}
    try:
        eth, rest = wire_eth.parse(frame)
        fields.update({"eth.dst": eth.dst, "eth.src": eth.src, "eth.type": eth.ethertype})
        if eth.ethertype == wire_eth.ETHERTYPE_ARP:
            arp = wire_arp.parse(rest)
            fields.update({f"arp.{f.name}": getattr(arp, f.name) for f in dataclasses.fields(arp)})
        elif eth.ethertype == wire_eth.ETHERTYPE_IPV4:
            ip, rest = wire_ipv4.parse(rest)
            fields.update({f"ip.{f.name}": getattr(ip, f.name) for f in dataclasses.fields(ip)})
            fields["ip.header"] = ip
            fields["payload"] = bytes(rest)
            if ip.protocol == wire_ipv4.PROTO_ICMP and not ip.is_fragment:
                icmp, data = wire_icmp.parse(rest)
                fields.update(
                    {
                        "icmp.type": icmp.type,
                        "icmp.code": icmp.code,
                        "icmp.identifier": icmp.identifier,
                        "icmp.sequence": icmp.sequence,
                        "icmp.rest": icmp.rest,
                    }
                )
                fields["payload"] = bytes(data)
    except MalformedPacket as exc:
        fields["error"] = exc.reason
    return fields


def describe_frame(frame: bytes) -> str:
    """A one-line summary, e.g. `IPv4 192.0.2.2 > 192.0.2.1 ICMP echo reply id 1 seq 1, 56B`."""
    f = decode(frame)
    if "eth.type" not in f:
        return f"a malformed frame ({f.get('error')}) of {len(frame)} bytes"
    if "arp.op" in f:
        arp = wire_arp.ArpPacket(
            f["arp.op"],
            f["arp.sender_mac"],
            f["arp.sender_ip"],
            f["arp.target_mac"],
            f["arp.target_ip"],
        )
        return wire_arp.describe(arp)
    if "ip.header" in f:
        ip: wire_ipv4.IPv4Header = f["ip.header"]
        if "icmp.type" in f:
            icmp = wire_icmp.IcmpHeader(f["icmp.type"], f["icmp.code"], f["icmp.rest"])
            text = f"IPv4 {ip.src} > {ip.dst} {wire_icmp.describe(icmp)}"
        else:
            text = wire_ipv4.describe(ip)
        return f"{text}, {len(f['payload'])}B" + (f" ({f['error']})" if "error" in f else "")
    name = wire_eth.ETHERTYPE_NAMES.get(f["eth.type"], "ethertype")
    return f"{name} ({f['eth.type']:#06x}) frame from {wire_eth.format_mac(f['eth.src'])}"


def join_fragments(frames: list[bytes]) -> bytes:
    """Rebuild one unfragmented frame from IPv4 fragment frames (an independent oracle: it
    trusts nothing the stage's reassembler does)."""
    pieces = sorted((decode(f) for f in frames), key=lambda f: f["ip.fragment_offset"])
    payload = b""
    for piece in pieces:
        if piece["ip.fragment_offset"] != len(payload):
            raise TranscriptMismatch(f"fragments leave a hole at offset {len(payload)}")
        payload += piece["payload"]
    first: wire_ipv4.IPv4Header = pieces[0]["ip.header"]
    header = dataclasses.replace(first, more_fragments=False, fragment_offset=0)
    eth = wire_eth.EthernetHeader(pieces[0]["eth.dst"], pieces[0]["eth.src"], pieces[0]["eth.type"])
    return wire_eth.build(eth, wire_ipv4.build(header, payload))


# --- building frames to feed (scapy works too; these need nothing beyond netstack) -------


def ethernet_frame(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return wire_eth.build(wire_eth.EthernetHeader(dst, src, ethertype), payload)


def arp_frame(
    op: int,
    sender_mac: bytes,
    sender_ip: Any,
    target_ip: Any,
    target_mac: bytes = bytes(6),
    dst: bytes | None = None,
) -> bytes:
    """An ARP packet in a frame: broadcast for requests unless `dst` says otherwise."""
    if dst is None:
        dst = wire_eth.BROADCAST if op == wire_arp.OP_REQUEST else target_mac
    pkt = wire_arp.ArpPacket(
        op, sender_mac, IPv4Address(sender_ip), target_mac, IPv4Address(target_ip)
    )
    return ethernet_frame(dst, sender_mac, wire_eth.ETHERTYPE_ARP, wire_arp.build(pkt))


def ipv4_frame(
    dst_mac: bytes, src_mac: bytes, header: wire_ipv4.IPv4Header, payload: bytes
) -> bytes:
    return ethernet_frame(
        dst_mac, src_mac, wire_eth.ETHERTYPE_IPV4, wire_ipv4.build(header, payload)
    )


def icmp_echo_frame(
    dst_mac: bytes,
    src_mac: bytes,
    src: Any,
    dst: Any,
    identifier: int,
    sequence: int,
    payload: bytes = b"",
    reply: bool = False,
) -> bytes:
    make = wire_icmp.IcmpHeader.echo_reply if reply else wire_icmp.IcmpHeader.echo_request
    message = wire_icmp.build(make(identifier, sequence), payload)
    header = wire_ipv4.IPv4Header(IPv4Address(src), IPv4Address(dst), wire_ipv4.PROTO_ICMP)
    return ipv4_frame(dst_mac, src_mac, header, message)
