"""`netstack sim sweep`: parsing the grid and seeds, the progress and summary it prints,
resuming, and one-line errors. The base scenario and the run function are injected (the
fake run of tests/sim/fake_run.py), so these run in milliseconds."""

from __future__ import annotations

import argparse
import csv
import re
import sys
import types

import pytest

from netstack.errors import ConfigError
from netstack.sim.grid import parse_grid_option, parse_seeds_option, parse_value, short_labels
from netstack.sim.sweep_cli import add_sweep_arguments, sweep_main
from tests.sim.fake_run import BASE, failing_run, fake_run
from tests.sim.test_campaign import CountingRun


def sweep(argv: list[str], run_fn=fake_run) -> int:
    parser = argparse.ArgumentParser(prog="netstack sim sweep")
    add_sweep_arguments(parser)
    args = parser.parse_args(argv)
    return sweep_main(args, load=lambda name: BASE, complete=lambda raw: raw, run_fn=run_fn)


def args_for(out, *extra: str) -> list[str]:
    return ["fake", "--grid", "cc=newreno,cubic", "--grid",
            "links.bottleneck.up.queue.packets=50,100", "--seeds", "2", "--out", str(out),
            "--executor", "serial", *extra]


def test_a_sweep_prints_progress_and_a_table_and_writes_results(tmp_path, capsys):
    assert sweep(args_for(tmp_path / "c")) == 0
    out, err = capsys.readouterr()
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert len(progress) == 8
    assert re.fullmatch(r"\[1/8\] cc=newreno packets=50 seed=1 \.\.\. \d+\.\d s", progress[0])
    assert "8 runs, 0 done, 8 to run (executor serial)" in err
    table = out.splitlines()
    assert table[0].split()[:4] == ["cc", "packets", "runs", "throughput"]
    assert [line.split()[:3] for line in table[1:5]] == [
        ["newreno", "50", "2"], ["newreno", "100", "2"], ["cubic", "50", "2"], ["cubic", "100", "2"]]
    assert all("±" in line for line in table[1:5])
    with open(tmp_path / "c" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and rows[0]["cc"] == "newreno"


def test_the_same_command_again_runs_nothing_and_no_resume_runs_everything(tmp_path, capsys):
    sweep(args_for(tmp_path / "c"))
    first = capsys.readouterr().out
    run = CountingRun()
    assert sweep(args_for(tmp_path / "c"), run_fn=run) == 0
    out, err = capsys.readouterr()
    assert run.calls == [] and "8 runs, 8 done, 0 to run" in err
    assert out == first  # the same table from the same runs
    assert sweep(args_for(tmp_path / "c", "--no-resume"), run_fn=run) == 0
    assert len(run.calls) == 8


def test_an_interrupted_sweep_says_how_to_resume_and_does(tmp_path, capsys):
    assert sweep(args_for(tmp_path / "c"), run_fn=CountingRun(interrupt_at=4)) == 130
    err = capsys.readouterr().err
    assert "interrupted: 3 of 8 runs done; run the same command again to resume" in err
    run = CountingRun()
    assert sweep(args_for(tmp_path / "c"), run_fn=run) == 0
    assert len(run.calls) == 5
    assert "8 runs, 3 done, 5 to run" in capsys.readouterr().err


def test_failed_runs_are_listed_and_the_exit_status_says_so(tmp_path, capsys):
    assert sweep(args_for(tmp_path / "c"), run_fn=failing_run) == 1
    err = capsys.readouterr().err
    assert err.count("failed: cc=cubic") == 4
    assert "ValueError: cubic is broken today" in err


def test_without_out_the_directory_is_named_by_the_campaign(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sweep(["fake", "--grid", "cc=newreno,cubic", "--seeds", "1", "--executor", "serial"])
    sweep(["fake", "--grid", "cc=newreno,cubic", "--seeds", "1", "--executor", "serial"])
    assert "2 runs, 2 done, 0 to run" in capsys.readouterr().err  # found its directory again
    sweep(["fake", "--grid", "cc=cubic", "--seeds", "1", "--executor", "serial", "-q"])
    made = sorted(p.name for p in (tmp_path / "sweeps").iterdir())
    assert len(made) == 2 and all(re.fullmatch(r"fake-[0-9a-f]{8}", name) for name in made)
    err = capsys.readouterr().err
    assert "1 run, 0 done, 1 to run" in err and "[1/1]" not in err  # -q: no progress


def test_plot_draws_the_scatter_grouped_by_grid_point(tmp_path, monkeypatch, capsys):
    drawn = {}
    plots = types.ModuleType("netstack.sim.plots")
    plots.plot_pantheon_scatter = lambda groups, path: drawn.update(groups=groups, path=path)
    monkeypatch.setitem(sys.modules, "netstack.sim.plots", plots)
    assert sweep(args_for(tmp_path / "c", "--plot")) == 0
    groups = drawn["groups"]
    assert list(groups) == ["cc=newreno packets=50", "cc=newreno packets=100",
                            "cc=cubic packets=50", "cc=cubic packets=100"]
    assert all(len(points) == 2 for points in groups.values())  # one point per seed
    throughput, delay = groups["cc=cubic packets=100"][0]
    assert 5 < throughput < 12 and delay > 20  # Mbit/s and ms, not bit/s and s
    assert drawn["path"] == tmp_path / "c" / "pantheon.png"


def test_plot_without_the_plots_module_says_so_and_still_succeeds(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "netstack.sim.plots", None)
    assert sweep(args_for(tmp_path / "c", "--plot")) == 0
    assert "--plot: no plot drawn" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--grid", "cc"], "--grid 'cc': expected PATH=VALUE,VALUE,..."),
    (["--grid", "cc="], "--grid 'cc=': expected PATH=VALUE,VALUE,..."),
    (["--grid", "cc=cubic,,bbr"], "expected PATH=VALUE,VALUE"),
    (["--grid", "links.bottleneck.up.queue.pakets=1,2"],
     "--grid links.bottleneck.up.queue.pakets: no such field in the base scenario"),
    (["--grid", "cc=cubic", "--grid", "cc=bbr"], "--grid cc: given twice"),
    (["--seeds", "two"], "--seeds 'two': a count (3) or a list of integers (1,2,3)"),
    (["--seeds", "0"], "seeds: at least 1"),
    (["--executor", "threads"], "--executor threads: unknown"),
])
def test_bad_arguments_are_one_line_config_errors(tmp_path, extra, message):
    with pytest.raises(ConfigError) as error:
        sweep(["fake", "--out", str(tmp_path / "c"), "--executor", "serial", *extra])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_grid_values_are_numbers_booleans_or_text():
    assert [parse_value(t) for t in ["50", "-2", "0.5", "1e6", "true", "False", "cubic",
                                     "10mbps", "inf", "nan"]] == \
        [50, -2, 0.5, 1e6, True, False, "cubic", "10mbps", "inf", "nan"]
    assert parse_grid_option("flows.0.cc=newreno,cubic") == ("flows.0.cc", ["newreno", "cubic"])
    assert parse_seeds_option("3") == [1, 2, 3] and parse_seeds_option("4,2") == [4, 2]


def test_labels_are_the_shortest_suffix_that_tells_parameters_apart():
    assert short_labels(["cc", "links.bottleneck.up.queue.packets", "flows.0.start"]) == \
        {"cc": "cc", "links.bottleneck.up.queue.packets": "packets", "flows.0.start": "start"}
    assert short_labels(["flows.0.cc", "flows.1.cc"]) == {"flows.0.cc": "0.cc",
                                                          "flows.1.cc": "1.cc"}
