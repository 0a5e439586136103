"""`netstack bench`: how fast the native parts and the whole stack are, as ratios.

The machines this runs on are noisy (shared CPUs, frequency scaling), so an absolute figure
says little. Every benchmark measures the subject and a reference in the same run,
interleaved, and reports the ratio subject / reference:

- ring:     netstack.native.Ring burst enqueue/dequeue of 32 items vs a collections.deque
            doing the same work (items per second, higher is better);
- checksum: netstack.native.internet_checksum vs the pure-Python reference on 64, 576 and
            1500-byte buffers (MB/s, higher is better);
- ping:     the kernel pings `netstack run` on a TAP vs a minimal C responder on a TAP
            (benchmarks/tap_responder.c), each in its own fresh network namespace (average
            RTT, lower is better). Needs root.

Each benchmark alternates rounds of the subject and of the reference and keeps each side's
best round: noise only ever makes things slower, and a noisy moment hits both sides.

    netstack bench                  # everything, about 20-30 s
    netstack bench --quick          # smaller counts, under 15 s
    netstack bench --only ping --json results.json
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from netstack.netns import (
    Namespace,
    NamespaceError,
    drain_in_background,
    is_root,
    unique_name,
    wait_for_line,
)

BENCHMARKS = ("ring", "checksum", "ping")
BURST = 32
RING_SIZE = 1024
CHECKSUM_SIZES = (64, 576, 1500)

# The test network (docs: kernel peer .1, stack/responder .2) and the responder's MAC.
KERNEL_CIDR = "192.0.2.1/24"
STACK_IP = "192.0.2.2"
STACK_CIDR = "192.0.2.2/24"
RESPONDER_MAC = "02:00:00:00:00:02"
PING_INTERVAL = "0.01"  # intervals under 0.2 s are allowed to root only, which we are here
STARTUP_TIMEOUT = 15.0  # seconds for a responder to print "ready"
WARMUP_PINGS = 5

REPO_ROOT = Path(__file__).resolve().parent.parent
RESPONDER_SOURCE = REPO_ROOT / "benchmarks" / "tap_responder.c"
BUILD_DIR = REPO_ROOT / "benchmarks" / "_build"


class BenchError(Exception):
    """A benchmark could not run; the message says why, on one line."""


class Skipped(Exception):
    """A benchmark cannot run here (not root, a tool missing); not a failure."""


@dataclass(frozen=True)
class Settings:
    """How much work each benchmark does; `--quick` picks the small one."""

    rounds: int  # interleaved subject/reference rounds, best kept
    round_seconds: float  # target duration of one timed round
    ping_count: int


DEFAULT = Settings(rounds=5, round_seconds=0.15, ping_count=300)
QUICK = Settings(rounds=3, round_seconds=0.04, ping_count=60)


@dataclass
class Result:
    name: str
    unit: str
    subject_label: str
    subject: float
    reference_label: str
    reference: float
    higher_is_better: bool
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.subject / self.reference if self.reference else float("nan")


# ---------------------------------------------------------------------------------------------
# Timing helpers


def _calibrate(fn: Callable[[int], None], target_seconds: float) -> int:
    """How many iterations of `fn` take about `target_seconds`."""
    n = 1
    while True:
        start = time.perf_counter()
        fn(n)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.005 or n >= 1 << 30:
            return max(1, int(n * target_seconds / elapsed))
        n *= 10


def best_rates(
    subject: Callable[[int], None],
    reference: Callable[[int], None],
    settings: Settings,
) -> tuple[float, float]:
    """Iterations per second of `subject` and `reference`, best of interleaved rounds.

    Each callable runs its loop `n` times itself, so the timing loop's overhead is theirs.
    Interleaving means a noisy second hurts both sides, not one.
    """
    n_subject = _calibrate(subject, settings.round_seconds)
    n_reference = _calibrate(reference, settings.round_seconds)
    best = [0.0, 0.0]
    for _ in range(settings.rounds):
        for i, (fn, n) in enumerate(((subject, n_subject), (reference, n_reference))):
            start = time.perf_counter()
            fn(n)
            best[i] = max(best[i], n / (time.perf_counter() - start))
    return best[0], best[1]


# ---------------------------------------------------------------------------------------------
# ring and checksum


def bench_ring(settings: Settings) -> list[Result]:
    try:
        from netstack.native import Ring
    except ImportError as exc:
        raise BenchError(f"netstack.native is not built (make native): {exc}") from exc

    batch = list(range(BURST))
    # The dispatch loop is the one producer and the one consumer of its rings.
    ring = Ring(RING_SIZE, single_producer=True, single_consumer=True)
    queue: collections.deque[int] = collections.deque()

    def ring_bursts(n: int) -> None:
        enqueue, dequeue = ring.enqueue_burst, ring.dequeue_burst
        for _ in range(n):
            enqueue(batch)
            dequeue(BURST)

    def deque_bursts(n: int) -> None:
        # The ring never fills here (32 in, 32 out), so extend() is what enqueue_burst does.
        extend, popleft = queue.extend, queue.popleft
        for _ in range(n):
            extend(batch)
            [popleft() for _ in range(min(BURST, len(queue)))]

    ring_rate, deque_rate = best_rates(ring_bursts, deque_bursts, settings)
    return [
        Result(
            name=f"ring burst x{BURST}",
            unit="items/s",
            subject_label="native.Ring",
            subject=ring_rate * BURST,
            reference_label="deque",
            reference=deque_rate * BURST,
            higher_is_better=True,
        )
    ]


def bench_checksum(settings: Settings) -> list[Result]:
    try:
        from netstack.native import internet_checksum
    except ImportError as exc:
        raise BenchError(f"netstack.native is not built (make native): {exc}") from exc
    from netstack.checksum import py_internet_checksum

    results = []
    for size in CHECKSUM_SIZES:
        data = os.urandom(size)
        if internet_checksum(data) != py_internet_checksum(data):
            raise BenchError(f"native and Python checksums disagree on {size} bytes")

        def native(n: int, data: bytes = data) -> None:
            for _ in range(n):
                internet_checksum(data)

        def python(n: int, data: bytes = data) -> None:
            for _ in range(n):
                py_internet_checksum(data)

        native_rate, python_rate = best_rates(native, python, settings)
        results.append(
            Result(
                name=f"checksum {size} B",
                unit="MB/s",
                subject_label="native",
                subject=native_rate * size / 1e6,
                reference_label="python",
                reference=python_rate * size / 1e6,
                higher_is_better=True,
            )
        )
    return results


# ---------------------------------------------------------------------------------------------
# ping RTT through a TAP


@dataclass(frozen=True)
class PingStats:
    transmitted: int
    received: int
    loss_percent: float
    rtt_min_ms: float
    rtt_avg_ms: float
    rtt_max_ms: float
    rtt_mdev_ms: float


_PACKETS = re.compile(r"(\d+) packets transmitted, (\d+) received.*?([\d.]+)% packet loss")
_RTT = re.compile(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


def parse_ping(output: str) -> PingStats:
    """Read the summary `ping -q` prints. Raises BenchError when nothing came back."""
    packets = _PACKETS.search(output)
    rtt = _RTT.search(output)
    if packets is None or rtt is None:
        raise BenchError(f"no replies, ping said: {output.strip()!r}")
    return PingStats(
        int(packets[1]), int(packets[2]), float(packets[3]), *(float(rtt[i]) for i in range(1, 5))
    )


def build_responder(force: bool = False) -> Path:
    """Compile benchmarks/tap_responder.c into benchmarks/_build/ (only when it changed)."""
    if not RESPONDER_SOURCE.exists():
        raise BenchError(f"{RESPONDER_SOURCE} not found (benchmarks/ is not installed)")
    binary = BUILD_DIR / "tap_responder"
    if not force and binary.exists() and binary.stat().st_mtime >= RESPONDER_SOURCE.stat().st_mtime:
        return binary
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        raise BenchError("no C compiler (gcc) to build the TAP responder")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    # Build under a private name and rename: parallel runs never see a half-written binary.
    partial = BUILD_DIR / f"tap_responder.{os.getpid()}.tmp"
    cmd = [compiler, "-O2", "-Wall", "-Wextra", "-std=c11", "-D_GNU_SOURCE",
           "-o", str(partial), str(RESPONDER_SOURCE)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BenchError(f"building the TAP responder failed: {result.stderr.strip()}")
    os.replace(partial, binary)
    return binary


def netstack_command() -> list[str]:
    """`netstack` of this very interpreter: its console script, or `python -m netstack`."""
    script = Path(sys.executable).parent / "netstack"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "netstack"]


@contextmanager
def responder_on_tap(start_cmd: Callable[[str], list[str]]) -> Iterator[Namespace]:
    """A fresh namespace with a responder on a new TAP, answering at 192.0.2.2.

    `start_cmd(tap_name)` is the responder's command line; it must print a line starting
    with "ready" once it answers. The kernel side gets 192.0.2.1/24 and a short warm-up
    ping, which takes ARP resolution and first-packet costs out of the figures.
    """
    with Namespace("nsbench") as ns:
        # IPv6 would have the kernel send router solicitations and MLD reports on the TAP;
        # neither responder wants them, and they only add noise.
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
        tap = unique_name("nsb")
        cmd = start_cmd(tap)
        proc = ns.popen(cmd)
        wait_for_line(proc, "ready", STARTUP_TIMEOUT)
        drain_in_background(proc)  # a responder that logs must never block on a full pipe
        ns.add_address(tap, KERNEL_CIDR)
        ns.link_up(tap)
        ping_round(ns, WARMUP_PINGS)
        yield ns
        if proc.poll() is not None:
            raise BenchError(f"{Path(cmd[0]).name} exited with {proc.returncode} during the run")


def ping_round(ns: Namespace, count: int) -> PingStats:
    """`ping -q -c count -i 0.01 192.0.2.2` from the kernel side of `ns`."""
    deadline = int(count * 0.05) + 5  # seconds, generous: ping stops after `count` replies
    cmd = ["ping", "-q", "-c", str(count), "-i", PING_INTERVAL, "-w", str(deadline), STACK_IP]
    return parse_ping(ns.run(cmd, check=False, timeout=deadline + 5).stdout)


def best_round(rounds: Sequence[PingStats]) -> PingStats:
    """All rounds' packets and extremes, with the lowest round average as `rtt_avg_ms`."""
    best = min(rounds, key=lambda r: r.rtt_avg_ms)
    transmitted = sum(r.transmitted for r in rounds)
    received = sum(r.received for r in rounds)
    return PingStats(
        transmitted=transmitted,
        received=received,
        loss_percent=round(100 * (transmitted - received) / transmitted, 2),
        rtt_min_ms=min(r.rtt_min_ms for r in rounds),
        rtt_avg_ms=best.rtt_avg_ms,
        rtt_max_ms=max(r.rtt_max_ms for r in rounds),
        rtt_mdev_ms=best.rtt_mdev_ms,
    )


def _with_loss(label: str, stats: PingStats) -> str:
    # An average over the replies that came back hides lost ones; say so next to it.
    if stats.received < stats.transmitted:
        return f"{label} ({stats.loss_percent:g}% loss)"
    return label


def bench_ping(settings: Settings) -> list[Result]:
    """Both responders run side by side, each in its own namespace (so both can be
    192.0.2.2), and the rounds alternate between them: a noisy moment hits both."""
    if not is_root():
        raise Skipped("needs root")
    missing = [tool for tool in ("ip", "ping") if shutil.which(tool) is None]
    if missing:
        raise Skipped(f"needs {', '.join(missing)}")
    binary = build_responder()
    per_round = max(1, settings.ping_count // settings.rounds)
    c_rounds: list[PingStats] = []
    stack_rounds: list[PingStats] = []
    with ExitStack() as namespaces:
        try:
            c_ns = namespaces.enter_context(
                responder_on_tap(lambda tap: [str(binary), tap, STACK_IP, RESPONDER_MAC])
            )
        except (NamespaceError, BenchError) as exc:
            raise BenchError(f"C responder failed: {exc}") from exc
        try:
            stack_ns = namespaces.enter_context(
                responder_on_tap(
                    lambda tap: [
                        *netstack_command(),
                        "run",
                        "--port",
                        f"tap:{tap}",
                        "--ip",
                        STACK_CIDR,
                    ]
                )
            )
        except (NamespaceError, BenchError) as exc:
            # Still measure the yardstick: its figure tells whether the machine is sane.
            c_only = ping_round(c_ns, per_round)
            raise BenchError(
                f"netstack run failed: {exc} "
                f"(C responder alone: avg {c_only.rtt_avg_ms * 1000:.0f} us)"
            ) from exc
        for _ in range(settings.rounds):
            for name, ns, rounds in (("C responder", c_ns, c_rounds),
                                     ("netstack run", stack_ns, stack_rounds)):  # fmt: skip
                try:
                    rounds.append(ping_round(ns, per_round))
                except (NamespaceError, BenchError) as exc:
                    raise BenchError(f"{name} failed: {exc}") from exc
    native, stack = best_round(c_rounds), best_round(stack_rounds)
    return [
        Result(
            name="ping RTT avg",
            unit="ms",
            subject_label=_with_loss("netstack run", stack),
            subject=stack.rtt_avg_ms,
            reference_label=_with_loss("C responder", native),
            reference=native.rtt_avg_ms,
            higher_is_better=False,
            details={
                "rounds": settings.rounds,
                "pings_per_round": per_round,
                "netstack": asdict(stack),
                "c_responder": asdict(native),
                "netstack_round_avgs_ms": [r.rtt_avg_ms for r in stack_rounds],
                "c_responder_round_avgs_ms": [r.rtt_avg_ms for r in c_rounds],
            },
        )
    ]


# ---------------------------------------------------------------------------------------------
# The command


def _format_value(value: float, unit: str) -> str:
    if unit == "items/s":
        return f"{value / 1e6:.2f} M items/s"
    if unit == "ms":
        return f"{value * 1000:.0f} us"
    return f"{value:,.0f} {unit}"


def format_table(results: Sequence[Result]) -> str:
    rows = [("benchmark", "subject", "reference", "ratio")]
    for r in results:
        better = "higher is better" if r.higher_is_better else "lower is better"
        rows.append(
            (
                r.name,
                f"{r.subject_label} {_format_value(r.subject, r.unit)}",
                f"{r.reference_label} {_format_value(r.reference, r.unit)}",
                f"{r.ratio:.2f}x ({better})",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _selection(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(unknown) or value!r} (choose from {', '.join(BENCHMARKS)})"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netstack bench",
        description="Measure netstack against a reference in the same run; report ratios.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts (under ~15 s)")
    parser.add_argument(
        "--only",
        metavar="NAME",
        type=_selection,
        action="append",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)}); repeat or comma-separate",
    )
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write results as JSON")
    parser.add_argument(
        "--ping-count",
        metavar="N",
        type=int,
        help=f"echo requests per responder (default: {DEFAULT.ping_count}, "
        f"{QUICK.ping_count} with --quick)",
    )
    return parser


RUNNERS: dict[str, Callable[[Settings], list[Result]]] = {
    "ring": bench_ring,
    "checksum": bench_checksum,
    "ping": bench_ping,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; 0 when every one ran or was skipped, 1 when one failed, 2 on usage."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): return it, do not exit
        return int(exc.code or 0)
    settings = QUICK if args.quick else DEFAULT
    if args.ping_count is not None:
        if args.ping_count < 1:
            parser.print_usage(sys.stderr)
            print("netstack bench: error: --ping-count must be at least 1", file=sys.stderr)
            return 2
        settings = Settings(settings.rounds, settings.round_seconds, args.ping_count)
    selected = [name for group in args.only for name in group] if args.only else BENCHMARKS

    results: list[Result] = []
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    started = time.monotonic()
    try:
        for name in BENCHMARKS:
            if name not in selected:
                continue
            print(f"running {name}...", file=sys.stderr, flush=True)
            try:
                results.extend(RUNNERS[name](settings))
            except Skipped as exc:
                skipped[name] = str(exc)
            except (BenchError, NamespaceError) as exc:
                failed[name] = str(exc)
    except KeyboardInterrupt:
        # The namespaces and their processes are already gone: `with` blocks cleaned up.
        print("netstack bench: interrupted", file=sys.stderr)
        return 130

    if results:
        print(format_table(results))
    for name, reason in skipped.items():
        print(f"{name}: skipped: {reason}")
    for name, reason in failed.items():
        print(f"{name}: FAILED: {reason}")
    elapsed = time.monotonic() - started
    print(f"({elapsed:.1f} s{', quick' if args.quick else ''})")

    if args.json is not None:
        report = {
            "quick": args.quick,
            "seconds": round(elapsed, 2),
            "results": [{**asdict(r), "ratio": r.ratio} for r in results],
            "skipped": skipped,
            "failed": failed,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
