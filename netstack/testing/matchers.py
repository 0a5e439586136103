"""Matchers: what a test expects the stack to send, described in words for the transcript."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from netstack.testing.frames import decode, describe_frame
from netstack.wire import arp as wire_arp
from netstack.wire import ethernet as wire_eth
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4

# --- matchers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameMatcher:
    """Expects a frame whose decoded fields include `fields` (a value of None is not checked)."""

    description: str
    fields: dict[str, Any]
    predicate: Callable[[dict[str, Any]], bool] | None = None

    def mismatch(self, frame: bytes) -> str | None:
        """None if `frame` matches, else why not, in words."""
        got = decode(frame)
        for name, wanted in self.fields.items():
            if wanted is None:
                continue
            if name not in got:
                return f"expected {self.description}, got {describe_frame(frame)}"
            if got[name] != wanted:
                return (
                    f"expected {self.description}, got {describe_frame(frame)} "
                    f"({name} is {_show(got[name])}, wanted {_show(wanted)})"
                )
        if self.predicate is not None and not self.predicate(got):
            return f"expected {self.description}, got {describe_frame(frame)}"
        return None

    def __str__(self) -> str:
        return self.description


def _show(value: Any) -> str:
    if isinstance(value, bytes) and len(value) == 6:
        return wire_eth.format_mac(value)
    if isinstance(value, bytes) and len(value) > 16:
        return f"{len(value)} bytes {value[:8].hex()}..."
    return repr(value) if not isinstance(value, IPv4Address) else str(value)


def _ip(value: Any) -> IPv4Address | None:
    return None if value is None else IPv4Address(value)


def any_frame() -> FrameMatcher:
    return FrameMatcher("any frame", {})


def arp_request(target_ip: Any = None, sender_ip: Any = None) -> FrameMatcher:
    what = f"ARP request for {target_ip}" if target_ip else "an ARP request"
    return FrameMatcher(
        what,
        {
            "eth.dst": wire_eth.BROADCAST,
            "arp.op": wire_arp.OP_REQUEST,
            "arp.target_ip": _ip(target_ip),
            "arp.sender_ip": _ip(sender_ip),
        },
    )


def gratuitous_arp(ip: Any) -> FrameMatcher:
    return FrameMatcher(
        f"gratuitous ARP for {ip}",
        {
            "eth.dst": wire_eth.BROADCAST,
            "arp.op": wire_arp.OP_REQUEST,
            "arp.sender_ip": IPv4Address(ip),
            "arp.target_ip": IPv4Address(ip),
        },
    )


def arp_reply(
    sender_ip: Any = None,
    sender_mac: bytes | None = None,
    target_ip: Any = None,
    target_mac: bytes | None = None,
) -> FrameMatcher:
    what = f"ARP reply {sender_ip} is-at {_show(sender_mac) if sender_mac else '?'}"
    return FrameMatcher(
        what,
        {
            "arp.op": wire_arp.OP_REPLY,
            "arp.sender_ip": _ip(sender_ip),
            "arp.sender_mac": sender_mac,
            "arp.target_ip": _ip(target_ip),
            "arp.target_mac": target_mac,
            "eth.dst": target_mac,
        },
    )


def ipv4_packet(description: str = "an IPv4 packet", **header_fields: Any) -> FrameMatcher:
    """Any IPv4 frame; keyword arguments name IPv4Header fields (src, dst, protocol, ttl...)
    or `payload` (the IP payload, or the ICMP data for unfragmented ICMP)."""
    fields = {
        ("payload" if k == "payload" else f"ip.{k}"): (_ip(v) if k in ("src", "dst") else v)
        for k, v in header_fields.items()
    }
    return FrameMatcher(description, fields)


def icmp_message(
    description: str,
    icmp_type: int,
    code: int | None = None,
    dst: Any = None,
    identifier: int | None = None,
    sequence: int | None = None,
    payload: bytes | None = None,
    src: Any = None,
) -> FrameMatcher:
    return FrameMatcher(
        description,
        {
            "ip.protocol": wire_ipv4.PROTO_ICMP,
            "icmp.type": icmp_type,
            "icmp.code": code,
            "ip.src": _ip(src),
            "ip.dst": _ip(dst),
            "icmp.identifier": identifier,
            "icmp.sequence": sequence,
            "payload": payload,
        },
    )


def icmp_echo_reply(
    dst: Any = None,
    identifier: int | None = None,
    sequence: int | None = None,
    payload: bytes | None = None,
) -> FrameMatcher:
    what = "ICMP echo reply" + (f" seq={sequence}" if sequence is not None else "")
    return icmp_message(what, wire_icmp.TYPE_ECHO_REPLY, 0, dst, identifier, sequence, payload)


def icmp_echo_request(
    dst: Any = None,
    identifier: int | None = None,
    sequence: int | None = None,
    payload: bytes | None = None,
) -> FrameMatcher:
    what = "ICMP echo request" + (f" seq={sequence}" if sequence is not None else "")
    return icmp_message(what, wire_icmp.TYPE_ECHO_REQUEST, 0, dst, identifier, sequence, payload)


def icmp_unreachable(code: int, dst: Any = None) -> FrameMatcher:
    name = wire_icmp.UNREACHABLE_NAMES.get(code, f"code {code}")
    return icmp_message(f"ICMP {name} unreachable", wire_icmp.TYPE_DEST_UNREACHABLE, code, dst)


def icmp_time_exceeded(code: int, dst: Any = None) -> FrameMatcher:
    name = wire_icmp.TIME_EXCEEDED_NAMES.get(code, f"code {code}")
    return icmp_message(f"ICMP time exceeded ({name})", wire_icmp.TYPE_TIME_EXCEEDED, code, dst)
