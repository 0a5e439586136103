"""Every tunable of a running stack, as a typed tree: the model behind `netstack sysctl`.

    net.ipv4.default_ttl = 64          (StackConfig fields: ARP, IPv4, reassembly, ICMP, UDP)
    net.ipv4.tcp.congestion_control = newreno     (TcpConfig fields)

Each tunable knows its type, the values it allows, what it means (the comment on its field
in StackConfig or TcpConfig, read from the source: one description, kept where the field
is) and when a change takes effect:

    live              the next packet or timer uses it
    new connections   TCP: each connection keeps the config it was created with
    new entries       ARP: entries already learned keep their lifetime
    new sockets       UDP buffer sizes: open sockets keep theirs
    at start          read once when the stack starts (the ephemeral port range)

`set_value` checks the value against its range first (and says what is allowed), then
replaces the frozen config with `dataclasses.replace`, whose own checks also run, and
finally tells the reference stages that copied a value at start (the IPv4 stage's TTL,
the reassembler, the ICMP rate limiter, the ARP table). It runs on the loop thread, like
every control request, so a change never lands in the middle of a packet.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netstack.errors import ConfigError
from netstack.stack import KNI_MODES, Stack, StackConfig
from netstack.stages.tcp.config import TcpConfig
from netstack.stages.tcp.congestion import ALGORITHMS

STACK_PREFIX, TCP_PREFIX = "net.ipv4.", "net.ipv4.tcp."
# StackConfig fields that describe the interface or its wiring, not tunables: `ip addr`,
# `ip route` and `ip neigh` change those, or they are fixed for the stack's life.
NOT_TUNABLE = {"mac", "address", "gateway", "mtu", "routes", "static_arp", "kni",
               "kni_tcp_ports", "kni_udp_ports", "tcp", "impl", "random_seed"}
# A stage keeps its own copy of these (read once at start): a change is pushed to it.
PUSHED: dict[str, Callable[[Stack, Any], None]] = {
    "default_ttl": lambda s, v: setattr(s.ipv4, "default_ttl", v),
    "reassembly_timeout": lambda s, v: setattr(s.ipv4.reassembler, "timeout", v),
    "reassembly_memory_limit": lambda s, v: setattr(s.ipv4.reassembler, "memory_limit", v),
    "reassembly_max_datagrams": lambda s, v: setattr(s.ipv4.reassembler, "max_datagrams", v),
    "icmp_error_rate": lambda s, v: setattr(s.icmp.rate_limiter, "rate", v),
    "icmp_error_burst": lambda s, v: setattr(s.icmp.rate_limiter, "burst", v),
    "arp_reachable_time": lambda s, v: setattr(s.arp.table, "reachable_time", v),
    "arp_table_limit": lambda s, v: setattr(s.arp.table, "limit", v),
    "kni_mode": lambda s, v: steer_kni(s, v),
}


def steer_kni(stack: Stack, mode: str) -> None:
    """all-to-stack is "as if there were no KNI device": the stages' own `kni` switch goes
    off (and back on with the other modes, when the stack has a device at all)."""
    has_device = bool(getattr(stack, "kni_device", stack.config.kni))
    stack.config = dataclasses.replace(stack.config, kni=has_device and mode != "all-to-stack")
# Read once when the port tables are built: a change would need a new table.
AT_START = {"ephemeral_port_first", "ephemeral_port_last"}
# Read when a socket is opened: sockets already open keep theirs.
NEW_SOCKETS = {"udp_rcvbuf", "udp_sndbuf"}
# Ranges beyond "positive" (the default for numbers): (low, high), None for no bound.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "default_ttl": (1, 255), "arp_retry_jitter": (0, None), "icmp_error_rate": (0, None),
    "default_mss": (88, 65495), "delayed_ack": (0.001, 0.5), "min_rto": (0.001, None),
    "syncookies": (0, 2),
}


@dataclass(frozen=True)
class Tunable:
    name: str  # "net.ipv4.tcp.msl"
    field: str  # the dataclass field: "msl"
    section: str  # "stack" (StackConfig) or "tcp" (TcpConfig)
    kind: type  # bool, int, float or str
    description: str
    applies: str  # "live", "new connections", "new entries" or "at start"
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    positive: bool = False  # a float that must be more than zero (a time, a rate)

    def allowed(self) -> str:
        if self.kind is bool:
            return "0 or 1"
        if self.choices:
            return " or ".join(self.choices)
        if self.positive:
            return "a number > 0"
        low = "" if self.low is None else f"{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}"
        unit = "an integer" if self.kind is int else "a number"
        return f"{unit} in {low or '-inf'}..{high or 'inf'}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind.__name__, "description": self.description,
                "applies": self.applies, "allowed": self.allowed()}


def _field_comments(cls: type) -> dict[str, str]:
    """The comment on each field of a dataclass, from its source: `msl: float = 30.0  #
    maximum segment lifetime...` gives {"msl": "maximum segment lifetime..."}; a field
    without one takes the comment block right above it."""
    source = inspect.getsource(cls)
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            text = lines[node.lineno - 1]
            if "#" in text:
                comments[node.target.id] = text.split("#", 1)[1].strip()
                continue
            above = []  # else the comment block right above the field
            at = node.lineno - 2
            while at >= 0 and lines[at].strip().startswith("#"):
                above.insert(0, lines[at].strip().lstrip("#").strip())
                at -= 1
            comments[node.target.id] = " ".join(above)
    return comments


def _tunables_of(cls: type, section: str, prefix: str, skip: set[str]) -> list[Tunable]:
    comments = _field_comments(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip or f.type not in ("bool", "int", "float", "str"):
            continue
        kind = {"bool": bool, "int": int, "float": float, "str": str}[f.type]
        if section == "tcp":
            applies = "live" if f.name in {"challenge_ack_limit", "backlog_limit",
                                           "syn_queue_limit", "max_time_wait",
                                           "max_out_of_order_total", "syncookies"} else "new connections"
        elif f.name == "arp_reachable_time":
            applies = "new entries"
        elif f.name in NEW_SOCKETS:
            applies = "new sockets"
        else:
            applies = "at start" if f.name in AT_START else "live"
        low, high = RANGES.get(f.name, (None, None))
        positive = kind is float and f.name not in RANGES
        if kind is int and f.name not in RANGES:
            low = 1
        choices = ALGORITHMS if f.name == "congestion_control" else (
            KNI_MODES if f.name == "kni_mode" else ())
        out.append(Tunable(prefix + f.name, f.name, section, kind, comments.get(f.name, ""),
                           applies, low, high, choices, positive))
    return out


TUNABLES: dict[str, Tunable] = {
    t.name: t for t in _tunables_of(StackConfig, "stack", STACK_PREFIX, NOT_TUNABLE)
    + _tunables_of(TcpConfig, "tcp", TCP_PREFIX, set())
}


def find(name: str) -> Tunable:
    if name in TUNABLES:
        return TUNABLES[name]
    near = [n for n in TUNABLES if name.rsplit(".", 1)[-1] in n]
    hint = f" (did you mean {', '.join(near[:3])}?)" if near else " (netstack sysctl -a lists them)"
    raise ConfigError(f"no tunable {name}{hint}")


def get_value(stack: Stack, tunable: Tunable) -> Any:
    config = stack.tcp.config if tunable.section == "tcp" else stack.config
    return getattr(config, tunable.field)


def parse_value(tunable: Tunable, text: str | Any) -> Any:
    """The value `text` names, checked against the tunable's range; ConfigError says what
    is allowed."""
    refuse = ConfigError(f"{tunable.name}: {text!r} is not allowed ({tunable.allowed()})")
    if not isinstance(text, str):
        text = str(int(text) if isinstance(text, bool) else text)
    try:
        if tunable.kind is bool:
            if text not in ("0", "1", "true", "false"):
                raise refuse
            return text in ("1", "true")
        value = tunable.kind(text)
    except ValueError:
        raise refuse from None
    if tunable.choices and value not in tunable.choices:
        raise refuse
    if tunable.kind in (int, float) and (
            (tunable.positive and value <= 0)
            or (tunable.low is not None and value < tunable.low)
            or (tunable.high is not None and value > tunable.high)):
        raise refuse
    return value


def set_value(stack: Stack, tunable: Tunable, text: str | Any) -> Any:
    """Change a tunable on a running stack (on its loop thread); returns the new value."""
    value = parse_value(tunable, text)
    if tunable.applies == "at start":
        raise ConfigError(f"{tunable.name} is read when the stack starts: "
                          "restart the stack to change it")
    try:
        if tunable.section == "tcp":
            stack.tcp.config = dataclasses.replace(stack.tcp.config, **{tunable.field: value})
        else:
            stack.config = dataclasses.replace(stack.config, **{tunable.field: value})
    except (ConfigError, ValueError) as exc:  # the config's own checks (min_rto <= max_rto...)
        raise ConfigError(f"{tunable.name}: {exc}") from None
    push = PUSHED.get(tunable.field) if tunable.section == "stack" else None
    if push is not None:
        push(stack, value)
    return value
