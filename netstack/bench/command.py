"""The `netstack bench` command: options, running the selection, the table and the JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from netstack.bench.common import DEFAULT, QUICK, BenchError, Result, Settings, Skipped
from netstack.bench.micro import bench_checksum, bench_ring
from netstack.bench.ping import bench_ping
from netstack.bench.tcp import bench_tcp
from netstack.bench.udp import MAX_INFLIGHT, MAX_SIZE, MIN_SIZE, bench_udp
from netstack.netns import NamespaceError

RUNNERS: dict[str, Callable[[Settings], list[Result]]] = {
    "ring": bench_ring,
    "checksum": bench_checksum,
    "ping": bench_ping,
    "udp": bench_udp,
    "tcp": bench_tcp,
}
BENCHMARKS = tuple(RUNNERS)


def _format_value(value: float, unit: str) -> str:
    if unit == "items/s":
        return f"{value / 1e6:.2f} M items/s"
    if unit == "ms":
        return f"{value * 1000:.0f} us"
    if unit in ("s", "Mbit/s"):
        return f"{value:,.1f} {unit}"
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


def _inflight_list(value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in value.split(","))
    except ValueError:
        counts = ()
    if not counts or not all(1 <= n <= MAX_INFLIGHT for n in counts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated counts from 1 to {MAX_INFLIGHT}, got {value!r}"
        )
    return counts


def _udp_size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        size = -1
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise argparse.ArgumentTypeError(f"expected {MIN_SIZE} to {MAX_SIZE} bytes, got {value!r}")
    return size


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 60:
        raise argparse.ArgumentTypeError(f"expected seconds in (0, 60], got {value!r}")
    return seconds


def _positive_megabytes(value: str) -> int:
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = 0.0
    if not 0 < megabytes <= 1000:
        raise argparse.ArgumentTypeError(f"expected megabytes in (0, 1000], got {value!r}")
    return int(megabytes * 1_000_000)


def _positive_count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a count of at least 1, got {value!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netstack bench",
        description="Measure netstack against a reference in the same run; report ratios.",
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts (under ~20 s)")
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
    parser.add_argument(
        "--udp-seconds",
        metavar="S",
        type=_positive_seconds,
        help=f"measured seconds per UDP echo round and side (default: {DEFAULT.udp_seconds:g}, "
        f"{QUICK.udp_seconds:g} with --quick)",
    )
    parser.add_argument(
        "--udp-inflight",
        metavar="N[,N...]",
        type=_inflight_list,
        help="datagrams kept in flight, one row each (default: "
        f"{','.join(map(str, DEFAULT.udp_inflight))})",
    )
    parser.add_argument(
        "--tcp-mb",
        metavar="MB",
        type=_positive_megabytes,
        help=f"megabytes per TCP bulk transfer (default: {DEFAULT.tcp_bytes / 1e6:g}, "
        f"{QUICK.tcp_bytes / 1e6:g} with --quick)",
    )
    parser.add_argument(
        "--tcp-cycles",
        metavar="N",
        type=_positive_count,
        help=f"TCP connect/echo/close cycles per round (default: {DEFAULT.tcp_cycles}, "
        f"{QUICK.tcp_cycles} with --quick)",
    )
    parser.add_argument(
        "--udp-size",
        metavar="BYTES",
        type=_udp_size,
        help=f"UDP payload size (default: {DEFAULT.udp_size})",
    )
    parser.add_argument(
        "--engine",
        choices=("python", "native"),
        help="the I/O engine `netstack run` uses in the TAP benchmarks (default: python)",
    )
    parser.add_argument(
        "--busy-poll",
        action="store_true",
        default=None,
        help="run `netstack run --busy-poll` in the TAP benchmarks (the loop never sleeps)",
    )
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The preset (`--quick` or not) with the options given on the command line applied."""
    settings = QUICK if args.quick else DEFAULT
    overrides = {
        "ping_count": args.ping_count,
        "udp_seconds": args.udp_seconds,
        "udp_inflight": args.udp_inflight,
        "udp_size": args.udp_size,
        "tcp_bytes": args.tcp_mb,
        "tcp_cycles": args.tcp_cycles,
        "engine": args.engine,
        "busy_poll": args.busy_poll,
    }
    return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; 0 when every one ran or was skipped, 1 when one failed, 2 on usage."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): return it, do not exit
        return int(exc.code or 0)
    if args.ping_count is not None and args.ping_count < 1:
        parser.print_usage(sys.stderr)
        print("netstack bench: error: --ping-count must be at least 1", file=sys.stderr)
        return 2
    settings = settings_from(args)
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
                results.extend(getattr(exc, "results", ()))  # rows measured before it failed
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
