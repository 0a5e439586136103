"""What a run directory holds, read back for plots: which flow and link to show, which files.

The layout is the one run.py writes (scenario.json, metrics.json, series/, delays/, rtts/,
queues/, links/, pcaps/). Everything here tolerates missing pieces: a question whose files
are absent gets None, and plot_run skips that plot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netstack.errors import ConfigError
from netstack.sim.plotdata import Connection, read_table

log = logging.getLogger(__name__)


def load_json(path: Path) -> Any:
    """A JSON file's value; ConfigError naming the file if it cannot be read."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from None


@dataclass
class RunInfo:
    run_dir: Path
    scenario: dict
    metrics: dict

    @classmethod
    def load(cls, run_dir: Path) -> RunInfo:
        """ConfigError (one line) if `run_dir` is not a run: no scenario.json nor metrics.json."""
        if not run_dir.is_dir():
            raise ConfigError(f"{run_dir}: not a run directory (no such directory)")
        files = [run_dir / "scenario.json", run_dir / "metrics.json"]
        if not any(f.exists() for f in files):
            raise ConfigError(f"{run_dir}: not a run directory (no scenario.json or metrics.json)")
        scenario, metrics = (load_json(f) if f.exists() else {} for f in files)
        if not isinstance(scenario, dict) or not isinstance(metrics, dict):
            raise ConfigError(f"{run_dir}: scenario.json and metrics.json must hold objects")
        return cls(run_dir, scenario, metrics)

    def _stems(self, folder: str, suffix: str) -> list[str]:
        return sorted(p.name[:-len(suffix)] for p in (self.run_dir / folder).glob(f"*{suffix}"))

    def _flow(self, name: str | None) -> dict:
        flows = self.scenario.get("flows")
        for flow in flows if isinstance(flows, list) else []:
            if isinstance(flow, dict) and flow.get("name") == name:
                return flow
        return {}

    def main_flow(self) -> str | None:
        """The first bulk flow of the scenario, else the first flow with a time series."""
        flows = self.scenario.get("flows")
        for flow in flows if isinstance(flows, list) else []:
            if isinstance(flow, dict) and flow.get("kind") == "bulk" and flow.get("name"):
                return str(flow["name"])
        series = self._stems("series", ".csv")
        return series[0] if series else None

    def bottleneck_direction(self) -> str | None:
        """The link direction to show ("bottleneck.up"): of the scenario's "bottleneck"
        link, the direction that carried the most (highest utilization in metrics.json,
        else the largest log); without a "bottleneck" key, the first link log."""
        names = sorted(set(self._stems("links", ".log")) | set(self._stems("queues", ".csv")))
        if not names:
            return None
        bottleneck = self.scenario.get("bottleneck")
        if not isinstance(bottleneck, str):
            return names[0]
        mine = [n for n in names if n == bottleneck or n.startswith(bottleneck + ".")]
        if not mine:
            return names[0]
        links = self.metrics.get("links", {})

        def busy(name: str) -> tuple[float, int]:
            utilization = links.get(name, {}).get("utilization") if isinstance(links, dict) else None
            logfile = self.run_dir / "links" / f"{name}.log"
            size = logfile.stat().st_size if logfile.exists() else 0
            return (utilization if isinstance(utilization, int | float) else -1.0, size)

        return max(mine, key=busy)

    def pcap_for(self, flow: str | None) -> Path | None:
        """A capture to draw `flow` from: one taken at its sender, else one at the
        bottleneck, else any (pcaps/<link>-<node>.pcap)."""
        pcaps = sorted((self.run_dir / "pcaps").glob("*.pcap"))
        if not pcaps:
            return None
        src = self._flow(flow).get("src")
        bottleneck = self.scenario.get("bottleneck")
        for p in pcaps:
            if src and p.name.endswith(f"-{src}.pcap"):
                return p
        for p in pcaps:
            if isinstance(bottleneck, str) and p.name.startswith(f"{bottleneck}-"):
                return p
        return pcaps[0]

    def flow_filter(self, flow: str | None) -> Callable[[Connection], bool] | None:
        """Picks `flow`'s connection out of a pcap by its port, when the scenario names one."""
        port = self._flow(flow).get("port")
        if not isinstance(port, int):
            return None
        return lambda c: port in (c.sport, c.dport)

    def delay_samples_ms(self) -> dict[str, list[float]]:
        """Every flow's one-way delays (delays/) and RTT samples (rtts/), in ms."""
        samples: dict[str, list[float]] = {}
        for folder, column, what in (("rtts", "rtt", "RTT"),
                                     ("delays", "one_way_delay", "one-way delay")):
            for name in self._stems(folder, ".csv"):
                try:
                    values = read_table(self.run_dir / folder / f"{name}.csv").get(column, [])
                except ConfigError as exc:
                    log.warning("%s", exc)
                    continue
                if values:
                    samples[f"{name} {what}"] = [v * 1e3 for v in values]
        return samples
