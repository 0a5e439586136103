"""The mm-link log writer: exact lines for known events, and a log mahimahi's tools can read."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from netstack.errors import ConfigError
from netstack.sim.link.spec import LinkSpec, QueueSpec, RateSpec
from netstack.sim.mahimahi.log import MahimahiLog, describe_queue, virtual_ms
from netstack.sim.mahimahi.logread import summarize_log

HEADER = ("# mahimahi mm-link (Uplink) [12mbps.trace] > up.log\n"
          "# command line: 'mm-link' '12mbps.trace' '12mbps.trace'\n"
          "# queue: droptail [packets=2]\n"
          "# init timestamp: 0\n"
          "# base timestamp: 0\n")


def uplink_log(path, **kwargs):
    return MahimahiLog(path, direction="uplink", trace_name="12mbps.trace",
                       queue_desc="droptail [packets=2]",
                       command_line="'mm-link' '12mbps.trace' '12mbps.trace'", **kwargs)


def feed(log):
    """A few events, each with the line the format rules give for it (see log.py)."""
    log.arrival(0.0042, 1514)                # "4 + 1514": stamps are whole ms, floored
    log.queue(0.0042, 1514, 1)               # occupancy: not part of the format
    log.opportunity(0.005, 1500)             # "5 # 1500"
    log.departure(0.005, 1514, 0.0008)       # arrived in ms 4, left in ms 5: delay 1
    log.arrival(0.19999999999999998, 100)    # 0.2 s computed with float noise: ms 200
    log.arrival(0.2003, 1514)
    log.drop(0.2003, 1514, "tail")           # refused on entry: "d" only if drops=True
    log.arrival(0.2009, 60)
    log.drop(0.2009, 100, "head")            # one arrival pushed out two packets:
    log.drop(0.2009, 1514, "head")           #   mm-link writes one line for both
    log.drop(0.2500, 60, "codel")            # dropped at dequeue: mm-link never logs these
    log.opportunity(0.3, 1500)
    log.departure(0.3, 60, 0.1)              # arrival 0.3 - 0.1 = 0.19999999999999998: 200
    log.drop(0.31, 60, "loss")               # mm-loss's drop, another shell's business


def test_the_log_is_the_lines_mm_link_writes(tmp_path):
    path = tmp_path / "up.log"
    with uplink_log(path) as log:
        feed(log)
    assert path.read_text() == HEADER + (
        "4 + 1514\n"
        "5 # 1500\n"
        "5 - 1514 1\n"
        "200 + 100\n"
        "200 + 1514\n"
        "200 + 60\n"
        "300 # 1500\n"
        "300 - 60 100\n")


def test_drop_lines_are_written_as_mm_link_writes_them_when_asked(tmp_path):
    path = tmp_path / "up.log"
    with uplink_log(path, drops=True) as log:
        feed(log)
    assert path.read_text() == HEADER + (
        "4 + 1514\n"
        "5 # 1500\n"
        "5 - 1514 1\n"
        "200 + 100\n"
        "200 + 1514\n"
        "200 d 1 1514\n"
        "200 + 60\n"
        "200 d 2 1614\n"
        "300 # 1500\n"
        "300 - 60 100\n")


def test_virtual_seconds_map_to_floored_milliseconds():
    assert [virtual_ms(t) for t in (0.0, 0.0009999, 0.001, 0.003, 1.2345, 59.9999)] == \
        [0, 0, 1, 3, 1234, 59999]
    assert virtual_ms(0.3 - 0.1) == 200  # 0.19999999999999998 s: float noise, not ms 199


def test_many_events_are_buffered_and_all_written(tmp_path):
    path = tmp_path / "long.log"
    with uplink_log(path) as log:
        for ms in range(1, 10_001):
            log.opportunity(ms / 1000, 1500)
    lines = path.read_text().splitlines()
    assert len(lines) == 5 + 10_000
    assert lines[5] == "1 # 1500" and lines[-1] == "10000 # 1500"


def test_for_link_describes_the_spec_in_the_headers(tmp_path):
    spec = LinkSpec(rate=RateSpec(kind="constant", bps=12e6),
                    queue=QueueSpec(kind="codel", bytes=90000, packets=60))
    path = tmp_path / "x.log"
    MahimahiLog.for_link(path, spec, direction="downlink").close()
    assert path.read_text().splitlines()[:3] == [
        "# mahimahi mm-link (Downlink) [constant 1.2e+07 bit/s] > x.log",
        "# command line: netstack sim",
        "# queue: codel [bytes=90000, packets=60]",
    ]
    assert describe_queue(QueueSpec()) == "infinite"
    # a trace is named by its file name: the bytes do not depend on where the run is
    traced = LinkSpec(rate=RateSpec(kind="trace", trace="/somewhere/deep/cell.trace"))
    MahimahiLog.for_link(path, traced).close()
    assert path.read_text().startswith("# mahimahi mm-link (Uplink) [cell.trace] > x.log\n")


def half_loaded_log(path):
    """12 Mbit/s for one second, one 1500-byte packet every 2 ms, each leaving at the next
    opportunity: the numbers mm-throughput-graph prints can be worked out by hand."""
    with uplink_log(path) as log:
        for ms in range(1, 1001):
            if ms % 2 == 1:
                log.arrival((ms - 0.5) / 1000, 1500)
            log.opportunity(ms / 1000, 1500)
            if ms % 2 == 1:
                log.departure(ms / 1000, 1500, 0.0005)


def test_mm_throughput_graph_would_read_the_log_and_print_these_numbers(tmp_path):
    path = tmp_path / "up.log"
    half_loaded_log(path)
    summary = summarize_log(path, ms_per_bin=100)
    # events from 0 ms (the first arrival) to 1000 ms: one second
    assert summary.duration_s == 1.0
    assert summary.capacity_bps == 12e6
    assert summary.ingress_bps == summary.throughput_bps == 6e6
    assert summary.utilization == 0.5
    assert summary.delay_p95_ms == 1.0  # stamped 0 ms in, 1 ms out, every time
    # packets made at even ms wait 1 ms; one made at an odd ms waits for the next: 2 ms
    assert summary.signal_delay_p95_ms == 2.0
    assert (summary.arrivals, summary.opportunities, summary.departures) == (500, 1000, 500)
    assert len(summary.series) == 11 and summary.series[0][0] == 0.0
    assert summary.series[1][1:] == (12e6, 6e6, 6e6)


def test_drop_lines_stop_mm_throughput_graph_as_upstream_issue_136_says(tmp_path):
    path = tmp_path / "up.log"
    with uplink_log(path, drops=True) as log:
        feed(log)
        for ms in range(301, 700):
            log.opportunity(ms / 1000, 1500)
    with pytest.raises(ConfigError, match="unknown event type 'd'"):
        summarize_log(path)
    summary = summarize_log(path, strict=False)
    assert summary.drop_lines == 2 and summary.departures == 2


@pytest.mark.parametrize("body, words", [
    ("1 + 100\n", "no '# base timestamp'"),
    ("# base timestamp: 0\n# base timestamp: 0\n", "base timestamp given twice"),
    ("# base timestamp: 0\n1 +\n", "expected 'TIME TYPE BYTES"),
    ("# base timestamp: 0\n1.5 + 100\n", "invalid timestamp '1.5'"),
    ("# base timestamp: 0\n1 + -3\n", "invalid byte count '-3'"),
    ("# base timestamp: 0\n1 * 100\n", "unknown event type '*'"),
    ("# base timestamp: 0\n1 - 100\n", "a departure needs"),
    ("# base timestamp: 0\n5 - 100 9\n", "reaches before the base"),
    ("# base timestamp: 0\n", "no events"),
    ("# base timestamp: 0\n1 + 100\n900 + 100\n", "no departures"),
    ("# base timestamp: 0\n1 # 1500\n1 - 100 0\n", "span 0 ms"),
    ("# base timestamp: 0\n1 # 1500\n2 - 100 0\n", "one 500 ms bin"),
])
def test_a_log_mm_throughput_graph_would_refuse_is_refused(tmp_path, body, words):
    path = tmp_path / "bad.log"
    path.write_text(body)
    with pytest.raises(ConfigError) as caught:
        summarize_log(path)
    assert words in str(caught.value) and "\n" not in str(caught.value)


MM_THROUGHPUT_GRAPH = shutil.which("mm-throughput-graph")


@pytest.mark.skipif(MM_THROUGHPUT_GRAPH is None or shutil.which("gnuplot") is None,
                    reason="mahimahi's mm-throughput-graph (and gnuplot) not installed: "
                           "Debian 12 does not package mahimahi; summarize_log mirrors it")
def test_the_real_mm_throughput_graph_draws_the_log(tmp_path):
    path = tmp_path / "up.log"
    half_loaded_log(path)
    result = subprocess.run([MM_THROUGHPUT_GRAPH, "100", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "<svg" in result.stdout
    assert "Average capacity: 12.00 Mbits/s" in result.stderr
    assert "Average throughput: 6.00 Mbits/s (50.0% utilization)" in result.stderr


def test_a_simulated_mm_link_writes_a_log_with_the_trace_capacity(tmp_path):
    """End to end, once the link stages are there: a parsed mm-link command drives a
    LinkDirection whose log reads back at the trace's 12 Mbit/s."""
    direction = pytest.importorskip("netstack.sim.link.direction")
    from netstack.sim.events import Simulator
    from netstack.sim.mahimahi.command import parse_mm_command
    from netstack.sim.packet import Packet

    setup = parse_mm_command("mm-link 12mbps.trace 12mbps.trace --uplink-queue=droptail "
                             "--uplink-queue-args=packets=10")
    sim = Simulator(seed=1)
    path = tmp_path / "up.log"
    delivered = []
    with setup.log(path, "uplink", drops=True) as log:
        link = direction.LinkDirection(sim, setup.uplink, name="mm.up",
                                       deliver=delivered.append, observer=log)
        # 1 s at half the capacity, then 1 s at twice it: the 10-packet queue overflows
        for i in range(500):
            sim.at(i * 0.002 + 0.0005, link.send, Packet(bytes(1500), born=0.0))
        for i in range(2000):
            sim.at(1.0 + i * 0.0005 + 0.0001, link.send, Packet(bytes(1500), born=0.0))
        # opportunities are reported as the link catches up: a last packet makes it
        sim.at(2.5, link.send, Packet(bytes(100), born=0.0))
        sim.run_until(2.6)
    summary = summarize_log(path, strict=False)
    assert summary.opportunities >= 2500  # one a ms, 0-2.5 s
    assert summary.capacity_bps == pytest.approx(12e6, rel=0.01)
    assert summary.arrivals == 2501
    assert summary.departures == len(delivered)
    drops = sum(int(line.split()[2]) for line in path.read_text().splitlines()
                if " d " in line)
    assert drops == 2501 - len(delivered) > 900  # every packet left or was dropped
    assert summary.delay_p95_ms <= 12  # at most 10 queued + 1 in service, 1 ms each
