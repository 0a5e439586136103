"""mahimahi's command line, read into the two link directions netstack simulates.

A mahimahi setup is a stack of shells, each running the next one as its command:

    mm-delay 30 mm-link 12mbps.trace 12mbps.trace --uplink-queue=droptail \
        --uplink-queue-args=bytes=45000

    mm-delay MS                     both directions wait MS ms (one way; nested delays add)
    mm-loss uplink|downlink RATE    that direction loses each packet with probability RATE
    mm-link UPTRACE DOWNTRACE [OPTION]...
        --once                      stop at the end of the traces instead of repeating them
        --uplink-queue=KIND, --downlink-queue=KIND
                                    infinite (the default) | droptail | drophead | codel | pie
        --uplink-queue-args=ARGS, --downlink-queue-args=ARGS
                                    "NAME=NUMBER[, NAME=NUMBER...]": bytes, packets (the
                                    limit; droptail, drophead, codel and pie need one), and
                                    in ms: target and interval (codel, both required),
                                    qdelay_ref and max_burst (pie, both required)
        --uplink-log=FILE, --downlink-log=FILE (-u FILE, -d FILE)
        --meter-uplink, --meter-downlink, --meter-uplink-delay, --meter-downlink-delay,
        --meter-all                 live graphs: accepted, not drawn (a note says so)

"Uplink" is traffic leaving the innermost shell (the program mahimahi runs, usually the
client), "downlink" traffic coming into it. mm-link reads options as GNU getopt does:
anywhere among its words up to a "--", written "--name=value" or "--name value", or as an
unambiguous prefix of the name. What follows the shells (a program, `-- bash`...) is ignored,
with a note: netstack runs the scenario's own applications.

Where the model differs, a note says so rather than staying silent:
  - netstack's stages run rate -> queue -> delay -> loss. For uplink that is mahimahi's order
    when mm-loss and mm-delay wrap mm-link (as they usually do); for downlink mahimahi applies
    the outer shells first. A downlink loss outside mm-link therefore drops packets before
    its queue in mahimahi but after it here (a note says so). An outer downlink delay only
    shifts when packets meet the trace, which on a varying trace is a phase shift.
  - mm-link's PIE has a fixed 30 ms update period (the spec's `interval`) and a max_burst
    LinkSpec has no field for (a note records it).
mm-onoff (random, exponentially distributed off periods during which packets are dropped)
has no netstack stage; it is refused with that reason rather than approximated.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from netstack.errors import ConfigError
from netstack.sim.link.spec import LinkSpec, LossSpec, QueueSpec, RateSpec
from netstack.sim.link.trace import trace_name
from netstack.sim.mahimahi.log import MahimahiLog, describe_queue
from netstack.sim.mahimahi.traces import read_trace_file, resolve_trace

QUEUE_KINDS = ("infinite", "droptail", "drophead", "codel", "pie")
QUEUE_ARGS = ("bytes", "packets", "target", "interval", "qdelay_ref", "max_burst")
PIE_UPDATE_PERIOD = 0.030  # mm-link's PIE recomputes its drop probability every 30 ms
# option name -> takes a value
LINK_OPTIONS = {
    "uplink-log": True, "downlink-log": True, "once": False,
    "meter-uplink": False, "meter-downlink": False, "meter-uplink-delay": False,
    "meter-downlink-delay": False, "meter-all": False,
    "uplink-queue": True, "downlink-queue": True,
    "uplink-queue-args": True, "downlink-queue-args": True,
}
SHORT_OPTIONS = {"u": "uplink-log", "d": "downlink-log"}
NOT_SUPPORTED = {
    "mm-onoff": "it drops packets during random off periods, which no netstack link stage "
                "models (a trace with outages gives the same effect)",
    "mm-meter": "live graphs are not drawn (`netstack sim plot` draws them after the run)",
    "mm-webrecord": "netstack runs its own applications, not recorded web pages",
    "mm-webreplay": "netstack runs its own applications, not recorded web pages",
}
DIRECTIONS = ("uplink", "downlink")


@dataclass
class MahimahiSetup:
    """Both directions of a mahimahi command line, and what the adapter could not carry."""

    uplink: LinkSpec
    downlink: LinkSpec
    notes: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # the command, split into words
    uplink_trace: str | None = None  # trace names as given on the command line
    downlink_trace: str | None = None
    uplink_log: str | None = None  # --uplink-log / --downlink-log, if given
    downlink_log: str | None = None
    link_command_line: str = ""  # mm-link's words, quoted as its log's "# command line:"
    shell_prefix: str | None = None  # the shells around mm-link: "# mahimahi config:"

    def spec(self, direction: str) -> LinkSpec:
        return self.uplink if direction == "uplink" else self.downlink

    def log(self, path: str | Path, direction: str, **kwargs) -> MahimahiLog:
        """A log writer for one direction whose headers are those mm-link would write (with
        the --uplink-log/--downlink-log name, if the command gave one)."""
        trace = self.uplink_trace if direction == "uplink" else self.downlink_trace
        given = self.uplink_log if direction == "uplink" else self.downlink_log
        if given:
            kwargs.setdefault("log_name", given)
        kwargs.setdefault("trace_name", trace or "none")
        kwargs.setdefault("queue_desc", describe_queue(self.spec(direction).queue))
        kwargs.setdefault("command_line", self.link_command_line)
        kwargs.setdefault("config", self.shell_prefix)
        return MahimahiLog(path, direction=direction, **kwargs)


def shell_quote(word: str) -> str:
    """A word the way mm-link quotes it in its log: in single quotes, ' written '\\''."""
    return "'" + word.replace("'", "'\\''") + "'"


def parse_mm_command(command: str | Sequence[str], *,
                     base_dir: str | Path | None = None) -> MahimahiSetup:
    """The LinkSpecs a mahimahi command line sets up (see the module docstring). Trace paths
    resolve against `base_dir` (the current directory if None), then, for a bare file name,
    among netstack's shipped traces. A bad command raises ConfigError naming the bad word."""
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise ConfigError(f"mahimahi command: cannot split it into words ({exc})") from None
    else:
        words = [str(w) for w in command]
    if not words:
        raise ConfigError("mahimahi command: empty (expected e.g. 'mm-delay 30 mm-link "
                          "up.trace down.trace')")
    builder = _Builder(words, base_dir)
    rest = words
    while rest:
        shell = PurePosixPath(rest[0]).name
        if shell == "mm-delay":
            rest = builder.delay(rest)
        elif shell == "mm-loss":
            rest = builder.loss(rest)
        elif shell == "mm-link":
            rest = builder.link(rest)
        elif shell in NOT_SUPPORTED:
            raise ConfigError(f"mahimahi command: {rest[0]} is not supported: "
                              f"{NOT_SUPPORTED[shell]}")
        elif shell.startswith("mm-"):
            raise ConfigError(f"mahimahi command: unknown shell {rest[0]!r} (netstack knows "
                              f"mm-delay, mm-loss and mm-link)")
        elif rest is words:
            raise ConfigError(f"mahimahi command: {rest[0]!r} is not a mahimahi shell "
                              f"(expected mm-delay, mm-loss or mm-link)")
        else:
            builder.notes.append(f"command {shlex.join(rest)!r} ignored: netstack runs the "
                                 f"scenario's applications instead")
            break
    return builder.setup()


class _Builder:
    """What the shells said so far, outermost first."""

    def __init__(self, words: list[str], base_dir: str | Path | None) -> None:
        self.words = words
        self.base_dir = base_dir
        self.notes: list[str] = []
        self.delay_ms = 0
        self.losses: dict[str, list[tuple[float, bool]]] = {d: [] for d in DIRECTIONS}
        self.prefix = ""  # the prompt prefix the shells around mm-link set
        self.rate = {d: RateSpec() for d in DIRECTIONS}
        self.queue = {d: QueueSpec() for d in DIRECTIONS}
        self.traces: dict[str, str | None] = {d: None for d in DIRECTIONS}
        self.logs: dict[str, str | None] = {d: None for d in DIRECTIONS}
        self.link_command_line = ""
        self.seen_link = False

    # --- the shells ----------------------------------------------------------------------

    def delay(self, rest: list[str]) -> list[str]:
        if len(rest) < 2:
            raise ConfigError(f"{rest[0]}: missing DELAY-MS (the one-way delay in ms)")
        text = rest[1]
        if not re.fullmatch(r"[0-9]+", text):
            raise ConfigError(f"{rest[0]}: delay {text!r} must be a whole number of ms")
        self.delay_ms += int(text)
        self._around_link(f"[delay {int(text)} ms] ")
        return rest[2:]

    def loss(self, rest: list[str]) -> list[str]:
        if len(rest) < 2:
            raise ConfigError(f"{rest[0]}: missing 'uplink' or 'downlink'")
        direction = rest[1]
        if direction not in DIRECTIONS:
            raise ConfigError(f"{rest[0]}: direction {direction!r} must be 'uplink' or "
                              f"'downlink'")
        if len(rest) < 3:
            raise ConfigError(f"{rest[0]} {direction}: missing RATE (a loss probability)")
        text = rest[2]
        try:
            rate = float(text)
        except ValueError:
            rate = -1.0
        if "_" in text or not 0 <= rate <= 1:
            raise ConfigError(f"{rest[0]} {direction}: loss rate {text!r} must be a number "
                              f"between 0 and 1")
        self.losses[direction].append((rate, not self.seen_link))
        self._around_link(f"[loss {direction[:-4]}={text}] ")
        return rest[3:]

    def link(self, rest: list[str]) -> list[str]:
        name = rest[0]
        if self.seen_link:
            raise ConfigError(f"mahimahi command: {name} given twice: netstack models one "
                              f"link per direction")
        self.seen_link = True
        self.link_command_line = " ".join(shell_quote(w) for w in rest)
        options, positional = _getopt(rest)
        if len(positional) < 2:
            which = "UPLINK-TRACE" if not positional else "DOWNLINK-TRACE"
            raise ConfigError(f"{name}: missing {which} (usage: mm-link UPLINK-TRACE "
                              f"DOWNLINK-TRACE [OPTION]... [COMMAND])")
        once = False
        kinds = {d: "infinite" for d in DIRECTIONS}
        args = {d: "" for d in DIRECTIONS}
        for option, value in options:
            if option == "once":
                once = True
            elif option.startswith("meter-"):
                self.notes.append(f"{name} --{option}: live graphs are not drawn; "
                                  f"`netstack sim plot` draws them after the run")
            elif option.endswith("-log"):
                direction = option[:-4]
                self.logs[direction] = value
                self.notes.append(f"{name} --{option}={value}: recorded; the run writes "
                                  f"every link's log in its directory (links/)")
            elif option.endswith("-queue"):
                kinds[option[:-6]] = value
            else:  # --uplink-queue-args / --downlink-queue-args
                args[option[:-11]] = value
        schedules: dict[Path, list[int]] = {}
        for direction, trace in zip(DIRECTIONS, positional[:2], strict=True):
            try:
                path = resolve_trace(trace, self.base_dir)
                if path not in schedules:
                    schedules[path] = read_trace_file(path)
            except ConfigError as exc:
                raise ConfigError(f"{name} {direction.upper()}-TRACE: {exc}") from None
            self.traces[direction] = trace
            self.rate[direction] = RateSpec(kind="trace", trace=trace_name(path), once=once)
            self.queue[direction] = self._queue(name, direction, kinds[direction],
                                                args[direction])
        return positional[2:]

    # --- helpers -------------------------------------------------------------------------

    def _around_link(self, prefix: str) -> None:
        if not self.seen_link:
            self.prefix += prefix

    def _queue(self, name: str, direction: str, kind: str, text: str) -> QueueSpec:
        where = f"{name} --{direction}-queue"
        if kind not in QUEUE_KINDS:
            raise ConfigError(f"{where}: unknown queue type {kind!r} (expected "
                              f"{', '.join(QUEUE_KINDS)})")
        where = f"{where}-args"
        values = _queue_args(text, where)
        if kind == "infinite":
            if text.strip():
                raise ConfigError(f"{where}: an infinite queue takes no arguments, got "
                                  f"{text!r}")
            return QueueSpec(kind="infinite")
        packets, nbytes = values.pop("packets", 0), values.pop("bytes", 0)
        if not packets and not nbytes:
            raise ConfigError(f"{where}: a {kind} queue needs a limit, bytes=N or packets=N "
                              f"(mm-link refuses it too), got {text!r}")
        needed = {"codel": ("target", "interval"), "pie": ("qdelay_ref", "max_burst")}
        for key in needed.get(kind, ()):
            if not values.get(key):
                raise ConfigError(f"{where}: a {kind} queue needs {key}=N (ms, above 0), got "
                                  f"{text!r}")
        limits = {"packets": packets or None, "bytes": nbytes or None}
        if kind == "codel":
            queue = QueueSpec(kind="codel", target=values.pop("target") / 1000.0,
                              interval=values.pop("interval") / 1000.0, **limits)
        elif kind == "pie":
            queue = QueueSpec(kind="pie", target=values.pop("qdelay_ref") / 1000.0,
                              interval=PIE_UPDATE_PERIOD, **limits)
            self.notes.append(f"{where}: max_burst={values.pop('max_burst')} ms has no "
                              f"LinkSpec field; netstack's PIE uses its own burst allowance")
        else:
            queue = QueueSpec(kind=kind, **limits)
        for key, value in values.items():
            self.notes.append(f"{where}: {key}={value} ignored by a {kind} queue, as mm-link "
                              f"ignores it")
        return queue

    def setup(self) -> MahimahiSetup:
        specs = {}
        for direction in DIRECTIONS:
            losses = self.losses[direction]
            p = losses[0][0] if len(losses) == 1 else 0.0
            if len(losses) > 1:
                kept = 1.0
                for rate, _ in losses:
                    kept *= 1.0 - rate  # a packet survives only if every shell spares it
                p = 1.0 - kept
                self.notes.append(f"{direction}: {len(losses)} mm-loss shells combine into "
                                  f"one loss probability {p:.6g}")
            before_link = [rate for rate, outside in losses
                           if rate > 0 and self.seen_link
                           and outside == (direction == "downlink")]
            if before_link:
                self.notes.append(f"{direction}: mahimahi drops the mm-loss packets before "
                                  f"they reach mm-link's queue; netstack drops them after it "
                                  f"(they take queue space and appear in the link log)")
            specs[direction] = LinkSpec(
                rate=self.rate[direction], queue=self.queue[direction],
                delay=self.delay_ms / 1000.0,
                loss=LossSpec(kind="iid", p=p) if p > 0 else LossSpec())
        if not self.seen_link:
            self.notes.append("no mm-link: both directions have no rate limit and no queue")
        return MahimahiSetup(
            uplink=specs["uplink"], downlink=specs["downlink"], notes=self.notes,
            words=list(self.words), uplink_trace=self.traces["uplink"],
            downlink_trace=self.traces["downlink"], uplink_log=self.logs["uplink"],
            downlink_log=self.logs["downlink"],
            link_command_line=self.link_command_line or " ".join(map(shell_quote, self.words)),
            shell_prefix=self.prefix if self.seen_link and self.prefix else None)


def _getopt(argv: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """mm-link's options and its other words, read as GNU getopt_long reads them: options may
    come anywhere before "--", so they are taken from the nested shells' words too."""
    name = argv[0]
    options: list[tuple[str, str]] = []
    positional: list[str] = []
    i = 1
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            positional.extend(argv[i:])
            break
        if word.startswith("--"):
            given, has_value, value = word[2:].partition("=")
            option = _long_option(name, given)
            if LINK_OPTIONS[option] and not has_value:
                if i >= len(argv):
                    raise ConfigError(f"{name}: option --{option} needs a value")
                value = argv[i]
                i += 1
            elif has_value and not LINK_OPTIONS[option]:
                raise ConfigError(f"{name}: option --{option} takes no value, got {word!r}")
            options.append((option, value))
        elif word.startswith("-") and word != "-":
            if word[1] not in SHORT_OPTIONS:
                raise ConfigError(f"{name}: unknown option {word!r} (a command with options "
                                  f"goes after '--')")
            value = word[2:]
            if not value:
                if i >= len(argv):
                    raise ConfigError(f"{name}: option {word} needs a value")
                value = argv[i]
                i += 1
            options.append((SHORT_OPTIONS[word[1]], value))
        else:
            positional.append(word)
    return options, positional


def _long_option(name: str, given: str) -> str:
    if given in LINK_OPTIONS:
        return given
    matches = [option for option in LINK_OPTIONS if option.startswith(given)] if given else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"{name}: option --{given} is ambiguous ({', '.join(matches)})")
    raise ConfigError(f"{name}: unknown option --{given} (known: "
                      f"{', '.join('--' + o for o in LINK_OPTIONS)})")


def _queue_args(text: str, where: str) -> dict[str, int]:
    """mm-link's "NAME=NUMBER[, NAME2=NUMBER2...]", whole numbers only, as it reads them."""
    values: dict[str, int] = {}
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        m = re.fullmatch(r"([a-z_]+)\s*=\s*([0-9]+)", piece)
        if not m:
            raise ConfigError(f"{where}: {piece!r} is not NAME=NUMBER (a whole number)")
        key, number = m[1], int(m[2])
        if key not in QUEUE_ARGS:
            raise ConfigError(f"{where}: unknown argument {key!r} (mm-link knows "
                              f"{', '.join(QUEUE_ARGS)})")
        if key in values:
            raise ConfigError(f"{where}: {key} given twice")
        values[key] = number
    return values
