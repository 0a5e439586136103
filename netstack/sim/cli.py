"""`netstack sim`: run experiments, sweep them, plot them.

    netstack sim run bufferbloat                     a preset, into ./runs/<hash>/
    netstack sim run my.toml --out results --set seed=3 --set flows.0.cc=cubic
    netstack sim sweep bufferbloat --grid flows.0.cc=newreno,cubic --seeds 3 --plot
    netstack sim plot runs/<hash>
    netstack sim presets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from netstack.errors import ConfigError, NetstackError

EXIT_USAGE = 2

EPILOG = """\
presets (netstack sim presets describes them):
  pantheon-12mbps  bufferbloat  fairness-N (N = 2..16)  lossy-link  cellular

--set PATH=VALUE changes one field of the scenario before it runs, by its dotted path:
  --set seed=7  --set duration=60  --set flows.0.cc=cubic
  --set links.bottleneck.queue.packets=50   --set links.path.rate.trace=my.trace
values are read as JSON when they can be (numbers, true/false), else as text.
"""


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"netstack sim: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="netstack sim", description="Experiments: real netstack stacks on emulated "
        "links in virtual time (deterministic, faster than real time).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=OneLineErrorParser)
    run = commands.add_parser("run", help="run one scenario; write its directory and plots",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario", metavar="PRESET|FILE", help="a preset name or a .toml/.json file")
    run.add_argument("--out", default="runs", help="where run directories go (default: ./runs)")
    run.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                     help="change one scenario field (repeatable; see below)")
    run.add_argument("--no-plots", action="store_true", help="skip the plots (faster)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")

    sweep = commands.add_parser("sweep", help="a grid of parameters x seeds, resumable")
    try:
        from netstack.sim.sweep_cli import add_sweep_arguments
    except ImportError:  # pragma: no cover - the sweep module is part of the package
        add_sweep_arguments = None
    if add_sweep_arguments is not None:
        add_sweep_arguments(sweep)

    plot = commands.add_parser("plot", help="draw a run directory's plots again")
    plot.add_argument("run_dir", metavar="RUN_DIR")

    commands.add_parser("presets", help="list the presets")
    return parser


def run_command(args) -> int:
    from netstack.sim.run import print_progress, run_scenario
    from netstack.sim.scenario import complete, load_scenario, parse_sets

    raw = load_scenario(args.scenario, parse_sets(args.set))
    base_dir = Path(args.scenario).parent if Path(args.scenario).exists() else None
    scenario = complete(raw, base_dir)
    progress = None if args.quiet else print_progress(scenario["duration"])
    began = time.perf_counter()
    run_dir = run_scenario(scenario, args.out, progress=progress, base_dir=base_dir)
    wall = time.perf_counter() - began
    plots = []
    if not args.no_plots:
        from netstack.sim.plots import plot_run

        plots = plot_run(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    print(f"{scenario['name']}: {scenario['duration']:g} s virtual in {wall:.1f} s wall "
          f"({scenario['duration'] / wall:.1f}x real time)")
    print_summary(metrics, scenario)
    print(f"run directory: {run_dir}")
    for path in plots:
        print(f"  plot: {path}")
    return 0


def print_summary(metrics: dict, scenario: dict) -> None:
    def num(value, scale=1.0, fmt="{:.2f}"):
        return "-" if value is None else fmt.format(value * scale)

    kinds = {flow["name"]: flow["kind"] for flow in scenario["flows"]}
    print(f"  {'flow':<12} {'goodput':>12} {'p95 delay':>10} {'rtt p50':>9} {'loss':>7} "
          f"{'rexmit':>7}")
    for name, flow in metrics.get("flows", {}).items():
        goodput = None if kinds.get(name) == "ping" else flow.get("goodput_bps")
        print(f"  {name:<12} {num(goodput, 1e-6):>7} Mb/s {num(flow.get('delay_p95_ms')):>7} ms "
              f"{num(flow.get('rtt_p50_ms')):>6} ms "
              f"{num(flow.get('loss_rate'), 100, '{:.2f}'):>6}% {flow.get('retransmits', 0):>7}")
    for name, link in metrics.get("links", {}).items():
        if link.get("utilization") is not None:
            print(f"  link {name:<17} utilization {num(link.get('utilization'), 100, '{:.1f}')}%"
                  f", queue delay p95 {num(link.get('queue_delay_p95_ms'))} ms, "
                  f"drops {link.get('drops', 0)}")
    total = metrics.get("total", {})
    if total.get("jain_index") is not None and sum(k == "bulk" for k in kinds.values()) > 1:
        print(f"  Jain's fairness index {total['jain_index']:.3f}")


def plot_command(args) -> int:
    from netstack.sim.plots import plot_run

    for path in plot_run(Path(args.run_dir)):
        print(path)
    return 0


def presets_command() -> int:
    from netstack.sim import presets

    print(presets.__doc__.strip().split("\n\n", 1)[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "run":
            return run_command(args)
        if args.command == "sweep":
            from netstack.sim.sweep_cli import sweep_main

            return sweep_main(args)
        if args.command == "plot":
            return plot_command(args)
        if args.command == "presets":
            return presets_command()
        parser.print_help()
        return EXIT_USAGE
    except ConfigError as e:
        print(f"netstack sim: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except NetstackError as e:
        print(f"netstack sim: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nnetstack sim: interrupted (a sweep resumes where it stopped)", file=sys.stderr)
        return 130
