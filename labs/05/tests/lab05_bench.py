"""What lab 5's tests are written with: UDP frames in, UDP matchers out, and steps that
call the student's UdpStage (bind, connect, send, close...) inside the transcript, so an
exception, a wrong errno or an infinite loop fails that step with everything before it.

Every address, MAC and port comes from the variant; `Udp(h)` wraps one LabHarness.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from labs.kit import Variant, make_harness
from netstack.testing import FrameMatcher, Step, TranscriptMismatch, ipv4_frame
from netstack.wire import icmp as wire_icmp
from netstack.wire import udp as wire_udp
from netstack.wire.ethernet import BROADCAST
from netstack.wire.ipv4 import PROTO_UDP, IPv4Header

LIMITED_BROADCAST = IPv4Address("255.255.255.255")


def errno_name(code: int | None) -> str:
    return errno.errorcode.get(code, str(code)) if code is not None else "None"


@dataclass
class Do(Step):
    """Call the student's code; keep what it returned. `raises`: the errno it must raise."""

    description: str
    action: Any
    raises: int | None = None
    result: Any = None

    def apply(self, h: Any) -> str:
        if self.raises is None:
            self.result = self.action(h.stack, h.now)
            shown = "" if self.result is None else f" -> {self.result!r}"
            return f"call      {self.description}{shown}"
        try:
            self.result = self.action(h.stack, h.now)
        except OSError as exc:
            if exc.errno != self.raises:
                raise TranscriptMismatch(
                    f"{self.description}: expected OSError {errno_name(self.raises)}, got "
                    f"OSError {errno_name(exc.errno)}: {exc}") from None
            return f"call      {self.description} -> raised {errno_name(exc.errno)} (expected)"
        raise TranscriptMismatch(f"{self.description}: expected OSError "
                                 f"{errno_name(self.raises)}, but it returned {self.result!r}")


@dataclass
class Check(Step):
    """A fact about the stack's state: `value(stack)` must equal `expected`."""

    description: str
    value: Any
    expected: Any

    def apply(self, h: Any) -> str:
        got = self.value(h.stack)
        if got != self.expected:
            raise TranscriptMismatch(f"expected {self.description} == {self.expected!r}, "
                                     f"got {got!r}")
        return f"check     {self.description} == {self.expected!r}"


class Udp:
    """One stack (the student's UDP unit in it) and the variant's numbers."""

    def __init__(self, variant: Variant, peer_known: bool = True, **overrides: Any) -> None:
        if peer_known:
            overrides.setdefault("static_arp", {variant.peer_ip: variant.peer_mac,
                                                variant.other_ip: variant.other_mac})
        self.h = make_harness(variant, **overrides)
        self.v = variant
        self.port = variant.stack_port  # the stack's service port
        self.peer_port = variant.peer_port

    # --- steps ---------------------------------------------------------------------------
    def do(self, description: str, action: Any) -> Any:
        step = Do(description, action)
        self.h.step(step)
        return step.result

    def fails(self, description: str, action: Any, code: int) -> None:
        self.h.step(Do(description, action, raises=code))

    def check(self, description: str, value: Any, expected: Any) -> None:
        self.h.step(Check(description, value, expected))

    def bind(self, address: Any, port: int, reuse: bool = False) -> Any:
        shown = "None" if address is None else f"'{address}'"
        return self.do(f"udp.bind({shown}, {port}{', reuse_addr=True' if reuse else ''})",
                       lambda s, now: s.udp.bind(address, port, reuse))

    def bind_fails(self, address: Any, port: int, code: int, reuse: bool = False,
                   endpoint: Any = None) -> None:
        shown = "None" if address is None else f"'{address}'"
        extra = (", reuse_addr=True" if reuse else "") + (", endpoint=ep" if endpoint else "")
        self.fails(f"udp.bind({shown}, {port}{extra})",
                   lambda s, now: s.udp.bind(address, port, reuse, endpoint), code)

    def connect(self, ep: Any, ip: Any, port: int) -> None:
        self.do(f"udp.connect(ep, '{ip}', {port})", lambda s, now: s.udp.connect(ep, ip, port))

    def close(self, ep: Any) -> None:
        self.do("udp.close(ep)", lambda s, now: s.udp.close(ep))

    def send(self, ep: Any, payload: bytes, dst: Any = None) -> Any:
        where = "None" if dst is None else f"('{dst[0]}', {dst[1]})"
        return self.do(f"udp.send(ep, {_short(payload)}, {where})",
                       lambda s, now: s.udp.send(ep, payload, dst, now))

    def send_fails(self, ep: Any, payload: bytes, dst: Any, code: int) -> None:
        where = "None" if dst is None else f"('{dst[0]}', {dst[1]})"
        self.fails(f"udp.send(ep, {_short(payload)}, {where})",
                   lambda s, now: s.udp.send(ep, payload, dst, now), code)

    def queued(self, ep: Any, expected: list[tuple[bytes, tuple[str, int]]]) -> None:
        """The endpoint's queue holds exactly these (payload, (sender ip, port))."""
        self.check(f"ep{_where(ep)}.queue", lambda s: [(bytes(d), tuple(src)) for d, src in
                                                      list(ep.queue)], expected)

    def payloads(self, ep: Any, expected: list[bytes]) -> None:
        self.check(f"the payloads queued on ep{_where(ep)}",
                   lambda s: [bytes(d) for d, _ in list(ep.queue)], expected)

    # --- frames in -------------------------------------------------------------------------
    def frame(self, payload: bytes, src_port: int | None = None, dst_port: int | None = None,
              *, src: Any = None, dst: Any = None, src_mac: bytes | None = None,
              dst_mac: bytes | None = None, checksum: bool = True) -> bytes:
        """A UDP datagram from the peer (by default) to the stack's service port."""
        v = self.v
        src = IPv4Address(src or v.peer_ip)
        dst = IPv4Address(dst or v.our_ip)
        header = wire_udp.UdpHeader(self.peer_port if src_port is None else src_port,
                                    self.port if dst_port is None else dst_port)
        datagram = wire_udp.build(header, payload, *((src, dst) if checksum else (None, None)))
        return self.ip_frame(datagram, src=src, dst=dst, src_mac=src_mac, dst_mac=dst_mac)

    def ip_frame(self, datagram: bytes, *, src: Any = None, dst: Any = None,
                 src_mac: bytes | None = None, dst_mac: bytes | None = None) -> bytes:
        """Raw bytes as the payload of an IPv4 packet with protocol 17."""
        v = self.v
        src = IPv4Address(src or v.peer_ip)
        dst = IPv4Address(dst or v.our_ip)
        if dst_mac is None:
            dst_mac = BROADCAST if dst == LIMITED_BROADCAST or dst == self.subnet_broadcast \
                else v.our_mac
        if src_mac is None:
            src_mac = v.other_mac if src == v.other_ip else v.peer_mac
        return ipv4_frame(dst_mac, src_mac, IPv4Header(src, dst, PROTO_UDP), datagram)

    def icmp_error(self, icmp_type: int, code: int, about: bytes) -> bytes:
        """An ICMP error from the peer quoting the IP header and 8 bytes of frame `about`."""
        quoted = about[14 : 14 + 20 + 8]
        message = wire_icmp.build(wire_icmp.IcmpHeader(icmp_type, code), quoted)
        header = IPv4Header(self.v.peer_ip, self.v.our_ip, 1)
        return ipv4_frame(self.v.our_mac, self.v.peer_mac, header, message)

    @property
    def subnet_broadcast(self) -> IPv4Address:
        return self.v.interface.network.broadcast_address


# --- matchers out ----------------------------------------------------------------------------


def udp_datagram(dst: Any, dst_port: int | None = None, payload: bytes | None = None,
                 src_port: int | None = None, eth_dst: bytes | None = None) -> FrameMatcher:
    """A UDP datagram with a valid checksum (and these ports and data, when given)."""

    def check(fields: dict) -> bool:
        ip = fields["ip.header"]
        try:
            header, data = wire_udp.parse(fields["payload"], ip.src, ip.dst)
        except Exception:  # noqa: BLE001 - any parse failure is a mismatch
            return False
        return ((dst_port is None or header.dst_port == dst_port)
                and (src_port is None or header.src_port == src_port)
                and (payload is None or bytes(data) == payload))

    what = f"UDP datagram to {dst}:{dst_port}"
    if src_port is not None:
        what += f" from port {src_port}"
    if payload is not None:
        what += f" with {_short(payload)}"
    what += " (valid checksum)"
    fields = {"ip.protocol": PROTO_UDP, "ip.dst": IPv4Address(dst), "eth.dst": eth_dst}
    return FrameMatcher(what, fields, check)


def _short(data: bytes, limit: int = 24) -> str:
    return repr(data) if len(data) <= limit else f"<{len(data)} bytes>"


def _where(ep: Any) -> str:
    local = getattr(ep, "local", None)
    return f" ({local[0]}:{local[1]})" if local else ""


# --- the small service (udpkv): a fake socket and a transcript --------------------------------


class NoMoreDatagrams(Exception):
    """The fake socket has nothing left to give: a real one would block here forever."""


class FakeSocket:
    """A UDP socket with scripted arrivals: recvfrom hands them out in order, sendto keeps
    what was sent (and logs both into the transcript)."""

    def __init__(self, log: ServiceLog, arrivals: list[tuple[bytes, tuple[str, int]]]) -> None:
        self.log = log
        self.arrivals = list(arrivals)
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[str, int]]:
        if not self.arrivals:
            self.log.line("socket    recvfrom: nothing more will arrive (a real socket would "
                          "block forever)")
            raise NoMoreDatagrams("recvfrom called with nothing more to arrive")
        data, sender = self.arrivals.pop(0)
        self.log.line(f"socket    recvfrom -> {data!r} from {sender[0]}:{sender[1]}")
        return data[:bufsize], sender

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        self.sent.append((bytes(data), (str(address[0]), int(address[1]))))
        self.log.line(f"socket    sendto {bytes(data)!r} to {address[0]}:{address[1]}")
        return len(data)


class ServiceLog:
    """A numbered transcript of calls into the student's udpkv module."""

    def __init__(self, variant: Variant) -> None:
        from labs.kit import student_module

        self.variant = variant
        self.lines: list[str] = []
        self.module = student_module("udpkv", reference="labs.reference.udpkv")

    def line(self, text: str, printed: str = "") -> None:
        self.lines.append(f"{len(self.lines) + 1:3d}. {text}")
        self.lines += [f"{'':6}| {x}" for x in printed.splitlines()]

    def fail(self, message: str) -> None:
        head = f"transcript (udpkv, {self.variant.name}):"
        body = "\n".join([head, *self.lines]) if self.lines else head + "\n  (no steps)"
        raise TranscriptMismatch(f"{body}\nstep {len(self.lines) + 1} failed:\n  {message}")

    def call(self, name: str, *args: Any, allow: type[BaseException] | None = None) -> Any:
        """udpkv.NAME(*args) under a CPU budget; `allow`: an exception that ends it normally."""
        import io
        import traceback

        from labs.kit.stack import STEP_CPU_SECONDS, StepOverBudget, captured_output, limit_cpu

        shown = ", ".join("sock" if isinstance(a, FakeSocket) else repr(a) for a in args)
        self.line(f"call      udpkv.{name}({shown})")
        output = io.StringIO()
        result = None
        with captured_output(output), limit_cpu(STEP_CPU_SECONDS):
            try:
                result = getattr(self.module, name)(*args)
            except StepOverBudget:
                self.fail(f"udpkv.{name} took more than {STEP_CPU_SECONDS:g} s of CPU")
            except Exception as exc:  # noqa: BLE001 - the student's code may raise anything
                if allow is not None and isinstance(exc, allow):
                    self.line(f"ended     ({type(exc).__name__}: {exc})", output.getvalue())
                    return None
                self.fail(f"your code raised {type(exc).__name__}: {exc}\n"
                          + traceback.format_exc().rstrip())
        self.line(f"returned  {result!r}", output.getvalue())
        return result

    def expect(self, what: str, got: Any, expected: Any) -> None:
        if got != expected:
            self.fail(f"expected {what} == {expected!r}, got {got!r}")
        self.line(f"check     {what} == {expected!r}")
