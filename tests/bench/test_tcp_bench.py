"""`netstack bench --only tcp`: its options, its rows, how it reports a failing stack, and (as
root) that every workload's kernel-side client measures something against Linux over veth."""

from __future__ import annotations

import dataclasses

import pytest

from netstack import bench
from netstack.bench import command, main
from netstack.bench import tcp as bench_tcp
from netstack.bench.command import settings_from
from netstack.bench.common import QUICK, PartialResults, Result
from netstack.bench.tcp_kernel import FAR_IP, KernelPair, drop_tcp, dropped_segments
from netstack.netns import is_root, wait_for_line

needs_root = pytest.mark.skipif(not is_root(), reason="needs root: creates network namespaces")


def test_tcp_is_a_benchmark_and_its_options_override_the_preset() -> None:
    assert "tcp" in bench.BENCHMARKS
    args = bench.build_parser().parse_args(["--quick", "--only", "tcp", "--tcp-mb", "3.5",
                                            "--tcp-cycles", "42"])
    settings = settings_from(args)
    assert (settings.tcp_bytes, settings.tcp_cycles) == (3_500_000, 42)
    assert settings.tcp_loss_bytes == QUICK.tcp_loss_bytes  # not overridden


@pytest.mark.parametrize("argv", [["--tcp-mb", "0"], ["--tcp-mb", "lots"], ["--tcp-mb", "5000"],
                                  ["--tcp-cycles", "0"], ["--tcp-cycles", "1.5"]])
def test_bad_tcp_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err


def test_figures_come_from_the_client_result_lines() -> None:
    by_name = {w.name: w for w in bench_tcp.workloads()}
    bulk = by_name["TCP bulk kernel->stack"]
    assert bulk.figure({"seconds": "2.0"}, QUICK, False) == pytest.approx(QUICK.tcp_bytes * 8 / 2.0 / 1e6)
    # Linux over veth moves more bytes per transfer: its rate uses its own byte count.
    assert bulk.figure({"seconds": "2.0"}, QUICK, True) == pytest.approx(
        QUICK.tcp_reference_bytes * 8 / 2.0 / 1e6)
    assert bulk.args(QUICK, True)[-1] == str(QUICK.tcp_reference_bytes)
    cycles = by_name["TCP connect/echo/close"]
    assert cycles.figure({"per_second": "812.5"}, QUICK, False) == 812.5
    echo = by_name["TCP echo 64 B, 1 in flight"]
    assert echo.figure({"per_second": "9000.0"}, QUICK, True) == 9000.0
    assert echo.target is None and cycles.target.threshold == 0.4
    assert bulk.target.threshold == 0.04 and by_name["TCP bulk stack->kernel"].target.threshold == 0.04
    lossy = [w for w in bench_tcp.workloads() if w.lossy]
    assert len(lossy) == 2 and all(not w.higher_is_better and w.unit == "s" for w in lossy)


def test_a_partial_failure_still_prints_the_rows_that_were_measured(monkeypatch, capsys) -> None:
    row = Result("TCP bulk kernel->stack, 2 MB", "Mbit/s", "netstack run", 40.0,
                 "Linux over veth", 400.0, True)

    def fails_halfway(settings):
        raise PartialResults("TCP connect/echo/close: netstack run: the client exited 1", [row])

    monkeypatch.setitem(command.RUNNERS, "tcp", fails_halfway)
    assert main(["--only", "tcp"]) == 1
    out = capsys.readouterr().out
    assert "TCP bulk kernel->stack, 2 MB" in out and "0.10x" in out
    assert "tcp: FAILED: TCP connect/echo/close: netstack run: the client exited 1" in out


@needs_root
def test_every_workload_measures_linux_over_veth() -> None:
    """The reference half of the benchmark, on its own: each client gets a positive figure
    from the Linux servers, the loss rules included."""
    settings = dataclasses.replace(QUICK, tcp_reference_bytes=QUICK.tcp_bytes, tcp_echo_seconds=0.1)
    with KernelPair() as pair:
        for script, port in ((bench_tcp.ECHO_SERVER, bench_tcp.ECHO_PORT),
                             (bench_tcp.DISCARD_SERVER, bench_tcp.DISCARD_PORT),
                             (bench_tcp.CHARGEN_SERVER, bench_tcp.CHARGEN_PORT)):
            proc = pair.far.popen([bench_tcp.sys.executable, "-c", script, FAR_IP, str(port)])
            wait_for_line(proc, "listening", 10)
        figures = {}
        for w in bench_tcp.workloads():
            if w.lossy and "loss" not in figures:
                drop_tcp(pair.near, bench_tcp.LOSS_PERCENT)
                figures["loss"] = 0.0
            figures[w.name] = bench_tcp.run_client(pair.near, w, settings, True)
        dropped = dropped_segments(pair.near)
    assert all(value > 0 for name, value in figures.items() if name != "loss"), figures
    assert dropped["to_far"] > 0 and dropped["from_far"] > 0, dropped


@needs_root
def test_a_stack_that_cannot_start_is_reported_with_its_reason(monkeypatch) -> None:
    monkeypatch.setattr(bench_tcp, "SERVICES", ("--service", "no-such-service:1"))
    with pytest.raises(bench.BenchError, match="netstack run --service no-such-service:1 failed"):
        bench_tcp.bench_tcp(QUICK)
