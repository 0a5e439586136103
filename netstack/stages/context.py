"""What a stage may use of the stack it belongs to, and of the other stages it talks to.

A stage is built as `Cls(stack)` and keeps `stack`; this module says what `stack` is for it:
`StackContext`, a Protocol, not `netstack.stack.Stack` (which sits a layer above and builds
the stages). The stages reach each other only through the interfaces here:

    ethernet.send  <- ARP, IPv4 (EthernetLayer)
    arp.output     <- IPv4 (ArpUnit)
    ipv4.send      <- ICMP, UDP, TCP (Ipv4Unit)
    icmp.send_*    <- ARP, IPv4, UDP, TCP (IcmpUnit)

The ARP, IPv4 and ICMP unit interfaces live here rather than beside their reference stages
(which re-export them) because this module names them and those stages import it: one
direction only, so no import cycle. UDP's and TCP's interfaces stay in their own modules,
since no other stage calls them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from typing import Any, Protocol

from netstack.checksum import ChecksumUnit
from netstack.counters import Counters
from netstack.mbuf import Mbuf, MbufPool
from netstack.seeding import StackRandom
from netstack.stages.arp_table import ArpEntry, ArpTableUnit
from netstack.stages.fragmentation import FragmentationUnit
from netstack.stages.reassembly import ReassemblyUnit
from netstack.stages.routing import RoutingTable
from netstack.timers import TimerWheel
from netstack.wire.ethernet import EthernetCodec
from netstack.wire.ipv4 import Ipv4Codec, IPv4Header
from netstack.wire.tcp import TcpCodec
from netstack.wire.udp import UdpCodec

# --- what ICMP tells the other stages ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class IcmpErrorReport:
    """An ICMP error we received, decoded for whoever sent the datagram it is about."""

    reporter: IPv4Address  # the host or router that sent the error
    type: int
    code: int
    rest: int  # e.g. the next-hop MTU for "fragmentation needed"
    quoted_header: IPv4Header  # the header of our datagram, as the reporter saw it
    quoted_payload: bytes  # at least its first 8 bytes: ports, or ICMP id and sequence


# echo_listener(src, sequence, payload, now)
EchoListener = Callable[[IPv4Address, int, bytes, float], None]
ErrorListener = Callable[[IcmpErrorReport, float], None]
# unresolved_listener(next_hop, ip_header, ip_payload, now), for our own undeliverable packets
UnresolvedListener = Callable[[IPv4Address, IPv4Header, memoryview, float], None]


# --- the stage interfaces ----------------------------------------------------------------


class ProtocolHandler(Protocol):
    """What the IPv4 stage hands a datagram to: ICMP, UDP and TCP stages all look like this."""

    def receive(
        self, ip_header: IPv4Header, payload: memoryview, frame: memoryview, now: float
    ) -> None:
        """A datagram for us (`payload` is the IPv4 payload, `frame` the whole Ethernet
        frame). Both views are only valid during the call: copy what you keep."""
        ...


class EthernetLayer(Protocol):
    """The Ethernet stage, as the others see it (it is not a replaceable unit)."""

    max_payload: int  # the largest payload a frame may carry (the MTU, or more with offload)

    def send(self, dst_mac: bytes, ethertype: int, mbuf: Mbuf) -> None:
        """Prepend the header (padding the frame to the minimum) and queue it on
        `stack.outgoing`. The mbuf is owned by the stack from then on."""
        ...


class ArpUnit(Protocol):
    """The ARP unit (RFC 826). Constructed as `Cls(stack)`; it keeps its neighbours in a
    `stack.units.arp_table` and sends through `stack.ethernet`."""

    unresolved_listeners: list[UnresolvedListener]  # told about our own packets it gave up on

    def receive(self, payload: memoryview, now: float) -> None:
        """An ARP packet (the Ethernet payload): learn, answer requests for our address."""
        ...

    def output(self, next_hop: IPv4Address, mbuf: Mbuf, now: float) -> None:
        """Send the IPv4 datagram in `mbuf` to `next_hop`'s MAC: at once if known, else after
        resolving it (bounded queue, retries; an ICMP host unreachable or the unresolved
        listeners when it fails). Takes ownership of `mbuf`."""
        ...

    def announce(self, now: float) -> None:
        """Send a gratuitous ARP for our address (RFC 5227 §2.3)."""
        ...

    def lookup(self, ip: IPv4Address) -> bytes | None:
        """The MAC we know for `ip`, or None."""
        ...

    def entries(self) -> list[ArpEntry]:
        """The table, sorted by address."""
        ...

    def add_static(self, ip: IPv4Address, mac: bytes) -> None:
        """A permanent entry; packets waiting for `ip` leave now."""
        ...

    def remove(self, ip: IPv4Address) -> bool:
        """Forget `ip`; True if it was known."""
        ...

    def pending_count(self, next_hop: IPv4Address | None = None) -> int:
        """Packets waiting for resolution: for `next_hop`, or for all."""
        ...


class Ipv4Unit(Protocol):
    """The IPv4 unit: input, output and routing (RFC 791, RFC 1122 §3.2.1). Constructed as
    `Cls(stack)`; it fragments with `stack.units.fragmentation`, reassembles with a
    `stack.units.reassembly` and sends through `stack.arp`."""

    tso_max: int  # TCP datagrams up to this size leave unfragmented (port offload); 0: none

    def register_protocol(self, protocol: int, handler: ProtocolHandler) -> None:
        """Deliver datagrams of `protocol` to `handler`."""
        ...

    def unregister_protocol(self, protocol: int) -> None: ...

    def is_local(self, dst: IPv4Address) -> bool:
        """True for the addresses we accept datagrams for (ours and the broadcasts)."""
        ...

    def receive(self, packet: memoryview, frame: memoryview, now: float) -> None:
        """An IPv4 packet (the Ethernet payload; `frame` is the whole frame)."""
        ...

    def send(self, dst: IPv4Address, protocol: int, mbuf: Mbuf, now: float,
             ttl: int | None = None, dont_fragment: bool = False,
             src: IPv4Address | None = None) -> bool:
        """Route the transport payload in `mbuf` (which it now owns) to `dst`. False when
        dropped here (no route, too big with DF, no mbufs); True when it left or waits."""
        ...

    def send_like(self, template: Mbuf, mbuf: Mbuf) -> bool:
        """Send `mbuf` along the path of the frame `template` queued moments ago (same
        addresses, protocol, TTL, DF); False, having done nothing, if it cannot."""
        ...

    def send_payload(self, dst: IPv4Address, protocol: int,
                     payload: bytes | bytearray | memoryview, now: float,
                     ttl: int | None = None, dont_fragment: bool = False,
                     src: IPv4Address | None = None) -> bool:
        """`send` from bytes, for payloads larger than one mbuf."""
        ...


class IcmpUnit(ProtocolHandler, Protocol):
    """The ICMP unit (RFC 792, RFC 1122 §3.2.2). Constructed as `Cls(stack)`."""

    def send_echo(self, dst: IPv4Address, identifier: int, sequence: int, payload: bytes,
                  now: float) -> bool:
        """Send an echo request; its reply goes to the echo listener for `identifier`."""
        ...

    def send_unreachable(self, code: int, offending_header: IPv4Header,
                         offending_payload: bytes | memoryview, now: float,
                         frame: bytes | memoryview | None = None) -> bool:
        """`send_error` of a destination unreachable."""
        ...

    def send_time_exceeded(self, code: int, offending_header: IPv4Header,
                           offending_payload: bytes, now: float) -> bool:
        """`send_error` of a time exceeded."""
        ...

    def send_error(self, icmp_type: int, code: int, offending_header: IPv4Header,
                   offending_payload: bytes | memoryview, now: float, rest: int = 0,
                   frame: bytes | memoryview | None = None) -> bool:
        """An error about a datagram we received, unless RFC 1122 §3.2.2 forbids it or the
        rate limit refuses (each counted). True if it was sent."""
        ...

    def add_echo_listener(self, identifier: int, callback: EchoListener) -> None: ...

    def remove_echo_listener(self, identifier: int) -> None: ...

    def add_error_listener(self, callback: ErrorListener) -> None:
        """`callback(report, now)` for every ICMP error received."""
        ...

    def remove_error_listener(self, callback: ErrorListener) -> None: ...


# --- the stack, as a stage sees it -------------------------------------------------------


class StageConfig(Protocol):
    """The StackConfig fields the stages read (netstack/stack.py documents each)."""

    mac: bytes
    address: IPv4Interface
    mtu: int
    static_arp: Mapping[IPv4Address, bytes]
    kni: bool
    kni_tcp_ports: frozenset[int]
    kni_udp_ports: frozenset[int]
    arp_reachable_time: float
    arp_table_limit: int
    arp_retry_interval: float
    arp_retries: int
    arp_pending_limit: int
    arp_pending_total_limit: int
    reassembly_timeout: float
    reassembly_memory_limit: int
    reassembly_max_datagrams: int
    icmp_error_rate: float
    icmp_error_burst: int
    default_ttl: int
    udp_rcvbuf: int
    udp_sndbuf: int
    udp_port_unreachable: bool
    ephemeral_port_first: int
    ephemeral_port_last: int
    tcp: Any  # stages/tcp/config.py's TcpConfig


class Units(Protocol):
    """The implementation of each unit this stack uses (netstack/units.py resolves them)."""

    checksum: ChecksumUnit
    ethernet_codec: EthernetCodec
    ipv4_codec: Ipv4Codec
    udp_codec: UdpCodec
    tcp_codec: TcpCodec
    arp: Callable[[StackContext], ArpUnit]
    arp_table: Callable[[TimerWheel, float, int], ArpTableUnit]
    ipv4: Callable[[StackContext], Ipv4Unit]
    fragmentation: FragmentationUnit
    reassembly: Callable[..., ReassemblyUnit]
    icmp: Callable[[StackContext], IcmpUnit]
    udp: Callable[[StackContext], Any]  # -> stages.udp.UdpUnit
    # The TCP units: their Protocols live in stages/tcp (which imports this module).
    tcp_seq: Any  # stages/tcp/seq.py SeqUnit (the stack keeps the reference)
    tcp_connection: Callable[..., Any]  # stages/tcp/connection_unit.py ConnectionUnit
    tcp_sender: Callable[..., Any]  # stages/tcp/sender.py SenderUnit
    tcp_receiver: Callable[..., Any]  # stages/tcp/receiver.py ReceiverUnit
    tcp_rto: Callable[..., Any]  # stages/tcp/rto.py RtoUnit
    congestion: Callable[..., Any]  # stages/tcp/congestion.py CongestionControl


class StackContext(Protocol):
    """What a stage uses of its stack: shared state, the two output queues, the units, and
    the other stages."""

    config: StageConfig
    counters: Counters  # counters.bump("layer.drop.reason")
    timers: TimerWheel  # the stack's virtual-time timer wheel
    pool: MbufPool  # where mbufs come from (alloc_mbuf) and go back to (pool.free)
    outgoing: deque[Mbuf]  # frames for the port, in order
    routes: RoutingTable
    units: Units
    random: StackRandom  # every random choice draws from it (seeding.py)
    ethernet: EthernetLayer
    arp: ArpUnit
    ipv4: Ipv4Unit
    icmp: IcmpUnit

    def alloc_mbuf(self) -> Mbuf | None:
        """An empty mbuf, or None (counted as mbuf.drop.alloc_failed) when none is left."""
        ...

    def send_to_kni(self, frame: bytes | bytearray | memoryview) -> None:
        """Hand a frame to the kernel (KNI); it is copied."""
        ...
