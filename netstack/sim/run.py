"""A run: one scenario in, one directory out. A pure function of the scenario: the same
scenario (seed included) gives the same bytes in every file but the plots' metadata.

    run_dir = run_scenario(load_scenario("bufferbloat"), "runs")

The directory, named by the scenario's hash (scenario_hash.py), holds:
    scenario.json         the canonical scenario: seed, netstack and Python versions
    metrics.json          per flow, per link and in total (metrics.py)
    series/<flow>.csv     TCP_INFO of each TCP sender, a row whenever a value changed
    delays/<flow>.csv     one-way delay of the flow's data frames
    rtts/<flow>.csv       RTT samples: the TCP sender's measurements, or ping's
    queues/<link>.csv     queue occupancy of each link direction
    links/<link>.log      each link direction's log, in mahimahi's format
    pcaps/<link>-<node>.pcap   every frame at each link end, virtual nanosecond timestamps
It is written under a temporary name and renamed when complete, so a run that was
interrupted leaves no directory a sweep could mistake for a finished one.
"""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netstack.api.constants import IPPROTO_TCP, TCP_CONGESTION
from netstack.engine.pcapfile import PcapWriter
from netstack.errors import ConfigError
from netstack.sim import apps
from netstack.sim.aio import SimEventLoop, outside_running_loop
from netstack.sim.events import Simulator
from netstack.sim.probes import SERIES_COLUMNS, FlowTracker, TcpInfoProbe
from netstack.sim.record import FlowRecord, RunRecord
from netstack.sim.scenario import (
    complete,
    run_directory_name,
    spec_from_canonical,
    write_canonical,
)
from netstack.sim.topology import Network, NetworkBuilder, dumbbell, graph, point_to_point
from netstack.stages.tcp.config import TcpConfig

MAX_ROWS = 5000  # per time-series file: enough for any plot, small enough to diff


class Run:
    """Everything one run holds while it runs (see the module docstring)."""

    def __init__(self, scenario: dict, directory: Path | None,
                 progress: Callable[[float], None] | None = None) -> None:
        self.scenario = scenario
        self.directory = directory
        self.progress = progress
        self.sim = Simulator(scenario["seed"])
        self.tracker = FlowTracker()
        self.probes: list[TcpInfoProbe] = []
        self.pcaps: list[PcapWriter] = []
        self.logs: list[Any] = []
        self.flows: list[FlowRecord] = []
        self.net = self._build()

    # --- the network --------------------------------------------------------------------

    def _build(self) -> Network:
        scenario, probes = self.scenario, self.scenario["probes"]
        builder = NetworkBuilder(
            self.sim, host_options={"tcp": TcpConfig(**scenario["tcp"]),
                                     "mtu": scenario["mtu"]}, crn=scenario["crn"],
            observer_for=self._link_log if probes["link_log"] else None,
            end_hook=self._capture if probes["pcap"] else None, on_drop=self.tracker.dropped)
        specs = {name: (spec_from_canonical(link["up"]), spec_from_canonical(link["down"]))
                 for name, link in scenario["links"].items()}
        topology = scenario["topology"]
        if topology["kind"] == "p2p":
            net = point_to_point(builder, specs)
        elif topology["kind"] == "dumbbell":
            net = dumbbell(builder, topology["pairs"], specs)
        else:
            ends = [(name, link["a"], link["b"]) for name, link in scenario["links"].items()]
            net = graph(builder, topology["nodes"], ends, specs)
        for name, host in net.hosts.items():
            host.taps.append(self.tracker.tap_for(name, self.sim))
        return net

    def _link_log(self, name: str, spec):
        from netstack.sim.mahimahi.log import MahimahiLog

        log = MahimahiLog.for_link(self.directory / "links" / f"{name}.log", spec,
                                   direction="uplink" if name.endswith(".up") else "downlink")
        self.logs.append(log)
        return log

    def _capture(self, link: str, node: str, send, receive):
        writer = PcapWriter(str(self.directory / "pcaps" / f"{link}-{node}.pcap"),
                            nanoseconds=True)
        self.pcaps.append(writer)
        sim, write = self.sim, writer.write

        def captured_send(packet) -> None:
            write(packet.data, sim.now)
            send(packet)

        def captured_receive(packet) -> None:
            write(packet.data, sim.now)
            receive(packet)

        return captured_send, captured_receive

    # --- the applications ---------------------------------------------------------------

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._flow(flow)) for flow in self.scenario["flows"]]
        duration = self.scenario["duration"]
        try:
            for i in range(1, 21):  # wake twenty times, to report progress
                await asyncio.sleep(max(0.0, i * duration / 20 - loop.time()))
                if self.progress is not None:
                    self.progress(loop.time())
                if any(t.done() and not t.cancelled() and t.exception() for t in tasks):
                    break
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for flow, result in zip(self.scenario["flows"], results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
                raise RuntimeError(f"flow {flow['name']} failed at t={loop.time():.3f}: "
                                   f"{result!r}") from result

    async def _flow(self, flow: dict) -> None:
        record = FlowRecord(flow["name"], flow["kind"], flow["src"], flow["dst"],
                            cc=flow.get("cc", ""), start=flow["start"])
        self.flows.append(record)
        src, dst = self.net.hosts[flow["src"]], self.net.hosts[flow["dst"]]
        dst_ip = str(dst.address.ip)
        if flow["kind"] == "ping":
            await asyncio.sleep(flow["start"])
            await apps.ping(src.host, dst_ip, record, interval=flow["interval"], size=flow["size"])
            return
        port = flow["port"]
        cc = flow["cc"].encode()

        def setup(sock) -> None:
            sock.setsockopt(IPPROTO_TCP, TCP_CONGESTION, cc)

        def watch_sender(sock) -> None:
            """The client sends (bulk, onoff): its frames are the flow's data."""
            ip, sport = sock.getsockname()
            self.tracker.watch(record, flow["dst"], ip, sport, dst_ip, port)
            self.probes.append(TcpInfoProbe(src.stack, sock._conn, record,
                                            series=self.scenario["probes"]["tcp_info"]))

        def watch_receiver(sock) -> None:
            """The client receives (fetch): the server's frames are the flow's data."""
            ip, cport = sock.getsockname()
            self.tracker.watch(record, flow["src"], dst_ip, port, ip, cport)

        def done(now: float) -> None:
            if flow["kind"] == "bulk" and flow["size"] is not None:
                record.end = now
                record.completion_times.append(now - flow["start"])

        if flow["kind"] == "fetch":
            server = apps.fetch_handler()
        else:
            server = apps.sink_handler(record, on_eof=done)
        serving = asyncio.get_running_loop().create_task(apps.serve(dst.host.socket, port, server))
        try:
            await asyncio.sleep(flow["start"])
            if flow["kind"] == "bulk":
                await apps.bulk(src.host.socket, (dst_ip, port), size=flow["size"],
                                duration=flow["duration"], setup=setup, on_connected=watch_sender)
                await asyncio.Future()  # the receiver reads on until the run ends
            elif flow["kind"] == "onoff":
                await apps.onoff(src.host.socket, (dst_ip, port), on=flow["on"], off=flow["off"],
                                 setup=setup, on_connected=watch_sender)
            else:
                await apps.fetch(src.host.socket, (dst_ip, port), record,
                                 response=flow["response"], interval=flow["interval"],
                                 count=flow["count"], setup=setup, on_connected=watch_receiver)
                await asyncio.Future()
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)

    # --- running and writing ------------------------------------------------------------

    def execute(self) -> RunRecord:
        self.net.start()
        loop = SimEventLoop(self.sim)
        try:
            with outside_running_loop():  # e.g. in a notebook, whose kernel runs a loop
                loop.run_until_complete(self.main())
        finally:
            loop.close()
        end = self.scenario["duration"]
        for probe in self.probes:
            probe.close()
        record = RunRecord(duration=end, flows=self.flows, links=self.net.link_records)
        for link in self.net.links.values():
            link.up.finish(end)
            link.down.finish(end)
        for writer in self.pcaps:
            writer.close()
        for log in self.logs:
            log.close()
        return record

    def write(self, record: RunRecord) -> None:
        from netstack.sim.metrics import run_metrics

        out = self.directory
        for probe in self.probes:
            _write_csv(out / "series" / f"{probe.record.name}.csv", SERIES_COLUMNS, probe.rows)
        for flow in record.flows:
            if flow.rtt_samples:
                _write_csv(out / "rtts" / f"{flow.name}.csv", ("time", "rtt"), flow.rtt_samples)
            if flow.arrivals:
                rows = [(t, d) for (t, _), d in zip(flow.arrivals, flow.one_way_delays, strict=True)]
                _write_csv(out / "delays" / f"{flow.name}.csv", ("time", "one_way_delay"), rows)
        for link in record.links:
            if link.queue_samples:
                _write_csv(out / "queues" / f"{link.name}.csv", ("time", "bytes", "packets"),
                           link.queue_samples)
        metrics = run_metrics(record)
        (out / "metrics.json").write_text(json.dumps(metrics, sort_keys=True, indent=1) + "\n")


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    from netstack.sim.stats import decimate

    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in decimate(rows, MAX_ROWS):
            writer.writerow([_short(v) for v in row])


def _short(value: Any) -> Any:
    return f"{value:.9g}" if isinstance(value, float) else value


def simulate(scenario: dict, base_dir: Path | None = None,
             before: Callable[[Run], None] | None = None) -> tuple[Run, RunRecord]:
    """Run `scenario` in memory and return what it measured, writing no files (pcap and
    link-log probes are turned off). For tests and notebooks that want the records;
    `before(run)` may subscribe to a stack's trace (run.net.hosts[name].stack.trace)."""
    scenario = complete(scenario, base_dir)
    scenario["probes"] = {**scenario["probes"], "pcap": False, "link_log": False}
    run = Run(scenario, None)
    if before is not None:
        before(run)
    return run, run.execute()


def run_scenario(scenario: dict, out_dir: str | Path,
                 progress: Callable[[float], None] | None = None,
                 base_dir: Path | None = None) -> Path:
    """Run `scenario` (raw or complete) and return its directory under `out_dir`. An
    existing complete directory for the same scenario is replaced."""
    scenario = complete(scenario, base_dir)
    final = Path(out_dir) / run_directory_name(scenario)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for sub in ("series", "delays", "rtts", "queues", "links", "pcaps", "plots"):
        (partial / sub).mkdir(parents=True)
    write_canonical(scenario, partial / "scenario.json")
    try:
        run = Run(scenario, partial, progress)
        run.write(run.execute())
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def print_progress(total: float) -> Callable[[float], None]:
    """Progress on stderr: one line redrawn in place on a terminal, else a line a quarter."""
    tty = sys.stderr.isatty()
    shown: set[int] = set()

    def report(now: float) -> None:
        if tty:
            print(f"\r  t = {now:6.1f} / {total:g} s virtual", end="", file=sys.stderr,
                  flush=True)
            if now >= total:
                print(file=sys.stderr)
            return
        quarter = int(4 * now / total + 1e-9)
        if quarter and quarter not in shown:
            shown.add(quarter)
            print(f"  t = {now:.1f} / {total:g} s virtual", file=sys.stderr, flush=True)

    return report


__all__ = ["run_scenario", "Run", "ConfigError"]
