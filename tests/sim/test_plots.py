"""Plots from a small synthetic run directory: each file is a real PNG with something drawn,
and the readers behind them (link log, pcap time-sequence) give the numbers put in."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from netstack.engine.pcapfile import PcapWriter
from netstack.errors import ConfigError
from netstack.sim.plotdata import binned_rate, read_link_log, read_table, read_time_sequence
from netstack.sim.plots import (
    plot_bufferbloat,
    plot_capacity_vs_throughput,
    plot_cdf,
    plot_pantheon_scatter,
    plot_run,
    plot_series,
    plot_time_sequence,
)
from netstack.wire import ethernet, ipv4, tcp

SENDER, RECEIVER = IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")
SPORT, DPORT = 40000, 5001
ISN, PEER_ISN = 1000, 5000
MSS = 1000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_bytes: int = 8000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= 600 and height >= 300
    assert len(data) > min_bytes, f"{path.name} is only {len(data)} bytes: nothing drawn?"


# --- a synthetic run directory ---------------------------------------------------------


def frame(src, dst, sport, dport, seq, ack, flags, payload=b"", window=1000, options=()):
    segment = tcp.build(tcp.TcpHeader(sport, dport, seq, ack, flags, window, options=options),
                        payload, src, dst)
    datagram = ipv4.build(ipv4.IPv4Header(src, dst, ipv4.PROTO_TCP), segment)
    macs = ethernet.mac_from_ip(dst), ethernet.mac_from_ip(src)
    return ethernet.build(ethernet.EthernetHeader(*macs, ethernet.ETHERTYPE_IPV4), datagram)


def write_pcap(path: Path, isn: int = ISN) -> None:
    """A handshake, ten 1000-byte segments, the fourth lost and resent after a SACK."""
    A, S = tcp.FLAG_ACK, tcp.FLAG_SYN

    def data(i, t):
        seq = (isn + 1 + i * MSS) % (1 << 32)
        return frame(SENDER, RECEIVER, SPORT, DPORT, seq, PEER_ISN + 1, A, b"x" * MSS), t

    def ack(rel, t, window=100, sack=()):
        options = (tcp.SackOption(tuple(((isn + 1 + a) % (1 << 32), (isn + 1 + b) % (1 << 32))
                                        for a, b in sack)),) if sack else ()
        return frame(RECEIVER, SENDER, DPORT, SPORT, PEER_ISN + 1, (isn + 1 + rel) % (1 << 32),
                     A, window=window, options=options), t

    frames = [
        (frame(SENDER, RECEIVER, SPORT, DPORT, isn, 0, S, window=65535,
               options=(tcp.WindowScaleOption(7), tcp.SACK_PERMITTED)), 0.000),
        (frame(RECEIVER, SENDER, DPORT, SPORT, PEER_ISN, isn + 1, S | A, window=65535,
               options=(tcp.WindowScaleOption(6), tcp.SACK_PERMITTED)), 0.010),
        (frame(SENDER, RECEIVER, SPORT, DPORT, isn + 1, PEER_ISN + 1, A), 0.020),
        (b"\xff" * 12 + b"\x86\xdd" + b"\x00" * 40, 0.021),  # IPv6: not ours, skipped
    ]
    frames += [data(i, 0.020 + i * 0.001) for i in range(10)]
    frames += [ack(2000, 0.050), ack(3000, 0.055, sack=[(4000, 6000)]),
               data(3, 0.070), ack(10000, 0.080, window=200)]
    writer = PcapWriter(str(path))
    for raw, t in frames:
        writer.write(raw, t)
    writer.close()


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n"
                    + "".join(",".join(f"{v:.9g}" for v in row) + "\n" for row in rows))


def write_link_log(path: Path, seconds: float = 4.0, rate_bps: float = 8e6) -> None:
    """A 1500-byte opportunity every 1.5 ms (8 Mbit/s), traffic at three quarters of it."""
    lines = ["# mahimahi mm-link (Uplink) [constant] > x.log", "# init timestamp: 0",
             "# base timestamp: 100"]
    step = 1500 * 8 / rate_bps * 1000
    for i in range(int(seconds * 1000 / step)):
        ms = 100 + int(i * step)
        lines.append(f"{ms} # 1500")
        if i % 4:
            lines += [f"{ms} + 1500", f"{ms + 2} - 1500 2"]
    lines += ["garbage line", "105 ? 12", "110 - 1500"]  # tolerated, counted
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    scenario = {"bottleneck": "bottleneck", "duration": 4.0, "seed": 1,
                "flows": [{"name": "ping0", "kind": "ping", "src": "s0", "dst": "r0"},
                          {"name": "flow0", "kind": "bulk", "src": "s0", "dst": "r0",
                           "port": DPORT}]}
    metrics = {"flows": {}, "total": {},
               "links": {"bottleneck.up": {"utilization": 0.75},
                         "bottleneck.down": {"utilization": 0.02}}}
    run.mkdir()
    (run / "scenario.json").write_text(json.dumps(scenario))
    (run / "metrics.json").write_text(json.dumps(metrics))
    series = []
    for i in range(400):  # a sawtooth cwnd, an RTT that follows it
        t = i * 0.01
        cwnd = 15_000 + (i % 100) * 1_500
        series.append((t, cwnd, 60_000 if i >= 100 else -1, 0.004 + cwnd / 1.25e9, 0.001, 0.2,
                       i * 12_500, 0, i // 100, 1.25e6, 1.3e6))
    write_csv(run / "series" / "flow0.csv",
              ["time", "cwnd", "ssthresh", "srtt", "rttvar", "rto", "bytes_acked",
               "bytes_received", "total_retrans", "delivery_rate", "pacing_rate"], series)
    write_csv(run / "delays" / "flow0.csv", ["time", "one_way_delay"],
              [(i * 0.01, 0.002 + (i % 100) * 1e-4) for i in range(400)])
    write_csv(run / "delays" / "ping0.csv", ["time", "one_way_delay"],
              [(i * 0.1, 0.003 + (i % 10) * 1e-3) for i in range(40)])
    write_csv(run / "rtts" / "flow0.csv", ["time", "rtt"],
              [(i * 0.02, 0.005 + (i % 50) * 2e-4) for i in range(200)])
    write_csv(run / "queues" / "bottleneck.up.csv", ["time", "bytes", "packets"],
              [(i * 0.01, (i % 100) * 1514, i % 100) for i in range(400)])
    write_link_log(run / "links" / "bottleneck.up.log")
    write_link_log(run / "links" / "bottleneck.down.log", seconds=0.5)
    (run / "pcaps").mkdir()
    write_pcap(run / "pcaps" / "s0-s0.pcap")
    return run


# --- readers ---------------------------------------------------------------------------


def test_link_log_reader_sorts_events_and_counts_what_it_skipped(tmp_path):
    write_link_log(tmp_path / "x.log", seconds=0.3)  # 200 opportunities, 150 packets
    log = read_link_log(tmp_path / "x.log")
    assert log.base_ms == 100
    assert len(log.opportunities) == 200
    assert len(log.arrivals) == len(log.departures) == 150
    assert log.departures[0] == (103, 1500, 2)
    assert log.skipped == 3
    with pytest.raises(ConfigError, match="cannot read link log"):
        read_link_log(tmp_path / "missing.log")


def test_binned_rate_counts_bits_per_bin_from_the_base():
    times, bps = binned_rate([(100, 1000), (150, 500), (1200, 250)], 0.5, base_ms=100,
                             end_ms=1600)
    assert times == [0.0, 0.5, 1.0]
    assert bps == [1500 * 8 / 0.5, 0.0, 250 * 8 / 0.5]
    with pytest.raises(ConfigError, match="bin_s"):
        binned_rate([], 0.0)


def test_table_reader_skips_broken_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("time,cwnd\n0,10\n0.5,x\n1,20,3\n2,30\n")
    assert read_table(path) == {"time": [0.0, 2.0], "cwnd": [10.0, 30.0]}


def test_time_sequence_reads_data_retransmissions_acks_sacks_and_window(run_dir):
    trace = read_time_sequence(run_dir / "pcaps" / "s0-s0.pcap")
    assert str(trace.connection) == f"{SENDER}:{SPORT} > {RECEIVER}:{DPORT}"
    assert len(trace.segments) == 11
    assert trace.segments[0][1:] == (0, 1000, False)
    assert trace.segments[-1][1:] == (3000, 4000, True)  # the resent fourth segment
    assert sum(again for *_, again in trace.segments) == 1
    # the SYN-ACK acknowledges byte 0; then 2000, 3000, 10000
    assert [a for _, a in trace.acks] == [0, 2000, 3000, 10000]
    assert trace.sacks == [(0.055, 4000, 6000)]
    # both SYNs had window scaling: the peer's windows are shifted by its 6, but not the SYN's
    assert trace.windows[0] == (0.010, 65535)
    assert trace.windows[-1] == (0.080, 10000 + (200 << 6))


def test_zoom_window_is_around_the_first_retransmission_in_rtts(run_dir):
    trace = read_time_sequence(run_dir / "pcaps" / "s0-s0.pcap")
    # the last ACK before the resend (3000, at 55 ms) covers the segment sent at 22 ms
    assert trace.rtt_before(0.070) == pytest.approx(0.033)
    assert trace.rtt_before(0.040) is None  # no ACK of data yet
    start, end = trace.first_loss_window()
    assert start == pytest.approx(0.070 - 2 * 0.033)
    assert end == pytest.approx(0.080)  # six RTTs would run past the last frame
    assert trace.first_loss_window(after_rtts=0.25)[1] == pytest.approx(0.070 + 0.25 * 0.033)


def test_time_sequence_unwraps_sequence_numbers_across_two_to_the_32(tmp_path):
    write_pcap(tmp_path / "wrap.pcap", isn=(1 << 32) - 4500)  # wraps during the 5th segment
    trace = read_time_sequence(tmp_path / "wrap.pcap")
    starts = [start for _, start, _, again in trace.segments if not again]
    assert starts == [i * MSS for i in range(10)]
    assert [a for _, a in trace.acks][-1] == 10000
    assert trace.sacks[0][1:] == (4000, 6000)


def test_time_sequence_filter_and_no_data(run_dir, tmp_path):
    pcap = run_dir / "pcaps" / "s0-s0.pcap"
    with pytest.raises(ConfigError, match="flow filter"):
        read_time_sequence(pcap, lambda c: c.dport == 80)
    reverse = read_time_sequence(pcap, lambda c: DPORT in (c.sport, c.dport))
    assert reverse.connection.dport == DPORT


# --- plots -----------------------------------------------------------------------------


def test_pantheon_scatter(tmp_path):
    groups = {
        "cc=newreno": [(9.1, 45.0), (9.4, 52.0), (8.8, 47.0)],
        "cc=cubic": [(11.2, 80.0), (11.5, 95.0), (11.0, 88.0), (11.4, 70.0)],
        "cc=bbr": [(10.0, 35.0)],  # a single run: a dot and a mean, no ellipse
    }
    assert_png(plot_pantheon_scatter(groups, tmp_path / "p.png"))
    with pytest.raises(ConfigError):
        plot_pantheon_scatter({"x": [(1.0, 0.0)]}, tmp_path / "none.png")


def test_capacity_vs_throughput(run_dir, tmp_path):
    assert_png(plot_capacity_vs_throughput(run_dir, "bottleneck.up", tmp_path / "c.png"))
    with pytest.raises(ConfigError):
        plot_capacity_vs_throughput(run_dir, "nope", tmp_path / "n.png")


def test_bufferbloat_trio_with_and_without_a_queue_file(run_dir, tmp_path):
    assert_png(plot_bufferbloat(run_dir, "flow0", "bottleneck.up", tmp_path / "b.png"))
    assert_png(plot_bufferbloat(run_dir, "flow0", "no-such-link", tmp_path / "b2.png"))


def test_series_plots_any_column_and_names_a_missing_one(run_dir, tmp_path):
    assert_png(plot_series(run_dir, ["flow0"], "delivery_rate", tmp_path / "s.png"), 5000)
    assert_png(plot_series(run_dir, "flow0", "ssthresh", tmp_path / "s2.png"), 5000)
    assert_png(plot_series(run_dir, ["flow0", "ping0"], "one_way_delay", tmp_path / "s3.png"))
    with pytest.raises(ConfigError, match="'goodput'"):
        plot_series(run_dir, ["flow0"], "goodput", tmp_path / "s4.png")


def test_time_sequence_plot(run_dir, tmp_path):
    pcap = run_dir / "pcaps" / "s0-s0.pcap"
    assert_png(plot_time_sequence(pcap, tmp_path / "t.png"))
    assert_png(plot_time_sequence(pcap, tmp_path / "t2.png", zoom=(0.0, 0.03)))
    with pytest.raises(ConfigError, match="zoom"):
        plot_time_sequence(pcap, tmp_path / "t3.png", zoom=(0.5, 0.1))


def test_cdf_plot(tmp_path):
    samples = {"a": [math.sin(i) ** 2 for i in range(500)], "empty": []}
    assert_png(plot_cdf(samples, tmp_path / "cdf.png", "delay (ms)"))
    with pytest.raises(ConfigError):
        plot_cdf({"empty": []}, tmp_path / "none.png", "x")


def test_plot_run_draws_the_four_plots_for_the_bulk_flow_and_busy_direction(run_dir):
    paths = plot_run(run_dir)
    assert [p.name for p in paths] == ["bufferbloat.png", "capacity.png",
                                       "time_sequence.png", "delay_cdf.png"]
    for path in paths:
        assert path.parent == run_dir / "plots"
        assert_png(path)


def test_plot_run_skips_what_is_missing_and_never_crashes(run_dir, caplog):
    for folder in ("pcaps", "series"):
        for f in (run_dir / folder).iterdir():
            f.unlink()
    (run_dir / "links" / "bottleneck.up.log").write_text("# base timestamp: 0\n")  # no events
    paths = plot_run(run_dir)
    assert [p.name for p in paths] == ["delay_cdf.png"]
    assert "capacity plot skipped" in caplog.text


def test_plot_run_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        plot_run(tmp_path)
    with pytest.raises(ConfigError, match="no such directory"):
        plot_run(tmp_path / "missing")
    (tmp_path / "scenario.json").write_text("{broken")
    with pytest.raises(ConfigError, match="scenario.json"):
        plot_run(tmp_path)


def test_importing_the_plots_module_does_not_load_matplotlib():
    code = "import sys, netstack.sim.plots, netstack.sim.metrics; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
