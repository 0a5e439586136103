"""Transcript tests for sans-I/O stages, in the manner of CS144's step harness.

A test is a list of steps: feed this frame, expect that frame out, advance the clock, expect
nothing, check a counter. The harness runs them in order against a `Stack` with a virtual
clock. When a step fails it prints every step so far, then the first mismatch in words:

    transcript (stack 192.0.2.2/24):
      1. t=0.000  receive   ARP request who-has 192.0.2.2 tell 192.0.2.1 (02:00:00:00:00:01)
      2. t=0.000  sent      ARP reply 192.0.2.2 is-at 02:00:00:00:00:02 (to 192.0.2.1)
    step 3 failed at t=0.000:
      expected ICMP echo reply seq=1, got ARP request who-has 192.0.2.9 tell 192.0.2.2

Steps can be given as a list to `Harness.run([...])`, or called one by one as methods
(`h.receive(frame)`, `h.expect(icmp_echo_reply(sequence=1))`): both log the same transcript.
Labs reuse this file to grade a student's stage with the same tests as ours.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from netstack.errors import MalformedPacket
from netstack.stack import Stack
from netstack.wire import arp as wire_arp
from netstack.wire import ethernet as wire_eth
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4


class TranscriptMismatch(AssertionError):
    """A step did not go as expected; the message is the whole transcript."""


# --- decoding a frame into named fields --------------------------------------------------


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


# --- steps -------------------------------------------------------------------------------


class Step:
    """One line of a transcript. `apply` returns the log line or raises TranscriptMismatch."""

    def apply(self, harness: Harness) -> str:
        raise NotImplementedError


@dataclass
class Receive(Step):
    frame: bytes
    note: str = ""

    def apply(self, h: Harness) -> str:
        h.stack.receive(self.frame, h.now)
        return f"receive   {self.note or describe_frame(self.frame)}"


@dataclass
class Advance(Step):
    seconds: float

    def apply(self, h: Harness) -> str:
        h.now += self.seconds
        h.stack.advance(h.now)
        return f"advance   {self.seconds:g} s"


@dataclass
class Start(Step):
    def apply(self, h: Harness) -> str:
        h.stack.start(h.now)
        return "start"


@dataclass
class Call(Step):
    """Run `action(stack, now)`: e.g. an application sending a ping."""

    description: str
    action: Callable[[Stack, float], Any]

    def apply(self, h: Harness) -> str:
        self.action(h.stack, h.now)
        return f"call      {self.description}"


@dataclass
class Expect(Step):
    """The next frame the stack sent must match."""

    matcher: FrameMatcher

    def apply(self, h: Harness) -> str:
        frame = h.pop_outgoing()
        if frame is None:
            raise TranscriptMismatch(f"expected {self.matcher}, got nothing")
        problem = self.matcher.mismatch(frame)
        if problem:
            raise TranscriptMismatch(problem)
        h.last_frame = frame
        return f"sent      {describe_frame(frame)}"


@dataclass
class ExpectReassembled(Step):
    """The next frames, fragments of one datagram, must reassemble into a matching one."""

    matcher: FrameMatcher

    def apply(self, h: Harness) -> str:
        frames = []
        while True:
            frame = h.pop_outgoing()
            if frame is None:
                raise TranscriptMismatch(
                    f"expected {self.matcher} (fragmented), got {len(frames)} fragment(s) and "
                    "then nothing"
                )
            frames.append(frame)
            fields = decode(frame)
            if "ip.header" not in fields:
                raise TranscriptMismatch(f"expected a fragment, got {describe_frame(frame)}")
            if not fields["ip.more_fragments"]:
                break
        whole = join_fragments(frames)
        problem = self.matcher.mismatch(whole)
        if problem:
            raise TranscriptMismatch(problem)
        h.last_frame = whole
        return f"sent      {describe_frame(whole)} in {len(frames)} fragment(s)"


@dataclass
class ExpectNothing(Step):
    def apply(self, h: Harness) -> str:
        frame = h.pop_outgoing()
        if frame is not None:
            raise TranscriptMismatch(f"expected nothing, got {describe_frame(frame)}")
        return "sent      nothing"


@dataclass
class ExpectKni(Step):
    """The next frame handed to the kernel; `frame` None means any."""

    frame: bytes | None = None

    def apply(self, h: Harness) -> str:
        if not h.stack.to_kni:
            raise TranscriptMismatch("expected a frame for the kernel (KNI), got nothing")
        got = h.stack.to_kni.popleft()
        if self.frame is not None and got != bytes(self.frame):
            raise TranscriptMismatch(f"expected the same frame at KNI, got {describe_frame(got)}")
        return f"to kni    {describe_frame(got)}"


@dataclass
class ExpectNoKni(Step):
    def apply(self, h: Harness) -> str:
        if h.stack.to_kni:
            got = h.stack.to_kni.popleft()
            raise TranscriptMismatch(f"expected nothing for KNI, got {describe_frame(got)}")
        return "to kni    nothing"


@dataclass
class ExpectCounter(Step):
    name: str
    value: int

    def apply(self, h: Harness) -> str:
        got = h.stack.counters[self.name]
        if got != self.value:
            others = h.stack.counters.matching(self.name.split(".")[0] + ".")
            raise TranscriptMismatch(
                f"expected counter {self.name} == {self.value}, got {got} (counters now: {others})"
            )
        return f"counter   {self.name} == {self.value}"


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


# --- the harness -------------------------------------------------------------------------


class Harness:
    """Drives one Stack through steps with a virtual clock, keeping the transcript."""

    def __init__(self, stack: Stack, now: float = 0.0) -> None:
        self.stack = stack
        self.now = now
        self.lines: list[str] = []
        self.last_frame: bytes | None = None  # the frame the last Expect matched

    def pop_outgoing(self) -> bytes | None:
        """The next frame the stack sent, as bytes; its mbuf goes back to the pool."""
        if not self.stack.outgoing:
            return None
        mbuf = self.stack.outgoing.popleft()
        frame = mbuf.tobytes()
        if mbuf.index >= 0:
            self.stack.pool.free(mbuf)
        return frame

    def drain(self) -> list[bytes]:
        frames = []
        while (frame := self.pop_outgoing()) is not None:
            frames.append(frame)
        return frames

    def step(self, step: Step) -> None:
        number = len(self.lines) + 1
        at = self.now
        try:
            line = step.apply(self)
        except TranscriptMismatch as exc:
            raise TranscriptMismatch(
                self.transcript() + f"\nstep {number} failed at t={at:.3f}:\n  {exc}"
            ) from None
        self.lines.append(f"{number:3d}. t={at:.3f}  {line}")

    def run(self, steps: list[Step]) -> None:
        for step in steps:
            self.step(step)

    def transcript(self) -> str:
        head = f"transcript (stack {self.stack.config.address}):"
        return "\n".join([head, *self.lines]) if self.lines else head + "\n  (no steps)"

    # One method per step type, for tests that read better imperatively.
    def receive(self, frame: bytes, note: str = "") -> None:
        self.step(Receive(bytes(frame), note))

    def advance(self, seconds: float) -> None:
        self.step(Advance(seconds))

    def start(self) -> None:
        self.step(Start())

    def call(self, description: str, action: Callable[[Stack, float], Any]) -> None:
        self.step(Call(description, action))

    def expect(self, matcher: FrameMatcher) -> bytes:
        self.step(Expect(matcher))
        assert self.last_frame is not None
        return self.last_frame

    def expect_reassembled(self, matcher: FrameMatcher) -> bytes:
        self.step(ExpectReassembled(matcher))
        assert self.last_frame is not None
        return self.last_frame

    def expect_nothing(self) -> None:
        self.step(ExpectNothing())

    def expect_kni(self, frame: bytes | None = None) -> None:
        self.step(ExpectKni(frame))

    def expect_no_kni(self) -> None:
        self.step(ExpectNoKni())

    def expect_counter(self, name: str, value: int) -> None:
        self.step(ExpectCounter(name, value))
