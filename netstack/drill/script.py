"""What a parsed packetdrill script is: options, then events, each at a time.

Times are packetdrill's: `0.1` is absolute (seconds since the script started), `+0.1` is
relative to the previous event, `*` is "whenever it comes", `0.1~0.2` is a range, and a
system call may say when it must return with `start...end`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ScriptError(Exception):
    """A script the runner cannot run: bad syntax, or a feature it does not support.

    `unsupported` scripts are never passed: the report says "unsupported: FEATURE at line N".
    """

    def __init__(self, message: str, line: int, unsupported: bool = False) -> None:
        self.message = message
        self.line = line
        self.unsupported = unsupported
        prefix = "unsupported: " if unsupported else "script error: "
        super().__init__(f"{prefix}{message} at line {line}")


def unsupported(feature: str, line: int) -> ScriptError:
    return ScriptError(feature, line, unsupported=True)


@dataclass(frozen=True)
class Time:
    """One point of an event's time: a value, relative to the previous event or not."""

    value: float
    relative: bool = False

    def __str__(self) -> str:
        return f"+{self.value:g}" if self.relative else f"{self.value:g}"


@dataclass(frozen=True)
class When:
    """An event's time: `start` (or `start~end` for a range), `*` for any, and for a
    blocking system call the time it must return by (`start...returns`)."""

    start: Time | None  # None: any time (`*`)
    end: Time | None = None  # the range's end
    returns: Time | None = None  # a blocking call's end


# --- packets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TcpOptionSpec:
    """One TCP option as a script writes it: kind is mss, wscale, sackOK, sack, TS, nop or eol."""

    kind: str
    values: tuple[int, ...] = ()  # mss: (mss,); wscale: (shift,); TS: (val, ecr); sack: edges


@dataclass(frozen=True)
class TcpSpec:
    flags: str  # packetdrill's letters: S F R P . E W U
    seq: int
    end: int
    length: int
    ack: int | None = None
    window: int | None = None
    options: tuple[TcpOptionSpec, ...] | None = ()  # None: `<...>`, any options

    def describe(self) -> str:
        text = f"{self.flags} {self.seq}:{self.end}({self.length})"
        if self.ack is not None:
            text += f" ack {self.ack}"
        if self.window is not None:
            text += f" win {self.window}"
        if self.options is None:
            text += " <...>"
        elif self.options:
            text += " <" + ",".join(describe_option(o) for o in self.options) + ">"
        return text


def describe_option(option: TcpOptionSpec) -> str:
    v = option.values
    if option.kind == "TS":
        return f"TS val {v[0]} ecr {v[1]}"
    if option.kind == "sack":
        return "sack " + " ".join(f"{v[i]}:{v[i + 1]}" for i in range(0, len(v), 2))
    if v:
        return f"{option.kind} {v[0]}"
    return option.kind


@dataclass(frozen=True)
class UdpSpec:
    length: int

    def describe(self) -> str:
        return f"udp ({self.length})"


@dataclass(frozen=True)
class IcmpSpec:
    """An ICMP message: echo_request/echo_reply, or an error (unreachable, time_exceeded)
    that may quote a TCP segment of the connection (`[seq:end(len)]`) or a UDP datagram."""

    type_name: str
    code_name: str | None = None
    mtu: int | None = None
    quoted: TcpSpec | UdpSpec | None = None

    def describe(self) -> str:
        text = f"icmp {self.type_name}"
        if self.code_name:
            text += f" {self.code_name}"
        if self.mtu is not None:
            text += f" mtu {self.mtu}"
        if isinstance(self.quoted, TcpSpec):
            q = self.quoted
            text += f" [{q.seq}:{q.end}({q.length})]"
        elif isinstance(self.quoted, UdpSpec):
            text += f" [udp ({self.quoted.length})]"
        return text


# --- system-call arguments -------------------------------------------------------------------


class Ellipsis_:
    """`...`: an argument the runner fills in (an address, a buffer)."""

    def __repr__(self) -> str:
        return "..."


ELLIPSIS = Ellipsis_()


@dataclass(frozen=True)
class Symbol:
    """A named constant (SOCK_STREAM, O_RDWR|O_NONBLOCK is Flags of two Symbols)."""

    name: str


@dataclass(frozen=True)
class Flags:
    parts: tuple[Any, ...]  # Symbols or ints, or-ed together


@dataclass(frozen=True)
class Array:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Struct:
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str, default: Any = None) -> Any:
        for key, value in self.fields:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class Call:
    """A function in an argument: htons(8080), inet_addr("192.0.2.1")."""

    name: str
    args: tuple[Any, ...]


# --- events ------------------------------------------------------------------------------


@dataclass
class Event:
    line: int
    when: When
    text: str  # the event as written (without its time), for transcripts


@dataclass
class PacketEvent(Event):
    inbound: bool = True
    packet: TcpSpec | UdpSpec | IcmpSpec | None = None


@dataclass
class SyscallEvent(Event):
    name: str = ""
    args: tuple[Any, ...] = ()
    result: Any = 0  # an int, or ELLIPSIS for "any"
    errno: str | None = None  # ENAME when the result is -1


@dataclass
class CodeEvent(Event):
    source: str = ""


@dataclass
class CommandEvent(Event):
    command: str = ""


@dataclass
class Script:
    path: str
    options: dict[str, str] = field(default_factory=dict)  # --name=value lines
    events: list[Event] = field(default_factory=list)
