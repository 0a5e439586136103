"""One script against one fresh stack, in virtual time.

The stack is a simulated host (netstack/sim/node.py) with no link: what it sends is queued
here with the virtual time it left, and what the script sends it is handed to it at the
script's time. Between events the simulator runs the stack's timers, so a retransmission
due at 1.2 s leaves at exactly 1.2 s; a script that waits minutes takes milliseconds.

Each event, in order:
- `<` packet, system call, `%{ }%`, command: the clock first runs to the event's time
  (any packet the stack sent more than the tolerance before then, that no `>` line took,
  is an unexpected packet), then the event happens;
- `>` packet: the clock runs until the stack sends something, or until the line's time
  plus the tolerance. Nothing by then is a missing packet (or a late one, if it comes
  within the look-ahead); a packet before the time minus the tolerance is an early one;
  then its fields are compared in the script's profile (packets.py).

Relative times (`+0.1`) count from the previous event's time: for a `>` line written with
a time, that time; for a `*` line, when the packet came; for a blocking call written with
its end (`0.1...0.3 read(...)`), that end.
"""

from __future__ import annotations

import errno as errno_module
import time as wall_clock
from collections import deque
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from netstack.drill import code, sysctl
from netstack.drill.packets import PROFILES, Conversation, PacketProblem
from netstack.drill.parser import parse_file
from netstack.drill.script import (
    ELLIPSIS,
    CodeEvent,
    CommandEvent,
    Event,
    PacketEvent,
    Script,
    ScriptError,
    SyscallEvent,
    Time,
)
from netstack.drill.syscalls import TCP_STATES, Outcome, Pending, SyscallProblem, Syscalls
from netstack.errors import ConfigError
from netstack.sim.events import Simulator
from netstack.sim.node import SimHost
from netstack.sim.packet import Packet
from netstack.wire.ethernet import mac_from_ip

ETHERTYPE_IPV4 = b"\x08\x00"
DEFAULT_TOLERANCE = 0.004  # packetdrill's default --tolerance_usecs
LATE_LOOKAHEAD = 5.0  # how long after a missing packet's time the runner looks for it
ANY_TIME_LIMIT = 600.0  # how long a `*` line waits
DEFAULTS = {"local_ip": "192.0.2.1", "remote_ip": "192.0.2.2", "bind_port": "8080",
            "connect_port": "8080", "remote_port": "40000", "mtu": "1500"}


def same_errno(wanted: str, got: str | None) -> bool:
    """Errno names compare by number: EOPNOTSUPP and ENOTSUP (EAGAIN and EWOULDBLOCK) are
    one error on Linux, whichever name Python's errorcode table prints."""
    if got is None:
        return False
    return wanted == got or getattr(errno_module, wanted, None) == getattr(errno_module, got, -1)


class Mismatch(Exception):
    """The stack did not do what the line says: the first difference, in words."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Result:
    path: str
    profile: str
    status: str  # "pass", "fail", "unsupported" or "error" (a script the runner cannot read)
    message: str = ""
    line: int | None = None
    transcript: list[str] = field(default_factory=list)
    frames: list[tuple[float, bytes]] = field(default_factory=list)  # for the pcap
    seconds: float = 0.0  # wall-clock time the run took
    virtual_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def explain(self) -> str:
        """The failure, then the transcript up to it."""
        where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        lines = [where + self.message]
        if self.transcript:
            lines.append("transcript:")
            lines.extend("  " + line for line in self.transcript)
        return "\n".join(lines)


def run_file(path: str | Path, profile: str = "strict", overrides: dict[str, str] | None = None,
             seed: int = 1) -> Result:
    started = wall_clock.perf_counter()
    try:
        script = parse_file(path)
        drill = DrillRun(script, profile, overrides or {}, seed)
    except ScriptError as exc:
        status = "unsupported" if exc.unsupported else "error"
        return Result(str(path), profile, status, str(exc).rsplit(" at line", 1)[0], exc.line)
    result = drill.run()
    result.seconds = wall_clock.perf_counter() - started
    return result


class DrillRun:
    def __init__(self, script: Script, profile: str, overrides: dict[str, str],
                 seed: int) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile {profile!r}: expected one of {', '.join(PROFILES)}")
        self.script = script
        self.profile = profile
        options = {**DEFAULTS, **script.options, **overrides}
        try:
            self.tolerance = int(options.get("tolerance_usecs", DEFAULT_TOLERANCE * 1e6)) / 1e6
            local_ip, remote_ip = IPv4Address(options["local_ip"]), IPv4Address(options["remote_ip"])
            ports = [int(options[k]) for k in ("bind_port", "connect_port", "remote_port")]
            mtu = int(options["mtu"])
        except ValueError as exc:
            raise ScriptError(f"bad option value ({exc})", 1) from None
        self.sim = Simulator(seed)
        remote_mac = mac_from_ip(remote_ip)
        try:
            self.node = SimHost(self.sim, "drill", f"{local_ip}/24", seed, mtu=mtu,
                                static_arp={remote_ip: remote_mac})
        except (ValueError, ConfigError) as exc:
            raise ScriptError(f"bad option value ({exc})", 1) from None
        self.node.transmit = self._sent
        self.conversation = Conversation(local_ip, remote_ip, self.node.mac, remote_mac,
                                         ports[0], ports[2])
        self.calls = Syscalls(self.node.host, self.conversation, ports[0], ports[1])
        self.outbound: deque[tuple[float, bytes]] = deque()
        self.frames: list[tuple[float, bytes]] = []
        self.transcript: list[str] = []
        self.previous = 0.0  # the time relative times count from
        self.pending: tuple[SyscallEvent, Pending, float] | None = None

    # --- running ----------------------------------------------------------------------

    def run(self) -> Result:
        self.node.start()
        try:
            for event in self.script.events:
                self._event(event)
            self._finish()
        except Mismatch as exc:
            first = exc.message.split("\n", 1)[0]
            self.transcript.append(f"{self.sim.now:9.4f}  {exc.line:4d}  ^^^ {first}")
            return self._result("fail", exc.message, exc.line)
        except ScriptError as exc:
            status = "unsupported" if exc.unsupported else "error"
            return self._result(status, str(exc).rsplit(" at line", 1)[0], exc.line)
        return self._result("pass", "", None)

    def _result(self, status: str, message: str, line: int | None) -> Result:
        return Result(self.script.path, self.profile, status, message, line, self.transcript,
                      self.frames, virtual_seconds=self.sim.now)

    def _sent(self, packet: Packet) -> None:
        self.frames.append((self.sim.now, packet.data))
        if packet.data[12:14] == ETHERTYPE_IPV4:  # ARP (a gratuitous one at start) is not
            self.outbound.append((self.sim.now, packet.data))  # in packetdrill's world

    def _log(self, at: float, event: Event, note: str = "") -> None:
        text = event.text.replace("\n", " ")
        self.transcript.append(f"{at:9.4f}  {event.line:4d}  {text}" + (f"   [{note}]" if note else ""))

    # --- time -------------------------------------------------------------------------

    def _point(self, point: Time) -> float:
        return self.previous + point.value if point.relative else point.value

    def _advance(self, until: float) -> None:
        """Run the stack's timers up to `until`, finishing blocking calls as they can."""
        sim = self.sim
        while (next_time := sim.next_time()) is not None and next_time <= until:
            sim.run_until(next_time)
            self._check_pending()
        sim.run_until(until)
        self._check_pending()

    def _no_stale_packets(self, at: float, line: int) -> None:
        if self.outbound and self.outbound[0][0] < at - self.tolerance:
            sent_at, frame = self.outbound[0]
            raise Mismatch(line, f"unexpected packet: the stack sent "
                                 f"{self.conversation.describe(frame, True)} at {sent_at:.4f}, "
                                 "and no > line before this one expects it")

    # --- events -----------------------------------------------------------------------

    def _event(self, event: Event) -> None:
        if isinstance(event, PacketEvent) and not event.inbound:
            self._expect(event)
            return
        start = event.when.start
        if start is None:
            raise ScriptError("* (any time) on something other than an outbound packet", event.line)
        at = self._point(start)
        if at < self.sim.now - 1e-9:
            raise ScriptError(f"time {at:.4f} is before the previous event's", event.line)
        self._advance(at)
        self._no_stale_packets(at, event.line)
        self.previous = at
        if isinstance(event, PacketEvent):
            self._inject(event, at)
        elif isinstance(event, SyscallEvent):
            self._syscall(event, at)
        elif isinstance(event, CodeEvent):
            self._code(event, at)
        elif isinstance(event, CommandEvent):
            self._command(event, at)

    def _inject(self, event: PacketEvent, at: float) -> None:
        spec = event.packet
        assert spec is not None
        try:
            frame = self.conversation.frame(spec)
        except PacketProblem as exc:
            raise ScriptError(str(exc), event.line) from None
        self._log(at, event)
        self.frames.append((at, frame))
        self.node.receive(Packet(frame, at))
        self._check_pending()

    def _expect(self, event: PacketEvent) -> None:
        when = event.when
        if when.start is None:  # from now on: a blocking call may still be waiting
            nominal = low = min(self.previous, self.sim.now)
            high = nominal + ANY_TIME_LIMIT
        else:
            nominal = self._point(when.start)
            end = self._point(when.end) if when.end is not None else nominal
            low, high = nominal - self.tolerance, end + self.tolerance
        self._run_until_sent(high)
        if not self.outbound:
            self._run_until_sent(high + LATE_LOOKAHEAD)
            if self.outbound:
                sent_at, frame = self.outbound[0]
                raise Mismatch(event.line, f"late packet: expected {event.text[1:].strip()} "
                               f"at {nominal:.4f} (within {self.tolerance:g} s); the stack sent "
                               f"{self.conversation.describe(frame, True)} at {sent_at:.4f}")
            raise Mismatch(event.line, f"missing packet: expected {event.text[1:].strip()} at "
                           f"{nominal:.4f}; the stack sent nothing by {high:.4f}")
        sent_at, frame = self.outbound.popleft()
        if sent_at < low:
            raise Mismatch(event.line, f"early packet: expected {event.text[1:].strip()} at "
                           f"{nominal:.4f} (within {self.tolerance:g} s); the stack sent "
                           f"{self.conversation.describe(frame, True)} at {sent_at:.4f}")
        assert event.packet is not None
        problem = self.conversation.check(event.packet, frame, self.profile)
        got = self.conversation.describe(frame, True)
        if problem:
            self._log(sent_at, event, f"got {got}")
            raise Mismatch(event.line, f"{problem}\n  expected: > {event.packet.describe()}\n"
                                       f"  got:      > {got}")
        self._log(sent_at, event, f"sent {got}")
        self.previous = sent_at if when.start is None else nominal

    def _run_until_sent(self, until: float) -> None:
        sim = self.sim
        while not self.outbound:
            next_time = sim.next_time()
            if next_time is None or next_time > until:
                if sim.now < until and until != float("inf"):
                    sim.run_until(until)
                    self._check_pending()
                return
            sim.run_until(next_time)
            self._check_pending()

    # --- system calls -------------------------------------------------------------------

    def _syscall(self, event: SyscallEvent, at: float) -> None:
        if self.pending is not None:
            other = self.pending[0]
            raise Mismatch(event.line, f"{event.name}() while the blocking {other.name}() of "
                           f"line {other.line} has not returned (one blocking call at a time)")
        try:
            outcome = self.calls.call(event.name, event.args, at)
        except SyscallProblem as exc:
            raise ScriptError(str(exc), event.line, unsupported=exc.unsupported) from None
        if isinstance(outcome, Pending):
            self._log(at, event, "blocks")
            if event.when.returns is not None:  # what follows it counts from its end
                self.previous = self._point(event.when.returns)
            self.pending = (event, outcome, at)
            if outcome.deadline is not None:
                self.sim.at(max(outcome.deadline, at), lambda: None)  # wake the poll then
            return
        self._returned(event, outcome, at, at)

    def _check_pending(self) -> None:
        if self.pending is None:
            return
        event, pending, started = self.pending
        outcome = pending.retry(self.sim.now)
        if outcome is not None:
            self.pending = None
            self._returned(event, outcome, started, self.sim.now)

    def _returned(self, event: SyscallEvent, outcome: Outcome, started: float,
                  now: float) -> None:
        if event.when.returns is not None:
            returns = event.when.returns
            wanted = started + returns.value if returns.relative else returns.value
            if abs(now - wanted) > self.tolerance:
                raise Mismatch(event.line, f"{event.name}() returned at {now:.4f}, wanted at "
                               f"{wanted:.4f} (within {self.tolerance:g} s)")
        got = f"{outcome.value}" + (f" {outcome.errno}" if outcome.errno else "")
        wanted_text = f"{event.result}" + (f" {event.errno}" if event.errno else "")
        errno_differs = event.errno is not None and not same_errno(event.errno, outcome.errno)
        if event.result is not ELLIPSIS and (outcome.value != event.result or errno_differs):
            raise Mismatch(event.line, f"{event.name}() returned {got}, wanted {wanted_text}")
        if outcome.problem:
            raise Mismatch(event.line, f"{event.name}(): {outcome.problem}")
        if now == started:
            self._log(now, event)
        else:
            self.transcript.append(f"{now:9.4f}  {event.line:4d}  ...{event.name}() returned {got}")

    # --- code and commands ----------------------------------------------------------------

    def _code(self, event: CodeEvent, at: float) -> None:
        sock = self.calls.last_tcp
        if sock is None:
            raise Mismatch(event.line, "%{ }% needs a TCP connection to read tcpi_* from")
        try:
            names: dict[str, Any] = {k: v for k, v in sock.info().as_dict().items()
                                     if k.startswith("tcpi_")}
        except OSError as exc:
            raise Mismatch(event.line, f"%{{ }}%: no TCP_INFO ({exc})") from None
        names.update(TCP_STATES)
        try:
            printed = code.run_block(event.source, names)
        except code.CodeUnsupported as exc:
            raise ScriptError(str(exc), event.line, unsupported=True) from None
        except (code.AssertionFailed, code.CodeError) as exc:
            raise Mismatch(event.line, str(exc)) from None
        self._log(at, event, "; ".join(printed) if printed else "holds")

    def _command(self, event: CommandEvent, at: float) -> None:
        try:
            done = sysctl.run_command(event.command, self.node.stack)
        except sysctl.CommandUnsupported as exc:
            raise ScriptError(str(exc), event.line, unsupported=True) from None
        self._log(at, event, ", ".join(done))

    # --- the end ------------------------------------------------------------------------

    def _finish(self) -> None:
        last_line = self.script.events[-1].line if self.script.events else 0
        if self.pending is not None and self.pending[0].when.returns is not None:
            event, _, started = self.pending  # the script says when it returns: wait that long
            returns = event.when.returns
            self._advance((started + returns.value if returns.relative else returns.value)
                          + self.tolerance)
        if self.pending is not None:
            event = self.pending[0]
            raise Mismatch(event.line, f"{event.name}() never returned (the script ended at "
                           f"{self.sim.now:.4f})")
        self._no_stale_packets(self.previous, last_line)
