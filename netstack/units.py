"""The replaceable units: the parts of the stack a lab or an experiment may swap for its own.

Each unit has an *interface* (a small `typing.Protocol` in the module that owns the unit:
what it is given, what it returns or emits) and a *reference* implementation, which is just
one implementation of it. A stack is given replacements by name:

    StackConfig(..., impl={"arp": "mylab.arp:ArpStage", "checksum": my_checksum_module})
    netstack run --impl arp=mylab.arp:ArpStage          (repeatable)
    impl = { arp = "mylab.arp:ArpStage" }               (in --config FILE.toml)

A value is an object (a class, a module, a function) or a "package.module:attribute" path
("package.module" alone names a module). `resolve_units` imports each path, checks that the
object has every member its interface names, and raises ImplError, one line naming the unit
and what is missing, when it does not: a bad replacement never gets as far as a traceback
deep inside the stack.

Names are strings here, imported only when a stack is built, so this module sits at the
stack's layer without importing the stages it names.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from netstack.errors import ConfigError


class ImplError(ConfigError):
    """A replacement unit that cannot be used: unknown name, bad path, missing members."""


@dataclass(frozen=True)
class Unit:
    name: str
    interface: str  # "module:Protocol"
    reference: str  # "module:attribute" or "module"
    summary: str


def _unit(name: str, interface: str, reference: str, summary: str) -> tuple[str, Unit]:
    return name, Unit(name, interface, reference, summary)


UNITS: dict[str, Unit] = dict(
    [
        _unit("checksum", "netstack.checksum:ChecksumUnit", "netstack.checksum",
              "the internet checksum (RFC 1071) and its incremental update (RFC 1624)"),
        _unit("ethernet_codec", "netstack.wire.ethernet:EthernetCodec", "netstack.wire.ethernet",
              "Ethernet II header parse/build"),
        _unit("ipv4_codec", "netstack.wire.ipv4:Ipv4Codec", "netstack.wire.ipv4",
              "IPv4 header parse/build, with its checksum"),
        _unit("udp_codec", "netstack.wire.udp:UdpCodec", "netstack.wire.udp",
              "UDP header parse/build, with the pseudo-header checksum"),
        _unit("tcp_codec", "netstack.wire.tcp:TcpCodec", "netstack.wire.tcp",
              "TCP header and options parse/build, with the pseudo-header checksum"),
        _unit("arp", "netstack.stages.arp:ArpUnit", "netstack.stages.arp:ArpStage",
              "ARP: requests, replies, the pending queue, gratuitous ARP"),
        _unit("arp_table", "netstack.stages.arp_table:ArpTableUnit",
              "netstack.stages.arp_table:ArpTable", "the neighbour table and its aging"),
        _unit("ipv4", "netstack.stages.ipv4:Ipv4Unit", "netstack.stages.ipv4:Ipv4Stage",
              "IPv4 input and output, with routing"),
        _unit("fragmentation", "netstack.stages.fragmentation:FragmentationUnit",
              "netstack.stages.fragmentation", "cutting a datagram to the MTU"),
        _unit("reassembly", "netstack.stages.reassembly:ReassemblyUnit",
              "netstack.stages.reassembly:Reassembler", "putting fragments back together"),
        _unit("icmp", "netstack.stages.icmp:IcmpUnit", "netstack.stages.icmp:IcmpStage",
              "ICMP echo, errors and their rate limit"),
        _unit("udp", "netstack.stages.udp:UdpUnit", "netstack.stages.udp:UdpStage",
              "UDP and its port table"),
        _unit("tcp_seq", "netstack.stages.tcp.seq:SeqUnit", "netstack.stages.tcp.seq:Seq",
              "TCP sequence number arithmetic modulo 2^32 (graded by its tests alone: the"
              " stack keeps the reference Seq, see stages/tcp/seq.py)"),
        _unit("tcp_receiver", "netstack.stages.tcp.receiver:ReceiverUnit",
              "netstack.stages.tcp.receiver:Receiver",
              "TCP receiving: reassembly, the window, ACK generation"),
        _unit("tcp_sender", "netstack.stages.tcp.sender:SenderUnit",
              "netstack.stages.tcp.sender:Sender",
              "TCP sending: segmentation, the retransmission queue"),
        _unit("tcp_rto", "netstack.stages.tcp.rto:RtoUnit", "netstack.stages.tcp.rto:RtoEstimator",
              "the retransmission timeout estimator (RFC 6298)"),
        _unit("tcp_connection", "netstack.stages.tcp.connection_unit:ConnectionUnit",
              "netstack.stages.tcp.connection:TcpConnection",
              "the TCP connection state machine (RFC 9293 §3.10)"),
        _unit("congestion", "netstack.stages.tcp.congestion:CongestionControl",
              "netstack.stages.tcp.congestion:Reno",
              "congestion control (the stack-wide default; TCP_CONGESTION still picks per socket)"),
    ]
)


def load(path: str, what: str) -> Any:
    """Import "package.module:attribute" (or "package.module"); ImplError says what failed."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a student's module may raise anything while importing
        detail = " ".join(str(exc).split())  # one line, whatever the message looked like
        raise ImplError(f"{what}: cannot import {module_name!r}: {type(exc).__name__}: {detail}") from None
    if not attribute:
        return module
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImplError(f"{what}: module {module_name!r} has no {attribute!r}") from None
    return obj


def interface_members(protocol: type) -> list[str]:
    """The names a Protocol (or abstract base) declares: methods, properties, attributes."""
    names: list[str] = []
    for klass in reversed(protocol.__mro__):
        if klass in (object,) or klass.__module__ == "typing" or klass.__name__ == "Generic":
            continue
        for name in list(vars(klass).get("__annotations__", {})) + list(vars(klass)):
            if name.startswith("__") or name.startswith("_abc") or name in names:
                continue
            if name.startswith("_") and name not in ("_",):
                continue
            names.append(name)
    return names


def missing_members(obj: Any, protocol: type) -> list[str]:
    """Members of `protocol` that `obj` lacks. A class is checked for its methods and
    class-level attributes; attributes a class sets in __init__ are looked for in the
    __init__ source, since they exist only on instances."""
    init_source = ""
    if inspect.isclass(obj):
        # Every __init__ along the MRO: a subclass's own __init__ often calls super().
        for klass in obj.__mro__:
            init = vars(klass).get("__init__")
            if init is None or klass is object:
                continue
            try:
                init_source += inspect.getsource(init)
            except (OSError, TypeError):
                pass
    missing = []
    for name in interface_members(protocol):
        if hasattr(obj, name):
            continue
        if init_source and f"self.{name}" in init_source:
            continue
        missing.append(name)
    return missing


def resolve_units(impl: Mapping[str, Any] | None = None) -> SimpleNamespace:
    """Every unit's implementation: the reference, or the replacement `impl` names.

    The result has one attribute per unit name (`units.arp`, `units.checksum`...)."""
    impl = dict(impl or {})
    unknown = sorted(set(impl) - set(UNITS))
    if unknown:
        raise ImplError(
            f"unknown unit {unknown[0]!r} in impl (units: {', '.join(UNITS)})"
        )
    chosen = {}
    for name, unit in UNITS.items():
        given = impl.get(name)
        if given is None:
            chosen[name] = load(unit.reference, f"unit {name!r} (reference)")
            continue
        obj = load(given, f"unit {name!r}") if isinstance(given, str) else given
        interface = load(unit.interface, f"unit {name!r} interface")
        missing = missing_members(obj, interface)
        if missing:
            label = given if isinstance(given, str) else getattr(obj, "__name__", repr(obj))
            raise ImplError(
                f"unit {name!r}: {label} does not implement {unit.interface.split(':')[1]}:"
                f" missing {', '.join(missing)}"
            )
        chosen[name] = obj
    return SimpleNamespace(**chosen)


def parse_impl_argument(text: str, source: str = "--impl") -> tuple[str, str]:
    """"unit=package.module:Attribute" -> (unit, path). `source` names where it came from
    in errors: "--impl" (a flag, pytest's or netstack run's) or "impl" (a config file)."""
    unit, sep, path = text.partition("=")
    unit, path = unit.strip(), path.strip()
    if not sep or not unit or not path:
        raise ImplError(f"{source} {text!r}: expected UNIT=package.module:Attribute")
    if unit not in UNITS:
        raise ImplError(f"{source} {text!r}: unknown unit {unit!r} (units: {', '.join(UNITS)})")
    return unit, path
