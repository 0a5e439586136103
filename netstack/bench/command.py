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

from netstack.bench.chart import write_png
from netstack.bench.common import DEFAULT, QUICK, BenchError, Result, Settings, Skipped, progress
from netstack.bench.hold import bench_hold
from netstack.bench.iperf3 import bench_iperf3
from netstack.bench.micro import bench_checksum, bench_ring
from netstack.bench.ping import bench_ping
from netstack.bench.sim import bench_sim
from netstack.bench.tcp import bench_tcp, bench_tcp_loss, bench_tcp_offload
from netstack.bench.udp import MAX_INFLIGHT, MAX_SIZE, MIN_SIZE, bench_udp
from netstack.netns import NamespaceError

RUNNERS: dict[str, Callable[[Settings], list[Result]]] = {
    "ring": bench_ring,
    "checksum": bench_checksum,
    "ping": bench_ping,
    "udp": bench_udp,
    "tcp": bench_tcp,
    "hold": bench_hold,
    "tcp-loss": bench_tcp_loss,
    "tcp-offload": bench_tcp_offload,
    "iperf3": bench_iperf3,
    "sim": bench_sim,
}
BENCHMARKS = tuple(RUNNERS)
MAX_HOLD = 15_000  # the client needs a file descriptor per connection (RLIMIT_NOFILE)


def _format_value(value: float, unit: str) -> str:
    if value != value:  # NaN: nothing measured
        return "-"
    if unit == "items/s":
        return f"{value / 1e6:.2f} M items/s"
    if unit == "ms":
        return f"{value * 1000:.0f} us"
    if unit in ("s", "Mbit/s"):
        return f"{value:,.1f} {unit}"
    if unit == "bytes":
        return f"{value:,.0f} B"
    return f"{value:,.0f} {unit}"


def format_table(results: Sequence[Result]) -> str:
    """One line per row: netstack, its reference, other references, ratio and the target."""
    rows = [("benchmark", "netstack (subject)", "reference", "also", "ratio", "target", "")]
    for r in results:
        better = "higher is better" if r.higher_is_better else "lower is better"
        also = ", ".join(f"{label} {_format_value(value, r.unit)}" for label, value in r.extra.items())
        ratio = f"{r.ratio:.2f}x ({better})" if r.ratio == r.ratio else "-"
        rows.append(
            (
                r.name,
                f"{r.subject_label} {_format_value(r.subject, r.unit)}",
                f"{r.reference_label} {_format_value(r.reference, r.unit)}",
                also,
                ratio,
                r.target.text if r.target else "",
                r.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
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


def _number_in(convert: Callable[[str], float], low: float, high: float, low_open: bool,
               expected: str) -> Callable[[str], float]:
    """An argparse type: `convert(value)` within [low, high] (or (low, high]), else a clear
    one-line error saying what was `expected`."""
    def parse(value: str) -> float:
        try:
            number = convert(value)
        except ValueError:
            number = None
        if (number is None or number != number  # NaN compares false with everything
                or number > high or number < low or (low_open and number == low)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
        return number
    return parse


_udp_size = _number_in(int, MIN_SIZE, MAX_SIZE, False, f"{MIN_SIZE} to {MAX_SIZE} bytes")
_positive_seconds = _number_in(float, 0, 60, True, "seconds in (0, 60]")
_megabytes = _number_in(float, 0, 1000, True, "megabytes in (0, 1000]")
_positive_count = _number_in(int, 1, float("inf"), False, "a count of at least 1")


def _positive_megabytes(value: str) -> int:
    return int(_megabytes(value) * 1_000_000)


def _hold_count(value: str) -> int:
    count = _positive_count(value)
    if count > MAX_HOLD:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_HOLD:,} connections, got {value!r}")
    return count


def _port_spec(value: str) -> str:
    if ":" not in value or value.startswith(":"):
        raise argparse.ArgumentTypeError(f"expected a port spec such as tap:{{tap}}, got {value!r}")
    return value


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
    parser.add_argument("--png", metavar="FILE", type=Path,
                        help="also draw the results as a PNG chart (needs matplotlib)")
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
        "--hold-connections",
        metavar="N",
        type=_hold_count,
        help=f"idle connections the hold benchmark opens (default: {DEFAULT.hold_connections:,}, "
        f"{QUICK.hold_connections} with --quick)",
    )
    parser.add_argument(
        "--port",
        metavar="SPEC",
        type=_port_spec,
        help="the port `netstack run` uses in the TAP benchmarks; {tap} becomes the device "
        "name the benchmark picks (default: tap:{tap}; e.g. dpdk:net_tap0,iface={tap})",
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
        "hold_connections": args.hold_connections,
        "port": args.port,
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
    chosen = [name for name in BENCHMARKS if name in selected]
    try:
        for number, name in enumerate(chosen, 1):
            progress(f"[{number}/{len(chosen)}] {name} ({time.monotonic() - started:.0f} s so far)")
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
    verdicts = [r.verdict for r in results if r.verdict]
    print(f"({elapsed:.1f} s{', quick' if args.quick else ''}; targets: "
          f"{verdicts.count('PASS')} PASS, {verdicts.count('MISS')} MISS)")

    if args.json is not None:
        write_json(args.json, results, skipped, failed, elapsed, args.quick, settings)
        print(f"wrote {args.json}")
    if args.png is not None:
        try:
            write_png(results, args.png, title=f"netstack bench ({elapsed:.0f} s"
                      f"{', quick' if args.quick else ''})")
            print(f"wrote {args.png}")
        except BenchError as exc:
            failed["png"] = str(exc)
            print(f"png: FAILED: {exc}")
    return 1 if failed else 0


def write_json(path: Path, results: Sequence[Result], skipped: dict[str, str],
               failed: dict[str, str], seconds: float, quick: bool, settings: Settings) -> None:
    def row(r: Result) -> dict[str, object]:
        fields = asdict(r)
        fields["target"] = None if r.target is None else {**asdict(r.target), "text": r.target.text}
        return {**fields, "ratio": _finite(r.ratio), "verdict": r.verdict,
                "subject": _finite(r.subject), "reference": _finite(r.reference)}

    report = {
        "quick": quick,
        "seconds": round(seconds, 2),
        "settings": asdict(settings),
        "results": [row(r) for r in results],
        "skipped": skipped,
        "failed": failed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def _finite(value: float) -> float | None:
    """JSON has no NaN: a figure that was not measured is null."""
    return None if value != value else value
