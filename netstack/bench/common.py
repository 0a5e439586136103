"""What every benchmark shares: settings, the result row, errors, timing and C builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
BUILD_DIR = BENCHMARKS_DIR / "_build"


class BenchError(Exception):
    """A benchmark could not run; the message says why, on one line."""


class PartialResults(BenchError):
    """Some rows of a benchmark failed; `results` holds the rows that were measured."""

    def __init__(self, message: str, results: list[Result]) -> None:
        super().__init__(message)
        self.results = results


class Skipped(Exception):
    """A benchmark cannot run here (not root, a tool missing); not a failure."""


@dataclass(frozen=True)
class Settings:
    """How much work each benchmark does; `--quick` picks the small one."""

    rounds: int  # interleaved subject/reference rounds, best kept
    round_seconds: float  # target duration of one timed round (ring, checksum)
    ping_count: int
    udp_seconds: float = 0.5  # measured seconds of one UDP echo round, per side
    udp_inflight: tuple[int, ...] = (1, 16)  # datagrams kept outstanding, one row each
    udp_size: int = 64  # UDP payload bytes
    tcp_rounds: int = 3  # interleaved rounds of the TCP bulk and connection workloads
    tcp_bytes: int = 10_000_000  # bytes per TCP bulk transfer
    tcp_cycles: int = 300  # connect/echo/close cycles per round
    tcp_loss_rounds: int = 1  # rounds of the 5%-loss transfers (the slowest workload)
    tcp_loss_bytes: int = 20_000_000  # bytes per 5%-loss transfer (the loss test's size)
    tcp_reference_bytes: int = 200_000_000  # bytes per bulk transfer of Linux over veth
    tcp_echo_seconds: float = 1.0  # seconds of one TCP echo round-trip round
    hold_connections: int = 10_000  # concurrent idle connections to open and hold
    engine: str = "python"  # `netstack run --engine` in the TAP benchmarks
    busy_poll: bool = False  # `netstack run --busy-poll` in the TAP benchmarks
    port: str = "tap:{tap}"  # `netstack run --port`; {tap} becomes a fresh device name
    sim_seconds: float = 60.0  # virtual seconds of each single-flow experiment (sim)
    sim_grid_seconds: float = 30.0  # virtual seconds of each run of the Pantheon-like grid
    sim_campaign_runs: int = 100  # runs in the campaign workload

    def run_options(self) -> tuple[str, ...]:
        """The `netstack run` options these settings ask for (nothing for the defaults)."""
        options = ("--engine", self.engine) if self.engine != "python" else ()
        return (*options, "--busy-poll") if self.busy_poll else options


DEFAULT = Settings(rounds=5, round_seconds=0.15, ping_count=300, udp_seconds=0.5)
QUICK = Settings(rounds=3, round_seconds=0.04, ping_count=60, udp_seconds=0.2, tcp_rounds=1,
                 tcp_bytes=2_000_000, tcp_cycles=100, tcp_loss_bytes=5_000_000,
                 tcp_reference_bytes=50_000_000, tcp_echo_seconds=0.3, hold_connections=500,
                 sim_seconds=10.0, sim_grid_seconds=10.0, sim_campaign_runs=20)


@dataclass(frozen=True)
class Target:
    """What a speed target asks of a row: `on` the ratio or the subject's own figure, at least
    (`at_least`) or at most `threshold`."""

    threshold: float
    at_least: bool = True
    on: str = "ratio"  # "ratio" (subject / reference) or "subject"
    unit: str = ""  # for `on="subject"`: how to print the threshold

    def met(self, result: Result) -> bool | None:
        value = result.ratio if self.on == "ratio" else result.subject
        if value != value:  # NaN: nothing to judge
            return None
        return value >= self.threshold if self.at_least else value <= self.threshold

    @property
    def text(self) -> str:
        sign = ">=" if self.at_least else "<="
        if self.on == "ratio":
            return f"ratio {sign} {self.threshold:g}"
        return f"{sign} {self.threshold:,g} {self.unit}".rstrip()


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
    target: Target | None = None  # the speed target for this row, if it sets one
    extra: dict[str, float] = field(default_factory=dict)  # other references: label -> figure

    @property
    def ratio(self) -> float:
        return self.subject / self.reference if self.reference else float("nan")

    @property
    def verdict(self) -> str:
        """PASS or MISS against the target; "" when the row has none (or no figure)."""
        met = self.target.met(self) if self.target is not None else None
        return "" if met is None else "PASS" if met else "MISS"


def progress(message: str) -> None:
    """One progress line on stderr (the table goes to stdout, so it stays clean)."""
    print(message, file=sys.stderr, flush=True)


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


def build_c_tool(name: str, force: bool = False) -> Path:
    """Compile benchmarks/NAME.c into benchmarks/_build/NAME (only when the source changed)."""
    source = BENCHMARKS_DIR / f"{name}.c"
    if not source.exists():
        raise BenchError(f"{source} not found (benchmarks/ is not installed)")
    binary = BUILD_DIR / name
    if not force and binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        raise BenchError(f"no C compiler (gcc) to build {name}")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    # Build under a private name and rename: parallel runs never see a half-written binary.
    partial = BUILD_DIR / f"{name}.{os.getpid()}.tmp"
    cmd = [compiler, "-O2", "-Wall", "-Wextra", "-std=c11", "-D_GNU_SOURCE",
           "-o", str(partial), str(source)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BenchError(f"building {name} failed: {result.stderr.strip()}")
    os.replace(partial, binary)
    return binary
