"""`netstack bench`'s report: targets and verdicts, the table, JSON and PNG from fake rows, the
new options, the hold workload's parsing, and the tcp-hold service it measures."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from netstack import api, bench
from netstack.bench import command, main
from netstack.bench import hold as bench_hold
from netstack.bench import tap as bench_tap
from netstack.bench.chart import relative, target_position, write_png
from netstack.bench.command import settings_from
from netstack.bench.common import DEFAULT, QUICK, Result, Target
from netstack.services import SERVICES, ServiceRunner, make_handlers, tcp_hold
from tests.api.tcp_fixtures import SERVER_IP, TIMEOUT, tcp_hosts, wait_for  # noqa: F401

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_rows() -> list[Result]:
    return [
        Result("UDP echo 64 B, 1 in flight", "round trips/s", "netstack run", 60_000.0,
               "C responder", 100_000.0, True, target=Target(0.5)),
        Result("ping RTT avg", "ms", "netstack run", 0.3, "C responder", 0.1, False,
               target=Target(2.0, at_least=False), extra={"Linux over veth": 0.05}),
        Result("TCP echo 64 B, 1 in flight", "round trips/s", "netstack run", 5_000.0,
               "Linux over veth", 40_000.0, True),
        Result("RSS per idle connection", "bytes", "netstack run", 5_500.0,
               "Linux", 2_500.0, False,
               target=Target(10_000, at_least=False, on="subject", unit="bytes")),
        Result("TCP idle connections held", "connections", "netstack run", 9_000.0,
               "Linux over veth", 10_000.0, True,
               target=Target(10_000, on="subject", unit="connections")),
        Result("nothing measured", "bytes", "netstack run", float("nan"), "Linux", 0.0, False,
               target=Target(10_000, at_least=False, on="subject")),
    ]


def test_targets_judge_the_ratio_or_the_figure() -> None:
    udp, ping, echo, rss, held, empty = fake_rows()
    assert udp.verdict == "PASS"  # 0.6 >= 0.5
    assert ping.verdict == "MISS"  # RTT 3x the responder's, the target is at most 2x
    assert echo.verdict == ""  # no target
    assert rss.verdict == "PASS" and held.verdict == "MISS"
    assert empty.verdict == ""  # NaN: nothing to judge
    assert Target(0.04).text == "ratio >= 0.04"
    assert Target(10_000, on="subject", unit="connections").text == ">= 10,000 connections"


def test_table_has_references_ratio_target_and_verdict() -> None:
    table = bench.format_table(fake_rows())
    ping_line = next(line for line in table.splitlines() if line.startswith("ping RTT avg"))
    assert "netstack run 300 us" in ping_line and "C responder 100 us" in ping_line
    assert "Linux over veth 50 us" in ping_line  # the third target, in the "also" column
    assert "3.00x (lower is better)" in ping_line and "ratio <= 2" in ping_line
    assert ping_line.rstrip().endswith("MISS")
    rss_line = next(line for line in table.splitlines() if line.startswith("RSS per"))
    assert "5,500 B" in rss_line and "<= 10,000 bytes" in rss_line and rss_line.endswith("PASS")
    empty_line = table.splitlines()[-1]
    assert empty_line.startswith("nothing measured") and "netstack run -" in empty_line


def test_chart_scale_reads_higher_is_better() -> None:
    udp, ping, echo, rss, held, empty = fake_rows()
    assert relative(udp) == pytest.approx(0.6) and target_position(udp) == 0.5
    assert relative(ping) == pytest.approx(1 / 3) and target_position(ping) == 0.5
    assert target_position(echo) is None
    assert target_position(rss) == pytest.approx(0.25)  # 2,500 B / 10,000 B
    assert target_position(held) == pytest.approx(1.0)
    assert math.isnan(relative(empty))


def test_main_writes_json_and_png(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setitem(command.RUNNERS, "ring", lambda settings: fake_rows())
    json_path, png_path = tmp_path / "out" / "results.json", tmp_path / "out" / "results.png"
    assert main(["--only", "ring", "--json", str(json_path), "--png", str(png_path)]) == 0
    captured = capsys.readouterr()
    assert "[1/1] ring" in captured.err  # progress goes to stderr
    assert "targets: 2 PASS, 2 MISS" in captured.out
    report = json.loads(json_path.read_text())
    rows = {r["name"]: r for r in report["results"]}
    assert rows["ping RTT avg"]["verdict"] == "MISS"
    assert rows["ping RTT avg"]["target"]["text"] == "ratio <= 2"
    assert rows["ping RTT avg"]["extra"] == {"Linux over veth": 0.05}
    assert rows["nothing measured"]["subject"] is None  # NaN is not JSON
    assert report["settings"]["hold_connections"] == DEFAULT.hold_connections
    assert png_path.read_bytes()[:8] == PNG_MAGIC and png_path.stat().st_size > 10_000


def test_png_of_nothing_is_a_clear_failure(tmp_path: Path) -> None:
    with pytest.raises(bench.BenchError, match="no row"):
        write_png([fake_rows()[-1]], tmp_path / "x.png")


def test_new_options_reach_the_settings() -> None:
    parser = bench.build_parser()
    args = parser.parse_args(["--quick", "--hold-connections", "200", "--port",
                              "dpdk:net_tap0,iface={tap}", "--png", "a.png"])
    settings = settings_from(args)
    assert settings.hold_connections == 200 and settings.port == "dpdk:net_tap0,iface={tap}"
    assert args.png == Path("a.png")
    assert settings_from(parser.parse_args([])).port == "tap:{tap}"
    assert {"hold", "tcp-loss"} <= set(bench.BENCHMARKS)


@pytest.mark.parametrize("argv", [["--hold-connections", "0"], ["--hold-connections", "99999"],
                                  ["--port", "nocolon"], ["--port", ":x"]])
def test_bad_new_options_exit_2(argv: list[str], capsys) -> None:
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_the_port_spec_names_the_device_netstack_run_uses() -> None:
    tap_cmd = bench_tap.netstack_run_command("--service", "tcp-hold:7")("nsb123")
    assert tap_cmd[tap_cmd.index("--port") + 1] == "tap:nsb123"
    dpdk = bench_tap.netstack_run_command(port="dpdk:net_tap0,iface={tap}")("nsb9")
    assert dpdk[dpdk.index("--port") + 1] == "dpdk:net_tap0,iface=nsb9"


def test_exit_counters_are_read_from_netstack_runs_output() -> None:
    lines = ["ready 192.0.2.2/24 on tap:x", "counters:", "  tcp.conn.established 10000",
             "  service.tcp_hold.peak 9999", "some later log line"]
    assert bench_tap._counters(lines) == {"tcp.conn.established": 10000,
                                          "service.tcp_hold.peak": 9999}
    assert bench_tap._counters(["ready", "no counters"]) == {}


def test_hold_client_lines_and_rows() -> None:
    held = bench_hold.parse_held("held count=10000 established=10000 open_seconds=3.1 "
                                 "verify_seconds=8.0 errors=none")
    assert held["count"] == "10000" and held["errors"] == "none"
    with pytest.raises(bench.BenchError):
        bench_hold.parse_held("Traceback (most recent call last):")
    stack = {"held": 1000.0, "rss_growth": 5_000_000.0, "slab_growth": 0.0}
    linux = {"held": 1000.0, "rss_growth": 1_000_000.0, "slab_growth": 4_000_000.0}
    count_row, rss_row = bench_hold.rows(1000, stack, linux, {"tcp.conn.established": 1000,
                                                              "ipv4.rx": 5})
    assert count_row.subject == 1000 and count_row.verdict == "MISS"  # the target is 10,000
    assert count_row.details["netstack_counters"] == {"tcp.conn.established": 1000}
    assert rss_row.subject == 5000 and rss_row.verdict == "PASS"
    assert rss_row.reference == 3000  # server RSS + half the slab (both ends are Linux's)
    nothing = bench_hold.rows(1000, {**stack, "held": 0.0}, linux, {})[1]
    assert math.isnan(nothing.subject) and nothing.verdict == ""


def test_vm_rss_of_this_process() -> None:
    assert bench_hold.vm_rss_bytes(os.getpid()) > 1_000_000


def test_tcp_hold_is_a_registered_loop_service() -> None:
    assert SERVICES["tcp-hold"].tcp_module == "tcp_hold"
    (handler,) = make_handlers("tcp-hold")
    assert callable(handler.serve_loop) and not hasattr(handler, "serve_connection")


def test_tcp_hold_holds_and_echoes_many_connections_on_one_thread(tcp_hosts) -> None:  # noqa: F811
    handler = tcp_hold.Handler()
    count = 60
    with ServiceRunner(tcp_hosts.server, [(handler, 7)]):
        clients = []
        try:
            for _ in range(count):
                sock = tcp_hosts.client.socket(api.AF_INET, api.SOCK_STREAM)
                sock.settimeout(TIMEOUT)
                clients.append(sock)
                sock.connect((SERVER_IP, 7))
            wait_for(lambda: handler.held == count, f"{count} connections held")
            for n, sock in enumerate(clients):
                sock.sendall(b"%d" % n)
            assert [sock.recv(16) for sock in clients] == [b"%d" % n for n in range(count)]
        finally:
            for sock in clients:
                sock.close()
        wait_for(lambda: handler.held == 0, "every connection closed by the service")
    assert handler.peak == count and handler.accepted == count
    counters = tcp_hosts.server.counters
    assert counters["service.tcp_hold.peak"] == count
    assert counters["service.tcp_hold.accepted"] == count


def test_quick_preset_is_small() -> None:
    assert QUICK.hold_connections < DEFAULT.hold_connections == 10_000
    assert QUICK.tcp_reference_bytes < DEFAULT.tcp_reference_bytes


def test_rss_of_a_process_that_is_gone_is_a_bench_error() -> None:
    with pytest.raises(bench.BenchError, match="cannot read the memory"):
        bench_hold.vm_rss_bytes(2**22 + 12345)  # above the kernel's pid_max default: no such pid
