"""Packets: the inbound ones built from the script, the outbound ones checked against it.

Sequence numbers follow packetdrill. The script's side (the remote end) writes its own
sequence numbers as they are; the stack's are written relative to its initial sequence
number, learned from its first SYN or SYN-ACK. So an inbound `ack 1` acknowledges the
stack's SYN, and an outbound `1:1001(1000)` is the first kilobyte it sends. SACK blocks
follow the same rule: inbound ones are in the stack's space, outbound ones in the script's.

Timestamps: the stack's TSval cannot be known in advance, so the TSval a script writes on
an outbound packet is a name for the real one: an inbound `ecr` that repeats it is sent as
the value the stack really used. An `ecr` the script never saw goes out as written.

Two profiles compare an outbound packet with its line:
- `strict` checks what packetdrill checks: flags, sequence and acknowledgement numbers,
  length, window, and the options in order with their values (the TSval aside);
- `rfc` checks the protocol and not what stacks may choose: window values, option order,
  MSS and window-scale values and buffer sizes are ignored. Flags, sequence and
  acknowledgement numbers, length, SACK blocks, the TSecr, which options are present, and
  the timing are kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from netstack.drill.script import IcmpSpec, TcpOptionSpec, TcpSpec, UdpSpec, describe_option
from netstack.errors import MalformedPacket
from netstack.testing.frames import describe_frame, ipv4_frame
from netstack.wire import ethernet as wire_eth
from netstack.wire import icmp as wire_icmp
from netstack.wire import ipv4 as wire_ipv4
from netstack.wire import tcp as wire_tcp
from netstack.wire import udp as wire_udp

PROFILES = ("strict", "rfc")
SEQ_MOD = 2**32
DEFAULT_WINDOW = 65535  # an inbound segment with no `win`
FLAG_OF_LETTER = {"S": wire_tcp.FLAG_SYN, "F": wire_tcp.FLAG_FIN, "R": wire_tcp.FLAG_RST,
                  "P": wire_tcp.FLAG_PSH, ".": wire_tcp.FLAG_ACK, "E": wire_tcp.FLAG_ECE,
                  "W": wire_tcp.FLAG_CWR, "U": wire_tcp.FLAG_URG}
LETTER_ORDER = "SFRPUEW."  # how packetdrill (and tcpdump) write them
UNREACHABLE_CODES = {"net_unreachable": 0, "host_unreachable": 1, "protocol_unreachable": 2,
                     "port_unreachable": 3, "frag_needed": 4, "source_route_failed": 5}
TIME_EXCEEDED_CODES = {"ttl_exceeded": 0, "reassembly_time_exceeded": 1}
ICMP_TYPES = {"echo_reply": wire_icmp.TYPE_ECHO_REPLY, "echo_request": wire_icmp.TYPE_ECHO_REQUEST,
              "unreachable": wire_icmp.TYPE_DEST_UNREACHABLE,
              "time_exceeded": wire_icmp.TYPE_TIME_EXCEEDED}


class PacketProblem(Exception):
    """An inbound packet the runner cannot build (e.g. an ack before the ISN is known)."""


def flags_of(letters: str) -> int:
    value = 0
    for letter in letters:
        value |= FLAG_OF_LETTER[letter]
    return value


def letters_of(flags: int) -> str:
    return "".join(letter for letter in LETTER_ORDER if flags & FLAG_OF_LETTER[letter])


@dataclass
class Conversation:
    """The one connection a script talks about: its addresses, and what the runner has
    learned of the stack's side (its ISN, its port, its timestamps)."""

    local_ip: IPv4Address
    remote_ip: IPv4Address
    local_mac: bytes
    remote_mac: bytes
    local_port: int
    remote_port: int
    iss: int | None = None  # the stack's initial sequence number
    ts_names: dict[int, int] = field(default_factory=dict)  # script TSval -> real TSval

    # --- inbound ----------------------------------------------------------------------

    def frame(self, spec: TcpSpec | UdpSpec | IcmpSpec) -> bytes:
        """The frame an inbound line describes; PacketProblem if no such frame can exist
        (a field out of range, options that do not fit)."""
        try:
            if isinstance(spec, TcpSpec):
                return self.tcp_frame(spec)
            if isinstance(spec, IcmpSpec):
                return self.icmp_frame(spec)
            return self.udp_frame(spec)
        except (ValueError, OverflowError, struct.error, MalformedPacket) as exc:
            raise PacketProblem(f"cannot build the packet: {exc}") from None

    def tcp_frame(self, spec: TcpSpec) -> bytes:
        flags = flags_of(spec.flags)
        ack = 0
        if flags & wire_tcp.FLAG_ACK:
            if spec.ack is None:
                raise PacketProblem("an inbound ACK needs 'ack N'")
            ack = self._stack_seq(spec.ack)
        options = tuple(self._wire_option(o) for o in spec.options or ())
        window = DEFAULT_WINDOW if spec.window is None else spec.window
        if window > 0xFFFF:
            raise PacketProblem(f"win {window} does not fit in 16 bits")
        header = wire_tcp.TcpHeader(self.remote_port, self.local_port, spec.seq % SEQ_MOD, ack,
                                    flags, window, options=options)
        segment = wire_tcp.build(header, bytes(spec.length), self.remote_ip, self.local_ip)
        return self._ip_frame(wire_ipv4.PROTO_TCP, segment)

    def udp_frame(self, spec: UdpSpec) -> bytes:
        header = wire_udp.UdpHeader(self.remote_port, self.local_port)
        datagram = wire_udp.build(header, bytes(spec.length), self.remote_ip, self.local_ip)
        return self._ip_frame(wire_ipv4.PROTO_UDP, datagram)

    def icmp_frame(self, spec: IcmpSpec) -> bytes:
        if spec.type_name in ("echo_request", "echo_reply"):
            make = (wire_icmp.IcmpHeader.echo_request if spec.type_name == "echo_request"
                    else wire_icmp.IcmpHeader.echo_reply)
            return self._ip_frame(wire_ipv4.PROTO_ICMP, wire_icmp.build(make(1, 1), bytes(8)))
        if spec.type_name == "unreachable":
            code = UNREACHABLE_CODES.get(spec.code_name or "")
            if code is None:
                raise PacketProblem(f"ICMP unreachable code {spec.code_name!r} (known: "
                                    f"{', '.join(UNREACHABLE_CODES)})")
            header = wire_icmp.IcmpHeader.dest_unreachable(code, spec.mtu or 0)
        else:
            code = TIME_EXCEEDED_CODES.get(spec.code_name or "ttl_exceeded")
            if code is None:
                raise PacketProblem(f"ICMP time_exceeded code {spec.code_name!r}")
            header = wire_icmp.IcmpHeader.time_exceeded(code)
        return self._ip_frame(wire_ipv4.PROTO_ICMP, wire_icmp.build(header, self._quoted(spec)))

    def _quoted(self, spec: IcmpSpec) -> bytes:
        """The start of the packet the error is about: one the stack sent (IP header and
        the first 8 bytes of its transport header, RFC 792)."""
        quoted = spec.quoted
        if isinstance(quoted, UdpSpec):
            proto = wire_ipv4.PROTO_UDP
            inner = wire_udp.build(wire_udp.UdpHeader(self.local_port, self.remote_port),
                                   bytes(quoted.length), self.local_ip, self.remote_ip)
        else:
            proto = wire_ipv4.PROTO_TCP
            seq = self._stack_seq(quoted.seq) if quoted is not None else self._stack_seq(0)
            header = wire_tcp.TcpHeader(self.local_port, self.remote_port, seq, 0,
                                        wire_tcp.FLAG_ACK, DEFAULT_WINDOW)
            length = quoted.length if quoted is not None else 0
            inner = wire_tcp.build(header, bytes(length), self.local_ip, self.remote_ip)
        ip = wire_ipv4.IPv4Header(self.local_ip, self.remote_ip, proto, dont_fragment=True)
        return wire_ipv4.build(ip, inner)[:28]

    def _ip_frame(self, proto: int, payload: bytes) -> bytes:
        ip = wire_ipv4.IPv4Header(self.remote_ip, self.local_ip, proto)
        return ipv4_frame(self.local_mac, self.remote_mac, ip, payload)

    def _stack_seq(self, relative: int) -> int:
        """Before the stack has sent a SYN (a segment to a listener) its ISN counts as 0:
        the number is taken as it is, as it will be read back from any RST."""
        return ((self.iss or 0) + relative) % SEQ_MOD

    def _wire_option(self, option: TcpOptionSpec) -> wire_tcp.TcpOption:
        v = option.values
        if option.kind == "mss":
            return wire_tcp.MssOption(v[0])
        if option.kind == "wscale":
            return wire_tcp.WindowScaleOption(v[0])
        if option.kind == "sackOK":
            return wire_tcp.SackPermittedOption()
        if option.kind == "nop":
            return wire_tcp.NOP
        if option.kind == "eol":
            return wire_tcp.END
        if option.kind == "TS":
            return wire_tcp.TimestampOption(v[0] % SEQ_MOD, self.ts_names.get(v[1], v[1]) % SEQ_MOD)
        blocks = tuple((self._stack_seq(v[i]), self._stack_seq(v[i + 1]))
                       for i in range(0, len(v), 2))
        return wire_tcp.SackOption(blocks)

    # --- outbound ---------------------------------------------------------------------

    def check(self, spec: TcpSpec | UdpSpec | IcmpSpec, frame: bytes, profile: str) -> str | None:
        """None if `frame` is what the line says; else the first difference, in words."""
        decoded = decode(frame)
        if isinstance(spec, TcpSpec):
            if not isinstance(decoded, Segment):
                return f"expected a TCP segment, got {describe_frame(frame)}"
            return self._check_tcp(spec, decoded, profile)
        if isinstance(spec, UdpSpec):
            if not isinstance(decoded, Datagram):
                return f"expected a UDP datagram, got {describe_frame(frame)}"
            if decoded.length != spec.length:
                return f"UDP payload is {decoded.length} bytes, wanted {spec.length}"
            # An unbound socket's port is the stack's choice: learn it, as from a SYN, so
            # an ICMP error the script sends back quotes the right one.
            self.local_port = decoded.src_port
            return None
        if not isinstance(decoded, IcmpMessage):
            return f"expected ICMP {spec.type_name}, got {describe_frame(frame)}"
        want_type = ICMP_TYPES[spec.type_name]
        if decoded.header.type != want_type:
            return f"ICMP type is {decoded.header.type}, wanted {want_type} ({spec.type_name})"
        if spec.code_name is not None:
            codes = UNREACHABLE_CODES if spec.type_name == "unreachable" else TIME_EXCEEDED_CODES
            want_code = codes.get(spec.code_name)
            if decoded.header.code != want_code:
                return f"ICMP code is {decoded.header.code}, wanted {want_code} ({spec.code_name})"
        return None

    def _check_tcp(self, spec: TcpSpec, got: Segment, profile: str) -> str | None:
        h = got.header
        if letters_of(h.flags) != letters_of(flags_of(spec.flags)):
            return f"flags are [{letters_of(h.flags)}], wanted [{letters_of(flags_of(spec.flags))}]"
        if self.iss is None and h.flags & wire_tcp.FLAG_SYN:
            self.iss = (h.seq - spec.seq) % SEQ_MOD  # the stack's ISN, learned
            self.local_port = h.src_port
        seq = self.relative(h.seq)
        if seq != spec.seq % SEQ_MOD:
            return f"seq is {seq}, wanted {spec.seq}"
        if len(got.payload) != spec.length:
            return f"length is {len(got.payload)}, wanted {spec.length}"
        if spec.ack is not None and h.ack != spec.ack % SEQ_MOD:
            return f"ack is {h.ack}, wanted {spec.ack}"
        if profile == "strict" and spec.window is not None and h.window != spec.window:
            return f"win is {h.window}, wanted {spec.window}"
        if spec.options is None:
            return self._learn_timestamps(spec, got)
        problem = self._check_options(spec.options, self.option_specs(h), profile)
        if problem:
            return problem
        return self._learn_timestamps(spec, got)

    def _learn_timestamps(self, spec: TcpSpec, got: Segment) -> None:
        real = wire_tcp.find_option(got.header, wire_tcp.TimestampOption)
        for option in spec.options or ():
            if option.kind == "TS" and real is not None:
                self.ts_names[option.values[0]] = real.tsval
        return None

    def _check_options(self, want: tuple[TcpOptionSpec, ...], got: list[TcpOptionSpec],
                       profile: str) -> str | None:
        shown = "<" + ",".join(describe_option(o) for o in got) + ">"
        if not (want and want[-1].kind == "eol"):
            while got and got[-1].kind == "eol":  # padding reads back as End
                got = got[:-1]
        if profile == "rfc":
            want = [o for o in want if o.kind not in ("nop", "eol")]
            got = [o for o in got if o.kind not in ("nop", "eol")]
            want_kinds = sorted(o.kind for o in want)
            if sorted(o.kind for o in got) != want_kinds:
                return f"options are {shown}, wanted the kinds {', '.join(want_kinds) or 'none'}"
            pairs = zip(sorted(want, key=lambda o: o.kind), sorted(got, key=lambda o: o.kind),
                        strict=True)
        else:
            if [o.kind for o in got] != [o.kind for o in want]:
                wanted = "<" + ",".join(describe_option(o) for o in want) + ">"
                return f"options are {shown}, wanted {wanted}"
            pairs = zip(want, got, strict=True)
        for w, g in pairs:
            if w.kind == "TS":
                if w.values[1] != g.values[1]:
                    return f"TS ecr is {g.values[1]}, wanted {w.values[1]}"
            elif w.kind in ("mss", "wscale") and profile == "rfc":
                continue
            elif w.values != g.values:
                return f"option {describe_option(g)}, wanted {describe_option(w)}"
        return None

    def relative(self, seq: int) -> int:
        return (seq - (self.iss or 0)) % SEQ_MOD

    def option_specs(self, header: wire_tcp.TcpHeader) -> list[TcpOptionSpec]:
        """The header's options as a script writes them (outbound SACK blocks are in the
        script's own space, so they stay as they are)."""
        specs = []
        for option in header.options:
            if isinstance(option, wire_tcp.MssOption):
                specs.append(TcpOptionSpec("mss", (option.mss,)))
            elif isinstance(option, wire_tcp.WindowScaleOption):
                specs.append(TcpOptionSpec("wscale", (option.shift,)))
            elif isinstance(option, wire_tcp.SackPermittedOption):
                specs.append(TcpOptionSpec("sackOK"))
            elif isinstance(option, wire_tcp.TimestampOption):
                specs.append(TcpOptionSpec("TS", (option.tsval, option.tsecr)))
            elif isinstance(option, wire_tcp.SackOption):
                specs.append(TcpOptionSpec("sack", tuple(e for b in option.blocks for e in b)))
            elif isinstance(option, wire_tcp.NopOption):
                specs.append(TcpOptionSpec("nop"))
            elif isinstance(option, wire_tcp.EndOption):
                specs.append(TcpOptionSpec("eol"))
            else:
                specs.append(TcpOptionSpec(f"kind{option.kind}"))
        return specs

    def describe(self, frame: bytes, outbound: bool) -> str:
        """A frame in the script's own notation (relative numbers for the stack's side)."""
        decoded = decode(frame)
        if isinstance(decoded, Segment):
            h = decoded.header
            length = len(decoded.payload)
            if outbound and self.iss is None and h.flags & wire_tcp.FLAG_SYN:
                seq, ack = 0, h.ack  # its first SYN: the ISN it would teach us
            elif outbound:
                seq = self.relative(h.seq)
                ack = h.ack
            else:
                seq, ack = h.seq, self.relative(h.ack)
            text = f"{letters_of(h.flags)} {seq}:{(seq + length) % SEQ_MOD}({length})"
            if h.flags & wire_tcp.FLAG_ACK:
                text += f" ack {ack}"
            text += f" win {h.window}"
            specs = self.option_specs(h) if outbound else []
            if not outbound:
                specs = [TcpOptionSpec(s.kind, tuple(self.relative(v) for v in s.values))
                         if s.kind == "sack" else s for s in self.option_specs(h)]
            while specs and specs[-1].kind == "eol":
                specs.pop()
            if specs:
                text += " <" + ",".join(describe_option(o) for o in specs) + ">"
            return text
        if isinstance(decoded, Datagram):
            return f"udp ({decoded.length})"
        if isinstance(decoded, IcmpMessage):
            return f"icmp {wire_icmp.describe(decoded.header)}"
        return describe_frame(frame)


# --- decoding ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    header: wire_tcp.TcpHeader
    payload: bytes


@dataclass(frozen=True)
class Datagram:
    length: int
    src_port: int = 0


@dataclass(frozen=True)
class IcmpMessage:
    header: wire_icmp.IcmpHeader


def decode(frame: bytes) -> Segment | Datagram | IcmpMessage | None:
    try:
        eth, rest = wire_eth.parse(frame)
        if eth.ethertype != wire_eth.ETHERTYPE_IPV4:
            return None
        ip, rest = wire_ipv4.parse(rest)
        if ip.is_fragment:
            return None
        if ip.protocol == wire_ipv4.PROTO_TCP:
            header, data = wire_tcp.parse(rest, ip.src, ip.dst)
            return Segment(header, bytes(data))
        if ip.protocol == wire_ipv4.PROTO_UDP:
            udp_header, data = wire_udp.parse(rest, ip.src, ip.dst)
            return Datagram(len(data), udp_header.src_port)
        if ip.protocol == wire_ipv4.PROTO_ICMP:
            header, _ = wire_icmp.parse(rest)
            return IcmpMessage(header)
    except MalformedPacket:
        return None
    return None
