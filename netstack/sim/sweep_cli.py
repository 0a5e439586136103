"""`netstack sim sweep`: a grid of parameters x seeds over one scenario, resumable.

    netstack sim sweep pantheon-12mbps --grid cc=newreno,cubic --seeds 3
    netstack sim sweep my.toml --grid links.bottleneck.up.queue.packets=50,100 \\
        --seeds 1,2,3 --out sweeps/queues --executor dask --workers 8 --plot

The campaign directory (--out; by default sweeps/<scenario name>-<hash of the campaign>)
keeps every run, so the same command, run again after an interruption, runs only what is
missing. It ends with a table of each grid point's mean and 95% confidence interval over
the seeds, and writes results.csv (one row per run) next to the runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netstack.errors import ConfigError
from netstack.sim.campaign import Campaign, RunFn, print_progress
from netstack.sim.executors import EXECUTOR_NAMES
from netstack.sim.grid import parse_grid_option, parse_seeds_option
from netstack.sim.scenario_hash import scenario_hash

EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C

# The summary's columns: (heading, total metric, scale to the unit in the heading)
SUMMARY = [("throughput Mbit/s", "throughput_bps", 1e-6), ("goodput Mbit/s", "goodput_bps", 1e-6),
           ("delay p95 ms", "delay_p95_ms", 1.0), ("loss %", "loss_rate", 100.0),
           ("Jain", "jain_index", 1.0)]


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="PRESET|FILE",
                        help="the base scenario: a preset name or a .toml/.json file")
    parser.add_argument("--grid", action="append", default=[], metavar="PATH=V1,V2,...",
                        help="a parameter and its values, by dotted path into the scenario "
                             "(repeatable; 'cc' means every flow's cc): --grid cc=newreno,cubic "
                             "--grid links.bottleneck.up.queue.packets=50,100")
    parser.add_argument("--seeds", default="3", metavar="N|S1,S2,...",
                        help="seeds 1..N, or a list (default: 3)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="the campaign directory (default: sweeps/<name>-<hash>)")
    parser.add_argument("--executor", default="process", metavar="NAME",
                        help=f"where runs execute: {', '.join(EXECUTOR_NAMES)} (default: process)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="parallel runs (default: one per CPU)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="run only the runs not already in DIR (default); --no-resume "
                             "runs them all again")
    parser.add_argument("--plot", action="store_true",
                        help="draw the throughput/delay scatter of every grid point")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                        help="change one field of the base scenario first (as in 'sim run')")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def sweep_main(args: argparse.Namespace, *, load: Callable[[str], dict] | None = None,
               complete: Callable[[dict], dict] | None = None,
               run_fn: RunFn | None = None) -> int:
    """Run the sweep `args` describes. `load` (name or path -> raw scenario), `complete`
    and `run_fn` default to netstack.sim.scenario and netstack.sim.run; tests inject them."""
    grid = parse_grid(args.grid)
    seeds = parse_seeds_option(args.seeds)
    if load is None or complete is None:
        default_load, default_complete = _scenario_functions(args.base,
                                                             getattr(args, "set", []))
        load = load or default_load
        complete = complete or default_complete
    base = complete(load(args.base))
    out = Path(args.out) if args.out else default_directory(base, grid, seeds)
    campaign = Campaign(out, base, grid, seeds, run_fn=run_fn, complete=complete)

    total, todo = len(campaign.points()), len(campaign.missing_points())
    if not args.resume:
        todo = total
    print(f"campaign {out}: {total} run{'s' * (total != 1)}, {total - todo} done, {todo} to run "
          f"(executor {args.executor})", file=sys.stderr)
    try:
        reports = campaign.run_missing(args.executor, args.workers, rerun=not args.resume,
                                       progress=None if args.quiet else print_progress)
    except KeyboardInterrupt:
        left = len(campaign.missing_points())
        print(f"\ninterrupted: {total - left} of {total} runs done; run the same command "
              f"again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = [r for r in reports if r.error is not None]
    for report in failed:
        print(f"failed: {report.label}: {report.error}", file=sys.stderr)

    campaign.to_csv(out / "results.csv")
    print_summary(campaign)
    print(f"campaign directory: {out} (results.csv: one row per run)")
    if args.plot:
        path = plot_sweep(campaign, out / "pantheon.png")
        if path is not None:
            print(f"  plot: {path}")
    return EXIT_FAILED_RUNS if failed else 0


def parse_grid(options: list[str]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for option in options:
        key, values = parse_grid_option(option)
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice (list every value in one --grid)")
        grid[key] = values
    return grid


def default_directory(base: dict, grid: dict, seeds: list[int]) -> Path:
    """sweeps/<name>-<hash>: the same command finds its campaign again, another grid
    gets a directory of its own."""
    digest = scenario_hash({"base": base, "grid": grid, "seeds": seeds})[:8]
    return Path("sweeps") / f"{base.get('name', 'sweep')}-{digest}"


def _scenario_functions(name_or_path: str, sets: list[str]
                        ) -> tuple[Callable[[str], dict], Callable[[dict], dict]]:
    from netstack.sim.scenario import complete, load_scenario, parse_sets

    # Relative paths in a scenario file (traces) are relative to the file.
    base_dir = Path(name_or_path).parent if Path(name_or_path).exists() else None
    overrides = parse_sets(sets)
    return (lambda name: load_scenario(name, overrides=overrides),
            lambda raw: complete(raw, base_dir))


def print_summary(campaign: Campaign, stream: Any = None) -> None:
    """Per grid point: the mean ± 95% CI half-width over the seeds of the total metrics."""
    stream = stream or sys.stdout
    table = campaign.aggregate()
    columns = [(heading, metric, scale) for heading, metric, scale in SUMMARY
               if any(row.get(f"{metric}.mean") is not None for row in table)]
    headings = [campaign.labels[k] for k in campaign.grid] + ["runs"] + [c[0] for c in columns]
    lines = []
    for row in table:
        cells = [str(row[k]) for k in campaign.grid] + [str(row["runs"])]
        for _, metric, scale in columns:
            cells.append(_mean_pm(row.get(f"{metric}.mean"), row.get(f"{metric}.ci95"), scale))
        lines.append(cells)
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(headings)]
    print("  ".join(h.rjust(w) for h, w in zip(headings, widths, strict=True)), file=stream)
    for cells in lines:
        print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)), file=stream)


def _mean_pm(mean: float | None, half: float | None, scale: float) -> str:
    if mean is None:
        return "-"
    if half is None:
        return f"{mean * scale:.2f}"
    return f"{mean * scale:.2f} ± {half * scale:.2f}"


def scatter_points(campaign: Campaign) -> dict[str, list[tuple[float, float]]]:
    """Per grid point ("cc=cubic"), one (throughput Mbit/s, delay p95 ms) per seed."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for row in campaign.results():
        label = " ".join(f"{campaign.labels[k]}={row[k]}" for k in campaign.grid) or "all runs"
        throughput, delay = row.get("throughput_bps"), row.get("delay_p95_ms")
        if throughput is not None and delay is not None:
            groups.setdefault(label, []).append((throughput / 1e6, delay))
    return groups


def plot_sweep(campaign: Campaign, path: Path) -> Path | None:
    """Pantheon's throughput vs 95th-percentile delay scatter, one group per grid point."""
    try:
        from netstack.sim.plots import plot_pantheon_scatter
    except ImportError as exc:
        print(f"--plot: no plot drawn, the plots module is not available ({exc})",
              file=sys.stderr)
        return None
    plot_pantheon_scatter(scatter_points(campaign), path)
    return path
