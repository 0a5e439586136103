"""The stack: one interface's worth of protocol stages, wired together, with no I/O at all.

    frame -> ethernet -> arp            (answers, learns, resolves)
                      -> ipv4 -> icmp
                              -> udp, tcp
                      -> to_kni         (what we leave to the kernel)
    outgoing <- ethernet.send <- arp.output <- ipv4.send <- icmp / udp / tcp

`Stack` owns the shared pieces every stage reaches through it: the config, the counters, the
mbuf pool, the timer wheel and the two output queues (stages see it as a StackContext,
stages/context.py). ARP, IPv4, ICMP and UDP are built from `self.units`: the reference
implementation of each, or the replacement `config.impl` names (netstack/units.py). Nothing here is global, so two stacks
can live in one process and talk to each other by passing frames (the tests do exactly that).
The engine drives it: `receive` for each frame, `advance` when `next_deadline` comes, and it
drains `outgoing` to the port and `to_kni` to the kernel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from netstack.counters import Counters
from netstack.errors import ConfigError
from netstack.mbuf import Mbuf, MbufPool
from netstack.seeding import StackRandom, check_seed
from netstack.stages.ethernet import EthernetStage
from netstack.stages.routing import RoutingTable
from netstack.stages.tcp import TcpConfig, TcpStage
from netstack.stages.udp import DEFAULT_BUFFER
from netstack.timers import TimerWheel
from netstack.trace import Drop, Tracer
from netstack.units import resolve_units
from netstack.wire.ethernet import parse_mac
from netstack.wire.ipv4 import PROTO_ICMP, PROTO_TCP, PROTO_UDP

MIN_MTU = 68  # RFC 791: every IPv4 module must pass a 68-byte datagram unfragmented
MAX_MTU = 9000  # jumbo frames; beyond that an mbuf would need chaining, which we do not do
FLUSH_AT = 256  # frames queued in one pass before the engine sends them mid-pass (alloc_mbuf)


# What goes to the kernel behind KNI (F-Stack's knictl): the stack's ports and protocols
# decide ("default"), everything but ARP goes to the kernel, or nothing does (the stack
# handles or drops it all, as with no KNI device).
KNI_MODES = ("default", "all-to-kernel", "all-to-stack")


@dataclass(frozen=True)
class StackConfig:
    mac: bytes
    address: IPv4Interface
    gateway: IPv4Address | None = None
    mtu: int = 1500
    # Static routes: (network, next_hop) with next_hop None for on-link, or
    # (network, next_hop, mtu) for a per-route MTU.
    routes: tuple[tuple, ...] = ()
    static_arp: Mapping[IPv4Address, bytes] = field(default_factory=dict)
    kni: bool = False
    kni_tcp_ports: frozenset[int] = frozenset()
    kni_udp_ports: frozenset[int] = frozenset()
    # --- tunables ---
    kni_mode: str = "default"  # KNI steering: default, all-to-kernel or all-to-stack (knictl)
    arp_reachable_time: float = 60.0  # seconds a learned entry lives without confirmation
    # Most ARP table entries; learning past it evicts the oldest dynamic entry (Linux:
    # neigh gc_thresh3, 1024).
    arp_table_limit: int = 1024
    arp_retry_interval: float = 1.0  # seconds between requests for an unresolved next hop
    arp_retries: int = 3  # requests sent before giving up
    arp_retry_jitter: float = 0.1  # up to this many seconds (seeded) added to each retry interval
    # Packets (fragments count one each) queued per unresolved next hop: enough for two
    # 65507-byte UDP datagrams (45 fragments each at MTU 1500), as Linux's 212992-byte
    # unres_qlen_bytes is; the IPv4 stage queues a datagram's fragments all or none.
    arp_pending_limit: int = 96
    arp_pending_total_limit: int = 256  # packets queued for all unresolved next hops together
    reassembly_timeout: float = 30.0  # seconds (Linux's ipfrag_time)
    reassembly_memory_limit: int = 4 * 1024 * 1024  # bytes held (Linux's ipfrag_high_thresh)
    reassembly_max_datagrams: int = 64  # incomplete datagrams held at once
    icmp_error_rate: float = 10.0  # ICMP errors per second, sustained
    icmp_error_burst: int = 10  # ICMP errors sent back to back before the rate applies
    default_ttl: int = 64  # RFC 1700 recommended value; Linux's ip_default_ttl
    udp_rcvbuf: int = DEFAULT_BUFFER  # default SO_RCVBUF of a UDP endpoint, bytes
    udp_sndbuf: int = DEFAULT_BUFFER  # default SO_SNDBUF, bytes
    udp_port_unreachable: bool = True  # answer datagrams to closed ports (RFC 1122 §4.1.3.1)
    tcp: TcpConfig = field(default_factory=TcpConfig)  # TCP's own tunables (stages/tcp/config.py)
    ephemeral_port_first: int = 49152  # RFC 6335 §6 dynamic ports (Linux: ip_local_port_range)
    ephemeral_port_last: int = 65535  # the last port of that range
    # Replacement units by name (units.py): {"arp": "pkg.module:ArpStage"} or an object.
    impl: Mapping[str, Any] = field(default_factory=dict)
    # One seed drives every random choice of the stack (None: fresh randomness each run).
    random_seed: int | None = None

    def __post_init__(self) -> None:
        try:
            mac = parse_mac(self.mac) if isinstance(self.mac, str) else bytes(self.mac)
            object.__setattr__(self, "mac", mac)
            object.__setattr__(self, "address", IPv4Interface(self.address))
            if self.gateway is not None:
                object.__setattr__(self, "gateway", IPv4Address(self.gateway))
            object.__setattr__(
                self,
                "static_arp",
                {IPv4Address(ip): bytes(mac) for ip, mac in dict(self.static_arp).items()},
            )
            object.__setattr__(self, "routes", tuple(self._normalise_route(r) for r in self.routes))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad stack configuration: {exc}") from exc
        object.__setattr__(self, "kni_tcp_ports", frozenset(self.kni_tcp_ports))
        object.__setattr__(self, "kni_udp_ports", frozenset(self.kni_udp_ports))
        object.__setattr__(self, "impl", dict(self.impl))
        self._validate()
        resolve_units(self.impl)  # a bad replacement fails here, in one line (ImplError)

    @staticmethod
    def _normalise_route(route: tuple) -> tuple:
        if not 2 <= len(route) <= 3:
            raise ValueError(f"a route is (network, next_hop[, mtu]), not {route!r}")
        network, next_hop, *mtu = route
        hop = IPv4Address(next_hop) if next_hop is not None else None
        return (IPv4Network(network), hop, *mtu)

    def _validate(self) -> None:
        if len(self.mac) != 6:
            raise ConfigError(f"a MAC address is 6 bytes, not {len(self.mac)}")
        if self.mac[0] & 1:
            raise ConfigError("the interface MAC must be unicast (first octet even)")
        if not MIN_MTU <= self.mtu <= MAX_MTU:
            raise ConfigError(f"mtu {self.mtu} is outside {MIN_MTU}..{MAX_MTU}")
        if self.gateway is not None and self.gateway not in self.address.network:
            raise ConfigError(f"gateway {self.gateway} is not on {self.address.network}")
        for ip, mac in self.static_arp.items():
            if len(mac) != 6:
                raise ConfigError(f"static ARP entry for {ip}: a MAC address is 6 bytes")
        for network, _hop, *mtu in self.routes:
            if mtu and not MIN_MTU <= mtu[0] <= MAX_MTU:
                raise ConfigError(f"route {network}: mtu {mtu[0]} is outside {MIN_MTU}..{MAX_MTU}")
        for port in self.kni_tcp_ports | self.kni_udp_ports:
            if not 0 < port < 65536:
                raise ConfigError(f"port {port} is not a TCP/UDP port number")
        check_seed(self.random_seed)
        if self.kni_mode not in KNI_MODES:
            raise ConfigError(f"kni_mode {self.kni_mode!r}: expected {', '.join(KNI_MODES)}")
        if self.arp_retry_jitter < 0:
            raise ConfigError("arp_retry_jitter cannot be negative")
        positive = ("arp_reachable_time", "arp_retry_interval", "reassembly_timeout")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        at_least_one = (
            "arp_retries",
            "arp_table_limit",
            "arp_pending_limit",
            "arp_pending_total_limit",
            "reassembly_memory_limit",
            "reassembly_max_datagrams",
            "icmp_error_burst",
            "udp_rcvbuf",
            "udp_sndbuf",
        )
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        if self.icmp_error_rate < 0:
            raise ConfigError("icmp_error_rate cannot be negative")
        if not 1 <= self.default_ttl <= 255:
            raise ConfigError(f"default_ttl {self.default_ttl} is outside 1..255")
        if not 1 <= self.ephemeral_port_first <= self.ephemeral_port_last <= 65535:
            raise ConfigError(
                f"ephemeral port range {self.ephemeral_port_first}-{self.ephemeral_port_last}"
                " is not a range within 1..65535"
            )


class Stack:
    def __init__(self, config: StackConfig, pool: MbufPool, counters: Counters | None = None):
        self.config = config
        self.kni_device = config.kni  # built with a KNI device: kni_mode may steer to it
        if config.kni_mode == "all-to-stack":
            self.config = config = replace(config, kni=False)  # as with no device
        self.units = resolve_units(config.impl)  # each replaceable unit: reference or impl
        self.random = StackRandom(config.random_seed)  # every random choice draws from it
        self.pool = pool
        self.counters = counters if counters is not None else Counters()
        self.timers = TimerWheel()
        self.trace = Tracer()  # typed events for subscribers (trace.py): free when unwatched
        self.trace.on_activity = self._trace_drops
        self.outgoing: deque[Mbuf] = deque()
        self.flush: Callable[[], None] | None = None  # set by the engine: send `outgoing` now
        self.to_kni: deque[bytes] = deque()
        self.routes = RoutingTable.for_interface(config.address, config.gateway, config.routes)
        # Each stage finds the others through the stack, so they are built before any runs.
        units = self.units
        self.ethernet = EthernetStage(self)
        self.arp = units.arp(self)
        self.icmp = units.icmp(self)
        self.ipv4 = units.ipv4(self)
        self.ipv4.register_protocol(PROTO_ICMP, self.icmp)
        self.udp = units.udp(self)
        self.ipv4.register_protocol(PROTO_UDP, self.udp)
        self.tcp = TcpStage(self)
        self.ipv4.register_protocol(PROTO_TCP, self.tcp)

    def start(self, now: float) -> None:
        """Announce ourselves with a gratuitous ARP (RFC 5227 §2.3)."""
        self.timers.advance(now)
        self.arp.announce(now)

    def receive(self, frame: bytes | bytearray | memoryview, now: float) -> None:
        """Process one Ethernet frame. We copy whatever we keep: the caller may reuse `frame`."""
        if self.trace.active:
            self.trace.now = now
        self.ethernet.receive(memoryview(frame), now)

    def begin_burst(self, coalesce: bool = True) -> None:
        """The engine dispatches a burst of frames next (receive() for each, then
        end_burst): TCP may merge in-order segments until then (stages/tcp/gro.py).
        `coalesce=False`: a burst of one frame (the simulator's), with nothing to merge."""
        self.tcp.begin_burst(coalesce)

    def end_burst(self, now: float) -> None:
        """The burst is dispatched: deliver whatever a stage held back for it."""
        self.tcp.end_burst(now)

    def end_pass(self, now: float) -> None:
        """The engine's pass is over, just before it collects `outgoing`: TCP sends the
        ACKs it owes that no segment of this pass carried (stages/tcp/receiver.py).
        A driver that never calls this gets every ACK at once, as before."""
        self.tcp.end_pass(now)

    def advance(self, now: float) -> None:
        """Fire every timer due at `now` (ARP retries and aging, reassembly timeouts...)."""
        if self.trace.active:
            self.trace.now = now
        self.timers.advance(now)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def _trace_drops(self) -> None:
        """While a subscriber wants drops, every drop counter bump is a Drop event (and
        only then: checking each bump's name costs on every packet)."""
        trace = self.trace
        self.counters.set_drop_callback(
            (lambda name: trace.emit(Drop(trace.time(), name))) if trace.wants("drop") else None)

    # --- helpers the stages share ---------------------------------------------------------

    def alloc_mbuf(self) -> Mbuf | None:
        """An empty mbuf from the pool, or None (counted) when the pool is exhausted.

        Frames wait in `outgoing` until the engine collects them after the pass. A pass
        that answers thousands of connections at once would fill the out ring and empty
        the pool long before that, so past FLUSH_AT queued frames (or with the pool dry)
        the engine moves them out now, through `flush`."""
        outgoing = self.outgoing
        if len(outgoing) >= FLUSH_AT and self.flush is not None:
            self._flush()
        mbuf = self.pool.alloc()
        if mbuf is None and outgoing and self.flush is not None:
            self._flush()
            mbuf = self.pool.alloc()
        if mbuf is None:
            self.counters.bump("mbuf.drop.alloc_failed")
        return mbuf

    def _flush(self) -> None:
        self.tcp.forget_tx_template()  # its template frame is about to leave (and be freed)
        self.counters.bump("engine.midpass_flush")
        self.flush()  # type: ignore[misc]

    def send_to_kni(self, frame: bytes | bytearray | memoryview) -> None:
        self.to_kni.append(bytes(frame))
        self.counters.bump("kni.to_kernel")
