"""A campaign: one base scenario, a grid of parameters and a list of seeds, run as many
independent runs and kept in one directory.

    campaign = Campaign("sweeps/cc", base, {"cc": ["newreno", "cubic"]}, seeds=3)
    campaign.run_missing("process")        # runs only what is not on disk yet
    campaign.aggregate()                   # per algorithm: mean and 95% CI over the seeds

The directory holds
    campaign.json       the base scenario, the grid and the seeds (what the campaign *is*)
    runs/<hash>/        one run directory per (grid point, seed), named by the hash of its
                        complete scenario (scenario_hash.py), as `netstack sim run` names it

A run is finished when its metrics.json is there and whole: runs write it last, by rename,
so a run that was interrupted is simply missing, and `run_missing` runs it again. That is
all resuming takes; nothing else records progress. Because every run is a pure function of
its scenario, the results do not depend on which executor (executors.py) ran them, in what
order, or in how many sittings.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netstack.errors import ConfigError
from netstack.sim.executors import Executor, ProcessExecutor, executor_from_name
from netstack.sim.grid import check_grid, check_path, check_seeds, set_path, short_labels
from netstack.sim.scenario_hash import canonical_json, scenario_hash
from netstack.sim.stats import mean_ci95

RunFn = Callable[[dict, str], Any]  # (complete scenario, runs directory) -> its run directory


@dataclass(frozen=True)
class RunPoint:
    """One run of the campaign: grid values, seed, and the complete scenario they give."""

    params: dict[str, Any]
    seed: int
    scenario: dict
    hash: str


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run (pickled to other processes)."""

    scenario: dict
    run_hash: str
    runs_dir: str
    run_fn: RunFn | None  # None: netstack.sim.run.run_scenario, imported in the worker


@dataclass(frozen=True)
class RunOutcome:
    run_hash: str
    seconds: float  # wall time of the run, for the progress line only
    error: str | None = None


@dataclass(frozen=True)
class RunReport:
    """Progress: the `done`-th of `total` runs just finished (or failed)."""

    done: int
    total: int
    point: RunPoint
    label: str  # "cc=cubic seed=2"
    seconds: float
    error: str | None


def execute_run(task: RunTask) -> RunOutcome:
    """Run one scenario (in whichever process the executor chose). Ordinary errors are
    returned, so one failed run does not stop the campaign; Ctrl-C is not caught."""
    began = time.perf_counter()
    try:
        run_fn = task.run_fn
        if run_fn is None:
            from netstack.sim.run import run_scenario as run_fn
        run_dir = Path(run_fn(task.scenario, task.runs_dir))
        if run_dir.name != task.run_hash:
            raise RuntimeError(f"the run wrote {run_dir.name}, the campaign expected "
                               f"{task.run_hash} (is completing a scenario idempotent?)")
        if _read_metrics(run_dir) is None:
            raise RuntimeError(f"the run left no complete metrics.json in {run_dir}")
    except Exception as exc:
        return RunOutcome(task.run_hash, time.perf_counter() - began,
                          f"{type(exc).__name__}: {exc}")
    return RunOutcome(task.run_hash, time.perf_counter() - began)


def default_complete(raw: dict) -> dict:
    from netstack.sim.scenario import complete

    return complete(raw)


class Campaign:
    def __init__(self, directory: str | Path, base: dict, grid: dict[str, list],
                 seeds: list[int] | int, run_fn: RunFn | None = None,
                 complete: Callable[[dict], dict] | None = default_complete) -> None:
        """`base` is a complete scenario; each grid point is set into a copy of it and
        completed again with `complete` (which checks the new values; None: as it is).
        Reusing a directory that holds a different campaign is a ConfigError."""
        if not isinstance(base, dict):
            raise ConfigError("base: a scenario (a table of settings)")
        self.directory = Path(directory)
        self.base = base
        self.grid = check_grid(grid)
        self.seeds = check_seeds(seeds)
        self.run_fn = run_fn
        for key in self.grid:
            check_path(base, key)
        self.labels = short_labels(list(self.grid))
        self._points = self._expand(complete or (lambda s: s))
        self._claim_directory()

    @classmethod
    def open(cls, directory: str | Path, run_fn: RunFn | None = None,
             complete: Callable[[dict], dict] | None = default_complete) -> Campaign:
        """The campaign stored in `directory` (by its campaign.json)."""
        stored = _read_campaign_file(Path(directory) / "campaign.json")
        if stored is None:
            raise ConfigError(f"{directory}: not a campaign directory (no campaign.json)")
        return cls(directory, stored["base"], stored["grid"], stored["seeds"], run_fn, complete)

    # --- what the campaign is ------------------------------------------------------------

    def _expand(self, complete: Callable[[dict], dict]) -> list[RunPoint]:
        points = []
        keys = list(self.grid)
        for values in itertools.product(*self.grid.values()):
            params = dict(zip(keys, values, strict=True))
            for seed in self.seeds:
                scenario = json.loads(json.dumps(self.base))  # a deep copy, JSON types only
                for key, value in params.items():
                    set_path(scenario, key, value)
                scenario["seed"] = seed
                scenario = complete(scenario)
                points.append(RunPoint(params, seed, scenario, scenario_hash(scenario)))
        hashes = [p.hash for p in points]
        if len(set(hashes)) != len(hashes):
            raise ConfigError("grid: two grid points give the same scenario "
                              "(a value equal to another once completed?)")
        return points

    def _description(self) -> dict:
        return {"base": self.base, "grid": self.grid, "seeds": self.seeds}

    def _claim_directory(self) -> None:
        path = self.directory / "campaign.json"
        stored = _read_campaign_file(path)
        # Through JSON and back (tuples become lists), in the grid's own order: a campaign
        # opened again expands in the order it was made with.
        wanted = json.loads(json.dumps(self._description()))
        if stored is not None and stored != wanted:
            where = _first_difference(stored, wanted) or "campaign"
            raise ConfigError(f"{self.directory} holds a different campaign ({where} differs "
                              f"in its campaign.json); choose another directory")
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        if stored is None:
            _write_atomically(path, json.dumps(wanted, indent=1) + "\n")

    @property
    def runs_dir(self) -> Path:
        return self.directory / "runs"

    def points(self) -> list[RunPoint]:
        """Every run, grid points in order, seeds innermost."""
        return list(self._points)

    def expand(self) -> list[dict]:
        """The complete scenario of every run, in the order of points()."""
        return [p.scenario for p in self._points]

    def label(self, point: RunPoint) -> str:
        shown = " ".join(f"{self.labels[k]}={v}" for k, v in point.params.items())
        return f"{shown} seed={point.seed}".strip()

    def run_dir(self, point: RunPoint) -> Path:
        return self.runs_dir / point.hash

    # --- running ------------------------------------------------------------------------

    def missing_points(self) -> list[RunPoint]:
        return [p for p in self._points if _read_metrics(self.run_dir(p)) is None]

    def missing(self) -> list[dict]:
        """The scenarios whose run has no complete metrics.json yet."""
        return [p.scenario for p in self.missing_points()]

    def run_missing(self, executor: Executor | str | None = None, workers: int | None = None,
                    progress: Callable[[RunReport], None] | None = None,
                    rerun: bool = False) -> list[RunReport]:
        """Run every missing run (every run, with `rerun`) and return one report per run.
        `executor`: an Executor (left open), a name for executor_from_name, or None for a
        process pool (both closed here). Failed runs are reported, not raised."""
        todo = self.points() if rerun else self.missing_points()
        if not todo:
            return []
        owned = not isinstance(executor, Executor)
        if executor is None:
            executor = ProcessExecutor(workers)
        elif isinstance(executor, str):
            executor = executor_from_name(executor, workers)
        by_hash = {p.hash: p for p in todo}
        tasks = [RunTask(p.scenario, p.hash, str(self.runs_dir), self.run_fn) for p in todo]
        reports = []
        try:
            for outcome in executor.map(execute_run, tasks):
                point = by_hash[outcome.run_hash]
                report = RunReport(len(reports) + 1, len(todo), point, self.label(point),
                                   outcome.seconds, outcome.error)
                reports.append(report)
                if progress is not None:
                    progress(report)
        finally:
            if owned:
                executor.close()
        return reports

    # --- results --------------------------------------------------------------------------

    def results(self) -> list[dict]:
        """One row per finished run, in the order of points(): "run" (its hash), the grid
        values, "seed", then its metrics flattened (see flatten_metrics)."""
        rows = []
        for point in self._points:
            metrics = _read_metrics(self.run_dir(point))
            if metrics is not None:
                rows.append({"run": point.hash, **point.params, "seed": point.seed,
                             **flatten_metrics(metrics)})
        return rows

    def to_dataframe(self) -> Any:
        try:
            import pandas
        except ImportError:
            raise ImportError("Campaign.to_dataframe needs pandas (pip install pandas); "
                              "Campaign.to_csv works without it") from None
        return pandas.DataFrame(self.results())

    def to_csv(self, path: str | Path) -> Path:
        """results() as CSV (no pandas needed); lists such as fct_s are written as JSON."""
        rows = self.results()
        columns = list(dict.fromkeys(key for row in rows for key in row))
        path = Path(path)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_cell(v) for k, v in row.items()})
        return path

    def aggregate(self, by: Iterable[str] | None = None) -> list[dict]:
        """Per combination of the `by` parameters (default: the whole grid), over the seeds
        (and any grid parameter not in `by`): "runs", then "<metric>.mean" and
        "<metric>.ci95" (the half-width of the 95% confidence interval, Student's t; None
        with a single run) for every numeric metric."""
        by = list(self.grid) if by is None else list(by)
        for key in by:
            if key not in self.grid:
                raise ConfigError(f"aggregate by {key!r}: not a grid parameter "
                                  f"(grid: {', '.join(self.grid) or 'none'})")
        rows = self.results()
        not_metrics = {"run", "seed", *self.grid}
        metrics = list(dict.fromkeys(k for row in rows for k, v in row.items()
                                     if k not in not_metrics and _is_number(v)))
        groups: dict[str, list[dict]] = {}
        for row in rows:
            groups.setdefault(canonical_json([row[k] for k in by]), []).append(row)
        table = []
        for members in groups.values():
            out: dict[str, Any] = {k: members[0][k] for k in by}
            out["runs"] = len(members)
            for metric in metrics:
                mean, half = mean_ci95(v for r in members if _is_number(v := r.get(metric)))
                out[f"{metric}.mean"] = mean
                out[f"{metric}.ci95"] = half
            table.append(out)
        return table


def flatten_metrics(metrics: dict) -> dict:
    """metrics.json as one flat row: total metrics by name ("goodput_bps"), each flow's
    prefixed with its name ("flow0.goodput_bps"), each link's with "link.<name>."."""
    row = dict(metrics.get("total", {}))
    for name, values in metrics.get("flows", {}).items():
        row.update({f"{name}.{k}": v for k, v in values.items()})
    for name, values in metrics.get("links", {}).items():
        row.update({f"link.{name}.{k}": v for k, v in values.items()})
    return row


def print_progress(report: RunReport, stream: Any = None) -> None:
    """One line per finished run: "[3/12] cc=cubic seed=2 ... 1.4 s"."""
    outcome = f"{report.seconds:.1f} s" if report.error is None else \
        f"FAILED after {report.seconds:.1f} s: {report.error}"
    print(f"[{report.done}/{report.total}] {report.label} ... {outcome}",
          file=stream or sys.stderr, flush=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def _read_metrics(run_dir: Path) -> dict | None:
    """A run's metrics, or None if it has none yet (missing, or cut short)."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return metrics if isinstance(metrics, dict) else None


def _read_campaign_file(path: Path) -> dict | None:
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    if not isinstance(stored, dict) or not {"base", "grid", "seeds"} <= set(stored):
        raise ConfigError(f"{path}: not a campaign description (base, grid, seeds)")
    return stored


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The dotted path of the first place two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{where}.{key}" if where else str(key)
            if key not in a or key not in b:
                return sub
            found = _first_difference(a[key], b[key], sub)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{where}.{i}" if where else str(i))
            if found:
                return found
        return None
    return None if a == b else (where or "campaign")


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
