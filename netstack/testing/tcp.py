"""TCP for transcript tests: segments to feed in, matchers for segments sent, and `TcpPeer`,
a test playing the other end of one connection.

    peer = TcpPeer(harness, stack_port=80)
    peer.send(SYN, seq=1000, options=(MssOption(1460),))
    syn_ack = peer.expect(SYN | ACK, ack=1001)
    peer.send(ACK, seq=1001, ack=syn_ack.seq + 1)
    peer.send_burst([peer.frame(ACK, seq=1001, ack=8, data=b"a"),   # one engine pass:
                     peer.frame(ACK, seq=1002, ack=8, data=b"b")])  # GRO may merge them

On a mismatch the transcript shows every segment so far in tcpdump's words:

     1. t=0.000  peer sent  TCP 40000 > 80 [S] seq 1000 ack 0 win 65535 options [mss 1460]
     2. t=0.000  stack sent TCP 80 > 40000 [S.] seq 7 ack 1001 win 65535 ...
    step 3 failed at t=0.000:
      expected [.] ack 1001, got [.] ack 1 (ack is 1, wanted 1001)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from netstack.errors import MalformedPacket
from netstack.stack import Stack
from netstack.testing.frames import describe_frame, ipv4_frame
from netstack.testing.harness import Burst, Expect, Harness, Step
from netstack.testing.matchers import FrameMatcher
from netstack.wire import ethernet as wire_eth
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire import tcp as wire_tcp
from netstack.wire.tcp import FLAG_PSH, TcpHeader, TcpOption, flags_text

DEFAULT_WINDOW = 65535


@dataclass(frozen=True)
class TcpSegment:
    """A TCP segment decoded from a frame (fields of TcpHeader plus addresses and data)."""

    src: IPv4Address
    dst: IPv4Address
    header: TcpHeader
    payload: bytes

    def __getattr__(self, name: str) -> Any:  # seq, ack, flags, window, options...
        return getattr(self.header, name)


def decode_tcp(frame: bytes) -> TcpSegment | None:
    """The TCP segment in an Ethernet frame, or None if there is none (or it is malformed)."""
    try:
        eth, rest = wire_eth.parse(frame)
        if eth.ethertype != wire_eth.ETHERTYPE_IPV4:
            return None
        ip, rest = wire_ipv4.parse(rest)
        if ip.protocol != wire_ipv4.PROTO_TCP or ip.is_fragment:
            return None
        header, data = wire_tcp.parse(rest, ip.src, ip.dst)
    except MalformedPacket:
        return None
    return TcpSegment(ip.src, ip.dst, header, bytes(data))


def describe_segment(segment: TcpSegment) -> str:
    text = wire_tcp.describe(segment.header)
    return text + (f" len {len(segment.payload)}" if segment.payload else "")


def describe_tcp_frame(frame: bytes) -> str:
    segment = decode_tcp(frame)
    return describe_segment(segment) if segment is not None else describe_frame(frame)


def tcp_frame(
    src: Any,
    dst: Any,
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int = 0,
    flags: int = 0,
    window: int = DEFAULT_WINDOW,
    payload: bytes = b"",
    options: tuple[TcpOption, ...] = (),
    src_mac: bytes = bytes.fromhex("020000000001"),
    dst_mac: bytes = bytes.fromhex("020000000002"),
    bad_checksum: bool = False,
) -> bytes:
    """An Ethernet frame carrying one TCP segment (sequence numbers taken modulo 2^32)."""
    src, dst = IPv4Address(src), IPv4Address(dst)
    header = TcpHeader(src_port, dst_port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, window,
                       options=options)
    segment = bytearray(wire_tcp.build(header, payload, src, dst))
    if bad_checksum:
        segment[wire_tcp.CHECKSUM_OFFSET] ^= 0xFF
    ip = wire_ipv4.IPv4Header(src, dst, wire_ipv4.PROTO_TCP)
    return ipv4_frame(dst_mac, src_mac, ip, bytes(segment))


@dataclass(frozen=True)
class TcpSegmentMatcher(FrameMatcher):
    """Expects a TCP segment whose fields equal `want` (flags compared without PSH, unless
    `want` has PSH; `payload` compares the data; `options` the option tuple)."""

    want: dict[str, Any] = field(default_factory=dict)

    def mismatch(self, frame: bytes) -> str | None:
        segment = decode_tcp(frame)
        if segment is None:
            return f"expected {self.description}, got {describe_frame(frame)}"
        got_text = describe_segment(segment)
        for name, wanted in self.want.items():
            if name == "payload":
                got: Any = segment.payload
            elif name == "flags":
                got = segment.flags
                if not wanted & FLAG_PSH:
                    got &= ~FLAG_PSH
                if got != wanted:
                    return (f"expected {self.description}, got {got_text} "
                            f"(flags are [{flags_text(got)}], wanted [{flags_text(wanted)}])")
                continue
            elif name in ("src", "dst"):
                got, wanted = getattr(segment, name), IPv4Address(wanted)
            else:
                got = getattr(segment.header, name)
            if got != wanted:
                shown = f"{len(got)} bytes" if isinstance(got, bytes) and len(got) > 16 else got
                want_shown = (f"{len(wanted)} bytes"
                              if isinstance(wanted, bytes) and len(wanted) > 16 else wanted)
                return (f"expected {self.description}, got {got_text} "
                        f"({name} is {shown!r}, wanted {want_shown!r})")
        return None


def tcp_segment(flags: int | None = None, **want: Any) -> TcpSegmentMatcher:
    """A matcher: `tcp_segment(FLAG_ACK, ack=1001, payload=b"hi", window=...)`. Keyword
    names are TcpHeader fields, `payload`, `src` or `dst`; None values are not checked."""
    wanted = {k: v for k, v in want.items() if v is not None}
    if flags is not None:
        wanted["flags"] = flags
    parts = [f"[{flags_text(flags)}]" if flags is not None else "a TCP segment"]
    parts += [f"{k} {v if not isinstance(v, bytes) else f'{len(v)} bytes'}"
              for k, v in wanted.items() if k != "flags"]
    return TcpSegmentMatcher(" ".join(parts), {}, None, wanted)


@dataclass
class ExpectSegment(Expect):
    """The next frame the stack sent must be a matching TCP segment."""

    matcher: TcpSegmentMatcher

    def transcript_line(self, frame: bytes) -> str:
        return f"stack sent {describe_tcp_frame(frame)}"


@dataclass
class SendSegment(Step):
    frame: bytes

    def apply(self, h: Harness) -> str:
        h.deliver([self.frame])
        return f"peer sent  {describe_tcp_frame(self.frame)}"


@dataclass
class SendBurst(Burst):
    """The peer's segments arriving as one burst, in one engine pass."""

    def describe(self, frame: bytes) -> str:
        return f"peer sent  {describe_tcp_frame(frame)}"


class TcpPeer:
    """The far end of one connection, played by a test against a Harness."""

    def __init__(
        self,
        harness: Harness,
        stack_port: int,
        port: int = 40000,
        ip: Any = "192.0.2.1",
        mac: bytes = bytes.fromhex("020000000001"),
    ) -> None:
        self.harness = harness
        self.stack_port = stack_port
        self.port = port
        self.ip = IPv4Address(ip)
        self.mac = mac
        self.stack_ip = harness.stack.config.address.ip
        self.stack_mac = harness.stack.config.mac

    def frame(self, flags: int, seq: int, ack: int = 0, data: bytes = b"",
              window: int = DEFAULT_WINDOW, options: tuple[TcpOption, ...] = (),
              bad_checksum: bool = False) -> bytes:
        return tcp_frame(self.ip, self.stack_ip, self.port, self.stack_port, seq, ack, flags,
                         window, data, options, self.mac, self.stack_mac, bad_checksum)

    def send(self, flags: int, seq: int, ack: int = 0, data: bytes = b"",
             window: int = DEFAULT_WINDOW, options: tuple[TcpOption, ...] = (),
             bad_checksum: bool = False) -> None:
        self.harness.step(SendSegment(self.frame(flags, seq, ack, data, window, options,
                                                 bad_checksum)))

    def send_burst(self, frames: list[bytes], app: Callable[[Stack, float], Any] | None = None,
                   app_description: str = "") -> None:
        """These segments (`self.frame(...)` each) in one burst, then the end of that engine
        pass; `app` is the application's turn in the pass, before its end."""
        self.harness.step(SendBurst([bytes(f) for f in frames], app, app_description))

    def expect(self, flags: int | None = None, **want: Any) -> TcpSegment:
        """The next frame out must be a segment to this peer with these fields."""
        want.setdefault("dst_port", self.port)
        self.harness.step(ExpectSegment(tcp_segment(flags, **want)))
        assert self.harness.last_frame is not None
        segment = decode_tcp(self.harness.last_frame)
        assert segment is not None
        return segment

    def expect_nothing(self) -> None:
        self.harness.expect_nothing()

    def advance(self, seconds: float) -> None:
        self.harness.advance(seconds)
