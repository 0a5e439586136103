"""packetdrill's grammar -> a Script.

A script is lines. Options first (`--tolerance_usecs=10000`), then one event per line:

    0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0    < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
    +0    > S. 0:0(0) ack 1 <...>
    +.1   < . 1:1(0) ack 1 win 257
    0.1...0.2 read(4, ..., 1000) = 1000
    *     > F. 1:1(0) ack 1
    +0    %{ assert tcpi_snd_cwnd == 10 }%
    +0    `sysctl -q net.ipv4.tcp_sack=0`

Comments are `//` to the end of the line and `/* ... */`; a `%{ }%` block may span lines.
Anything the grammar has and the runner does not do is an error saying "unsupported" and
the line, never silently skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from netstack.drill.script import (
    ELLIPSIS,
    Array,
    Call,
    CodeEvent,
    CommandEvent,
    Event,
    Flags,
    IcmpSpec,
    PacketEvent,
    Script,
    ScriptError,
    Struct,
    Symbol,
    SyscallEvent,
    TcpOptionSpec,
    TcpSpec,
    Time,
    UdpSpec,
    When,
    unsupported,
)

KNOWN_OPTIONS = {"tolerance_usecs", "ip_version", "local_ip", "remote_ip", "bind_port",
                 "connect_port", "mtu", "init_delay_usecs", "remote_port"}
NUMBER = r"\d+(?:\.\d*)?|\.\d+"
TIME_POINT = re.compile(rf"(\+)?({NUMBER})")
TCP_FLAG_LETTERS = set("SFRP.EWU")
MAX_PAYLOAD = 65495  # what fits in one IPv4 packet with a TCP header (65535 - 20 - 20)
ICMP_TYPES = {"echo_request", "echo_reply", "unreachable", "time_exceeded"}


def parse_file(path: str | Path) -> Script:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"cannot read {path}: {exc}", 0) from None
    return parse(text, str(path))


def parse(text: str, path: str = "<script>") -> Script:
    script = Script(path)
    for line, statement in _statements(text):
        if statement.startswith("--"):
            if script.events:
                raise ScriptError(f"option {statement.split('=')[0]} after the first event", line)
            name, _, value = statement[2:].partition("=")
            if name not in KNOWN_OPTIONS:
                raise unsupported(f"option --{name}", line)
            script.options[name] = value.strip()
            continue
        script.events.append(_event(statement, line))
    if script.options.get("ip_version", "ipv4") != "ipv4":
        raise unsupported(f"--ip_version={script.options['ip_version']} (IPv4 only)", 1)
    return script


# --- lines -------------------------------------------------------------------------------


def _statements(text: str) -> list[tuple[int, str]]:
    """(line number, statement) for each non-empty statement, comments removed; a `%{ }%`
    block is one statement starting on the line where it opens."""
    statements: list[tuple[int, str]] = []
    lines = text.split("\n")
    i = 0
    in_comment = False
    while i < len(lines):
        number, line = i + 1, lines[i]
        i += 1
        line, in_comment = _strip_comments(line, in_comment)
        if "%{" in line and "}%" not in line.split("%{", 1)[1]:
            block = [line]
            while i < len(lines) and "}%" not in lines[i]:
                block.append(lines[i])
                i += 1
            if i == len(lines):
                raise ScriptError("%{ block never closed with }%", number)
            block.append(lines[i])
            i += 1
            line = "\n".join(block)
        line = line.strip()
        if line:
            statements.append((number, line))
    if in_comment:
        raise ScriptError("/* comment never closed", len(lines))
    return statements


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    out, j = [], 0
    in_backticks = False
    while j < len(line):
        if in_comment:
            end = line.find("*/", j)
            if end < 0:
                return "".join(out), True
            j, in_comment = end + 2, False
            continue
        ch = line[j]
        if ch == "`":
            in_backticks = not in_backticks
        elif not in_backticks and line.startswith("//", j):
            break
        elif not in_backticks and line.startswith("/*", j):
            in_comment = True
            j += 2
            continue
        out.append(ch)
        j += 1
    return "".join(out), in_comment


# --- times -------------------------------------------------------------------------------


def _time_point(text: str, line: int) -> Time:
    match = TIME_POINT.fullmatch(text)
    if not match:
        raise ScriptError(f"bad time {text!r}", line)
    return Time(float(match.group(2)), relative=bool(match.group(1)))


def _when(token: str, line: int) -> When:
    if token == "*":
        return When(None)
    if token.startswith("-"):
        raise ScriptError(f"negative time {token!r}", line)
    if "..." in token:
        start, _, end = token.partition("...")
        return When(_time_point(start, line), returns=_time_point(end, line))
    if "~" in token:
        start, _, end = token.partition("~")
        return When(_time_point(start, line), end=_time_point(end, line))
    return When(_time_point(token, line))


# --- events ------------------------------------------------------------------------------


def _event(statement: str, line: int) -> Event:
    match = re.match(r"(\S+)\s+(.*)", statement, re.S)
    if not match:
        raise ScriptError(f"an event needs a time and something after it: {statement!r}", line)
    when = _when(match.group(1), line)
    rest = match.group(2).strip()
    if rest[0] in "<>":
        if when.returns is not None:
            raise ScriptError("only a system call can have an end time (...)", line)
        packet = _packet(rest[1:].strip(), line)
        return PacketEvent(line, when, rest, inbound=rest[0] == "<", packet=packet)
    if rest.startswith("%{"):
        if not rest.endswith("}%"):
            raise ScriptError("text after }%", line)
        return CodeEvent(line, when, rest, source=rest[2:-2])
    if rest.startswith("`"):
        if not rest.endswith("`") or len(rest) < 2:
            raise ScriptError("a command must end with a backtick", line)
        return CommandEvent(line, when, rest, command=rest[1:-1].strip())
    return _syscall(rest, when, line)


# --- packets -----------------------------------------------------------------------------


def _packet(text: str, line: int) -> TcpSpec | UdpSpec | IcmpSpec:
    if text.startswith("["):
        raise unsupported(f"IP-level field {text.split(']')[0]}]", line)
    if text.startswith("("):
        raise unsupported("IP header fields in parentheses", line)
    word = text.split(" ", 1)[0].rstrip(":")
    if word == "udp":
        return _udp(text, line)
    if word == "icmp":
        return _icmp(text, line)
    if word in ("sctp", "udplite", "gre", "mpls", "ipv6", "ipv4"):
        raise unsupported(f"{word} packets", line)
    return _tcp(text, line)


def _udp(text: str, line: int) -> UdpSpec:
    match = re.fullmatch(r"udp\s*\((\d+)\)", text)
    if not match:
        raise ScriptError(f"bad UDP packet {text!r} (expected: udp (LENGTH))", line)
    length = int(match.group(1))
    if length > MAX_PAYLOAD:
        raise ScriptError(f"udp ({length}): a datagram carries at most {MAX_PAYLOAD} bytes", line)
    return UdpSpec(length)


def _icmp(text: str, line: int) -> IcmpSpec:
    quoted: TcpSpec | UdpSpec | None = None
    if "[" in text:
        text, _, inner = text.partition("[")
        inner = inner.rstrip()
        if not inner.endswith("]"):
            raise ScriptError("an ICMP error's quoted packet must end with ]", line)
        inner = inner[:-1].strip()
        if inner.startswith("udp"):
            quoted = _udp(inner, line)
        else:
            match = re.fullmatch(r"(\d+):(\d+)\((\d+)\)", inner)
            if not match:
                raise unsupported(f"quoted packet [{inner}]", line)
            seq, end, length = (int(g) for g in match.groups())
            quoted = TcpSpec("", seq, end, length)
    words = text.split()[1:]
    if not words or words[0] not in ICMP_TYPES:
        raise unsupported(f"ICMP type {' '.join(words[:1]) or '(none)'}", line)
    spec: dict[str, Any] = {"type_name": words[0]}
    rest = words[1:]
    if rest and rest[0] != "mtu":
        spec["code_name"] = rest.pop(0)
    if rest[:1] == ["mtu"]:
        if len(rest) < 2 or not rest[1].isdigit():
            raise ScriptError("mtu needs a number", line)
        spec["mtu"] = int(rest[1])
        rest = rest[2:]
    if rest:
        raise unsupported(f"ICMP field {' '.join(rest)}", line)
    return IcmpSpec(**spec, quoted=quoted)


_TCP_HEAD = re.compile(r"(\S+)\s+(\d+):(\d+)\((\d+)\)\s*(.*)", re.S)


def _tcp(text: str, line: int) -> TcpSpec:
    match = _TCP_HEAD.fullmatch(text)
    if not match:
        raise ScriptError(f"bad packet {text!r} (expected: FLAGS SEQ:END(LEN) ...)", line)
    flags, seq, end, length, rest = match.groups()
    if not set(flags) <= TCP_FLAG_LETTERS:
        raise ScriptError(f"bad TCP flags {flags!r} (letters: S F R P . E W U)", line)
    seq_n, end_n, length_n = int(seq), int(end), int(length)
    if max(seq_n, end_n) >= 2**32 or length_n > MAX_PAYLOAD:
        raise ScriptError(f"{seq}:{end}({length}): out of range (sequence numbers are 32-bit, "
                          f"a segment carries at most {MAX_PAYLOAD} bytes)", line)
    if (end_n - seq_n) % 2**32 != length_n:
        raise ScriptError(f"{seq}:{end}({length}): the length is not end - start", line)
    fields: dict[str, Any] = {}
    options: tuple[TcpOptionSpec, ...] | None = ()
    rest = rest.strip()
    while rest:
        if rest.startswith("<"):
            close = rest.find(">")
            if close < 0:
                raise ScriptError("TCP options must end with >", line)
            options = _tcp_options(rest[1:close].strip(), line)
            rest = rest[close + 1:].strip()
            continue
        match = re.match(r"(\w+)\s+(\d+)\s*", rest)
        if not match:
            raise ScriptError(f"cannot read {rest!r}", line)
        name, value = match.group(1), int(match.group(2))
        if name not in ("ack", "win"):
            raise unsupported(f"TCP field {name!r}", line)
        fields["window" if name == "win" else "ack"] = value
        rest = rest[match.end():]
    return TcpSpec(flags, seq_n, end_n, length_n, options=options, **fields)


def _tcp_options(text: str, line: int) -> tuple[TcpOptionSpec, ...] | None:
    if text == "...":
        return None
    options = []
    for part in (p.strip() for p in text.split(",")):
        words = part.split()
        if not words:
            raise ScriptError("an empty TCP option", line)
        kind, args = words[0], words[1:]
        if kind in ("nop", "eol", "sackOK") and not args:
            options.append(TcpOptionSpec(kind))
        elif kind in ("mss", "wscale") and len(args) == 1 and args[0].isdigit():
            options.append(TcpOptionSpec(kind, (int(args[0]),)))
        elif kind == "TS" and len(args) == 4 and args[0] == "val" and args[2] == "ecr" \
                and args[1].isdigit() and args[3].isdigit():
            options.append(TcpOptionSpec("TS", (int(args[1]), int(args[3]))))
        elif kind == "sack" and args:
            edges: list[int] = []
            for block in args:
                match = re.fullmatch(r"(\d+):(\d+)", block)
                if not match:
                    raise ScriptError(f"bad SACK block {block!r}", line)
                edges += [int(match.group(1)), int(match.group(2))]
            options.append(TcpOptionSpec("sack", tuple(edges)))
        elif kind in ("mss", "wscale", "TS", "sack", "nop", "eol", "sackOK"):
            raise ScriptError(f"bad TCP option {part!r}", line)
        else:
            raise unsupported(f"TCP option {kind!r}", line)
    return tuple(options)


# --- system calls ------------------------------------------------------------------------


_RESULT = re.compile(r"=\s*(-?\d+|-?0x[0-9a-fA-F]+|\.\.\.)\s*(?:(E[A-Z0-9]+))?\s*(?:\(.*\))?\s*",
                     re.S)


def _syscall(text: str, when: When, line: int) -> SyscallEvent:
    match = re.match(r"([a-z_][a-z0-9_]*)\s*\(", text)
    if not match:
        raise ScriptError(f"cannot read {text!r}", line)
    name = match.group(1)
    tokens = _ArgTokens(text, match.end(), line)
    args = tokens.arguments()
    rest = text[tokens.pos:].strip()
    result = _RESULT.fullmatch(rest)
    if not result:
        raise ScriptError(f"a system call needs '= RESULT' after it, not {rest!r}", line)
    value_text, errno = result.group(1), result.group(2)
    value: Any = ELLIPSIS if value_text == "..." else int(value_text, 0)
    if errno and value != -1:
        raise ScriptError(f"{errno} goes with a result of -1", line)
    return SyscallEvent(line, when, text, name=name, args=tuple(args), result=value,
                        errno=errno)


class _ArgTokens:
    """A little recursive-descent reader for system-call arguments."""

    TOKEN = re.compile(r"\s*(\.\.\.|0x[0-9a-fA-F]+|-?\d+|\"(?:[^\"\\]|\\.)*\"|[A-Za-z_]\w*|"
                       r"[\[\]{}(),=|])")

    def __init__(self, text: str, pos: int, line: int) -> None:
        self.text, self.pos, self.line = text, pos, line

    def _peek(self) -> str | None:
        match = self.TOKEN.match(self.text, self.pos)
        return match.group(1) if match else None

    def _take(self) -> str:
        match = self.TOKEN.match(self.text, self.pos)
        if not match:
            rest = self.text[self.pos:].strip()[:20]
            raise ScriptError(f"cannot read the arguments at {rest!r}", self.line)
        self.pos = match.end()
        return match.group(1)

    def _expect(self, token: str) -> None:
        got = self._take()
        if got != token:
            raise ScriptError(f"expected {token!r} in the arguments, got {got!r}", self.line)

    def arguments(self) -> list[Any]:
        return self._sequence(")")

    def _sequence(self, close: str) -> list[Any]:
        items: list[Any] = []
        if self._peek() == close:
            self._take()
            return items
        while True:
            items.append(self._expression())
            token = self._take()
            if token == close:
                return items
            if token != ",":
                raise ScriptError(f"expected ',' or {close!r}, got {token!r}", self.line)

    def _expression(self) -> Any:
        parts = [self._atom()]
        while self._peek() == "|":
            self._take()
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else Flags(tuple(parts))

    def _atom(self) -> Any:
        token = self._take()
        if token == "...":
            return ELLIPSIS
        if token == "[":
            return Array(tuple(self._sequence("]")))
        if token == "{":
            return self._struct()
        if token.startswith('"'):
            return bytes(token[1:-1], "utf-8").decode("unicode_escape")
        if token[0].isdigit() or token[0] == "-":
            return int(token, 0)
        if token[0].isalpha() or token[0] == "_":
            if self._peek() == "(":
                self._take()
                return Call(token, tuple(self._sequence(")")))
            return Symbol(token)
        raise ScriptError(f"unexpected {token!r} in the arguments", self.line)

    def _struct(self) -> Struct:
        fields: list[tuple[str, Any]] = []
        if self._peek() == "}":
            self._take()
            return Struct(())
        while True:
            name = self._take()
            if not (name[0].isalpha() or name[0] == "_"):
                raise ScriptError(f"expected a field name in {{}}, got {name!r}", self.line)
            self._expect("=")
            fields.append((name, self._expression()))
            token = self._take()
            if token == "}":
                return Struct(tuple(fields))
            if token != ",":
                raise ScriptError(f"expected ',' or '}}', got {token!r}", self.line)
