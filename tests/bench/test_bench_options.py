"""`netstack bench`: option parsing, the ping summary parser, and the pieces that need no root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netstack import bench
from netstack.bench import BenchError, Result, format_table, main, parse_driver_result, parse_ping
from netstack.bench import tap as bench_tap
from netstack.bench.command import settings_from

PING_OUTPUT = """\
PING 192.0.2.2 (192.0.2.2) 56(84) bytes of data.

--- 192.0.2.2 ping statistics ---
200 packets transmitted, 199 received, 0.5% packet loss, time 3183ms
rtt min/avg/max/mdev = 0.028/0.062/0.208/0.017 ms
"""


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--quick" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--only", "nope"],
        ["--only", ""],
        ["--ping-count", "x"],
        ["--ping-count", "0"],
        ["--udp-seconds", "0"],
        ["--udp-seconds", "soon"],
        ["--udp-inflight", "0"],
        ["--udp-inflight", "1,,16"],
        ["--udp-inflight", "2000"],
        ["--udp-size", "4"],
        ["--udp-size", "1473"],
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_only_accepts_repeats_and_commas() -> None:
    args = bench.build_parser().parse_args(["--only", "ring,checksum", "--only", "ping,udp"])
    assert args.only == [["ring", "checksum"], ["ping", "udp"]]


def test_udp_options_override_the_preset() -> None:
    parser = bench.build_parser()
    args = parser.parse_args(["--quick", "--udp-inflight", "1,4,64", "--udp-seconds", "0.3"])
    settings = settings_from(args)
    assert settings.udp_inflight == (1, 4, 64) and settings.udp_seconds == 0.3
    assert settings.rounds == bench.QUICK.rounds and settings.udp_size == 64
    defaults = settings_from(parser.parse_args([]))
    assert defaults.udp_inflight == (1, 16) and defaults == bench.DEFAULT


def test_module_entry_point_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netstack.bench", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "usage: netstack bench" in result.stdout


def test_parse_ping_summary() -> None:
    stats = parse_ping(PING_OUTPUT)
    assert (stats.transmitted, stats.received, stats.loss_percent) == (200, 199, 0.5)
    assert (stats.rtt_min_ms, stats.rtt_avg_ms, stats.rtt_max_ms) == (0.028, 0.062, 0.208)


def test_parse_ping_without_replies_says_so() -> None:
    with pytest.raises(BenchError, match="no replies"):
        parse_ping("3 packets transmitted, 0 received, 100% packet loss, time 2002ms\n")


DRIVER_OUTPUT = (
    "result inflight=16 size=64 seconds=0.500 sent=9000 received=8990 lost=3 duplicate=0 "
    "corrupt=1 late=2 refused=0 rate=17980.0 rtt_avg_us=880.5\n"
)


def test_parse_driver_result() -> None:
    result = parse_driver_result("some warning on stderr\n" + DRIVER_OUTPUT)
    assert (result.inflight, result.size, result.sent, result.received) == (16, 64, 9000, 8990)
    assert (result.lost, result.corrupt, result.late, result.refused) == (3, 1, 2, 0)
    assert result.rate == 17980.0 and result.rtt_avg_us == 880.5


@pytest.mark.parametrize("output", ["", "udp socket: Permission denied\n", "result rate=x\n"])
def test_parse_driver_result_refuses_garbage(output: str) -> None:
    with pytest.raises(BenchError, match="udp_driver"):
        parse_driver_result(output)


def test_table_shows_ratio_and_direction() -> None:
    rtt = Result("ping RTT avg", "ms", "netstack run", 0.5, "C responder", 0.05, False)
    table = format_table([rtt])
    assert "10.00x (lower is better)" in table and "500 us" in table
    udp = Result("UDP echo 64 B, 1 in flight", "round trips/s", "netstack run", 6000.0,
                 "C responder", 12000.0, True)  # fmt: skip
    table = format_table([udp])
    assert "0.50x (higher is better)" in table and "6,000 round trips/s" in table


@pytest.mark.parametrize("name", ["ping", "udp"])
def test_tap_benchmarks_skipped_without_root(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_tap, "is_root", lambda: False)
    assert main(["--only", name]) == 0
    assert f"{name}: skipped: needs root" in capsys.readouterr().out


def test_quick_checksum_run_writes_json(tmp_path: Path) -> None:
    pytest.importorskip("netstack.native._native", reason="native module not built")
    report_path = tmp_path / "bench.json"
    assert main(["--quick", "--only", "checksum", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert [r["name"] for r in report["results"]] == [
        "checksum 64 B",
        "checksum 576 B",
        "checksum 1500 B",
    ]
    assert all(r["subject"] > 0 and r["reference"] > 0 for r in report["results"])
    assert report["failed"] == {} and report["quick"] is True
