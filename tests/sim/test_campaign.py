"""Campaigns: a grid x seeds expanded into runs, kept in a directory, resumed after an
interruption, and summed up per grid point (mean and 95% CI over the seeds).

Runs here are tests/sim/fake_run.py: the run contract, with metrics that are a function of
the scenario. The executor tests (test_executors.py) run the same campaign on every executor.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys

import pytest

from netstack.errors import ConfigError
from netstack.sim.campaign import Campaign, flatten_metrics, print_progress
from netstack.sim.scenario_hash import canonical_json, scenario_hash
from tests.sim.fake_run import BASE, failing_run, fake_run, misnamed_run

GRID = {"cc": ["newreno", "cubic"], "links.bottleneck.up.queue.packets": [50, 100]}


def make(directory, grid=None, seeds=3, run_fn=fake_run, base=BASE) -> Campaign:
    return Campaign(directory, base, GRID if grid is None else grid, seeds, run_fn=run_fn,
                    complete=None)


class CountingRun:
    """fake_run that counts its calls and raises KeyboardInterrupt on call `interrupt_at`."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.interrupt_at = interrupt_at

    def __call__(self, scenario: dict, out_dir: str):
        self.calls.append(scenario_hash(scenario))
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        return fake_run(scenario, out_dir)


# --- expanding the grid -------------------------------------------------------------------

def test_the_grid_times_the_seeds_gives_every_run_once_in_a_fixed_order(tmp_path):
    campaign = make(tmp_path / "c")
    points = campaign.points()
    assert [(p.params["cc"], p.params["links.bottleneck.up.queue.packets"], p.seed)
            for p in points] == [(cc, q, s) for cc in ("newreno", "cubic") for q in (50, 100)
                                 for s in (1, 2, 3)]
    assert len({p.hash for p in points}) == 12
    for point, scenario in zip(points, campaign.expand(), strict=True):
        assert scenario["seed"] == point.seed
        assert scenario["links"]["bottleneck"]["up"]["queue"]["packets"] == \
            point.params["links.bottleneck.up.queue.packets"]
        assert scenario["links"]["bottleneck"]["down"]["queue"]["packets"] == 100  # untouched
        assert point.hash == scenario_hash(scenario)
    assert BASE["flows"][0]["cc"] == "newreno" and BASE["seed"] == 1  # the base is not changed


def test_cc_sets_every_tcp_flow_and_leaves_the_ping_alone(tmp_path):
    scenario = make(tmp_path / "c", grid={"cc": ["cubic"]}, seeds=1).expand()[0]
    assert [f.get("cc") for f in scenario["flows"]] == ["cubic", "cubic", None]
    one = make(tmp_path / "d", grid={"flows.1.cc": ["cubic"]}, seeds=1).expand()[0]
    assert [f.get("cc") for f in one["flows"]] == ["newreno", "cubic", None]


def test_seeds_given_as_a_list_are_used_as_they_are(tmp_path):
    assert [p.seed for p in make(tmp_path / "c", grid={}, seeds=[7, 3]).points()] == [7, 3]


def test_each_point_is_completed_again_so_bad_values_are_caught_before_any_run(tmp_path):
    def complete(raw):
        if raw["flows"][0]["cc"] not in ("newreno", "cubic"):
            raise ConfigError(f"flows.0.cc: one of newreno, cubic, got {raw['flows'][0]['cc']!r}")
        return raw

    with pytest.raises(ConfigError, match="flows.0.cc: one of"):
        Campaign(tmp_path / "c", BASE, {"cc": ["cubic", "vegas"]}, 1, complete=complete)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("grid, message", [
    ({"links.bottleneck.up.queue.pakets": [1]}, "links.bottleneck.up.queue.pakets: no such field"),
    ({"flows.7.cc": ["cubic"]}, "flows.7.cc: no such field"),
    ({"flows.*.nothing": [1]}, "flows.*.nothing: no such field"),
    ({"seed": [1, 2]}, "seed is not a grid parameter"),
    ({"cc": []}, "grid cc: a non-empty list"),
    ({"cc": ["cubic", "cubic"]}, "listed twice"),
])
def test_a_bad_grid_is_a_one_line_error_naming_the_parameter(tmp_path, grid, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        make(tmp_path / "c", grid=grid)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("seeds", [0, [], [1, 1], [1, "2"], True])
def test_bad_seeds_are_a_config_error(tmp_path, seeds):
    with pytest.raises(ConfigError, match="seeds"):
        make(tmp_path / "c", seeds=seeds)


# --- the campaign directory ---------------------------------------------------------------

def test_the_directory_remembers_the_campaign_and_refuses_another(tmp_path):
    make(tmp_path / "c")
    stored = json.loads((tmp_path / "c" / "campaign.json").read_text())
    assert stored == {"base": BASE, "grid": GRID, "seeds": [1, 2, 3]}
    make(tmp_path / "c")  # the same campaign again: fine
    with pytest.raises(ConfigError, match=r"holds a different campaign \(seeds differs") as e:
        make(tmp_path / "c", seeds=2)
    assert "\n" not in str(e.value)
    other = {**GRID, "cc": ["newreno", "bbr"]}
    with pytest.raises(ConfigError, match=r"\(grid\.cc\.1 differs"):
        make(tmp_path / "c", grid=other)


def test_a_campaign_opened_from_its_directory_is_the_same_campaign(tmp_path):
    grid = {"links.bottleneck.up.queue.packets": [100, 50], "cc": ["cubic", "newreno"]}
    made = make(tmp_path / "c", grid=grid, seeds=[2, 1])
    opened = Campaign.open(tmp_path / "c", run_fn=fake_run, complete=None)
    assert [p.hash for p in opened.points()] == [p.hash for p in made.points()]
    with pytest.raises(ConfigError, match="not a campaign directory"):
        Campaign.open(tmp_path / "nothing", complete=None)


# --- running and resuming -----------------------------------------------------------------

def test_every_run_is_missing_until_it_has_a_whole_metrics_json(tmp_path):
    campaign = make(tmp_path / "c", seeds=1)
    assert campaign.missing() == campaign.expand()
    reports = campaign.run_missing("serial")
    assert [r.done for r in reports] == [1, 2, 3, 4] and {r.total for r in reports} == {4}
    assert all(r.error is None for r in reports)
    assert campaign.missing() == []
    first, second = campaign.points()[:2]
    (campaign.run_dir(first) / "metrics.json").write_text('{"total": {"goodput')  # cut short
    (campaign.run_dir(second) / "metrics.json").unlink()
    assert campaign.missing() == [first.scenario, second.scenario]


def test_an_interrupted_campaign_resumes_with_only_the_missing_runs(tmp_path):
    reference = make(tmp_path / "reference")
    reference.run_missing("serial")

    run = CountingRun(interrupt_at=3)
    campaign = make(tmp_path / "c", run_fn=run)
    with pytest.raises(KeyboardInterrupt):
        campaign.run_missing("serial")
    assert len(run.calls) == 3
    assert len(campaign.missing()) == 12 - 2  # two finished before the interruption
    assert len(campaign.results()) == 2

    resumed = CountingRun()
    campaign = make(tmp_path / "c", run_fn=resumed)
    reports = campaign.run_missing("serial")
    assert len(resumed.calls) == len(reports) == 10
    assert set(resumed.calls) == {p.hash for p in campaign.points()[2:]}
    assert campaign.missing() == []
    assert campaign.run_missing("serial") == [] and len(resumed.calls) == 10  # nothing to do
    rows = campaign.results()
    assert [{k: v for k, v in row.items()} for row in rows] == reference.results()
    for point in campaign.points():
        assert (campaign.run_dir(point) / "metrics.json").read_bytes() == \
            (reference.run_dir(point) / "metrics.json").read_bytes()


def test_rerun_runs_everything_again(tmp_path):
    campaign = make(tmp_path / "c", seeds=1, run_fn=CountingRun())
    campaign.run_missing("serial")
    assert len(campaign.run_missing("serial", rerun=True)) == 4
    assert len(campaign.run_fn.calls) == 8


def test_a_failed_run_is_reported_and_the_others_finish(tmp_path):
    campaign = make(tmp_path / "c", seeds=2, run_fn=failing_run)
    reports = campaign.run_missing("serial")
    failed = [r for r in reports if r.error]
    assert len(reports) == 8 and len(failed) == 4
    assert {r.point.params["cc"] for r in failed} == {"cubic"}
    assert all(r.error == "ValueError: cubic is broken today" for r in failed)
    assert [s["flows"][0]["cc"] for s in campaign.missing()] == ["cubic"] * 4


def test_a_run_function_that_names_its_directory_differently_is_a_failed_run(tmp_path):
    [report] = make(tmp_path / "c", grid={}, seeds=1, run_fn=misnamed_run).run_missing("serial")
    assert report.error.startswith("RuntimeError: the run wrote ")


def test_progress_is_one_line_per_run(tmp_path, capsys):
    campaign = make(tmp_path / "c", grid={"cc": ["newreno", "cubic"]}, seeds=2)
    seen = []
    campaign.run_missing("serial", progress=lambda r: (seen.append(r), print_progress(r)))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4
    assert re.fullmatch(r"\[1/4\] cc=newreno seed=1 \.\.\. \d+\.\d s", lines[0])
    assert lines[3].startswith("[4/4] cc=cubic seed=2 ... ")
    assert [r.label for r in seen] == ["cc=newreno seed=1", "cc=newreno seed=2",
                                       "cc=cubic seed=1", "cc=cubic seed=2"]


# --- results ------------------------------------------------------------------------------

def test_a_row_holds_the_parameters_the_seed_and_every_metric(tmp_path):
    campaign = make(tmp_path / "c", seeds=1)
    campaign.run_missing("serial")
    row = campaign.results()[0]
    point = campaign.points()[0]
    metrics = json.loads((campaign.run_dir(point) / "metrics.json").read_text())
    assert row["run"] == point.hash and row["seed"] == 1
    assert row["cc"] == "newreno" and row["links.bottleneck.up.queue.packets"] == 50
    assert row["goodput_bps"] == metrics["total"]["goodput_bps"]
    assert row["flow1.delay_p95_ms"] == metrics["flows"]["flow1"]["delay_p95_ms"]
    assert row["link.bottleneck.up.utilization"] == metrics["links"]["bottleneck.up"]["utilization"]
    assert flatten_metrics({"total": {"a": 1}, "flows": {"f": {"a": 2}}}) == {"a": 1, "f.a": 2}


def test_csv_export_needs_no_pandas(tmp_path, monkeypatch):
    campaign = make(tmp_path / "c", seeds=2)
    campaign.run_missing("serial")
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(ImportError, match=r"needs pandas \(pip install pandas\).*to_csv"):
        campaign.to_dataframe()
    path = campaign.to_csv(tmp_path / "results.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    expected = campaign.results()
    assert len(rows) == len(expected) == 8
    for got, want in zip(rows, expected, strict=True):
        assert got["run"] == want["run"] and got["cc"] == want["cc"]
        assert float(got["throughput_bps"]) == want["throughput_bps"]  # full precision
        assert json.loads(got["flow0.fct_s"]) == want["flow0.fct_s"]


def test_the_dataframe_has_one_row_per_run(tmp_path):
    pandas = pytest.importorskip("pandas")
    campaign = make(tmp_path / "c", seeds=2)
    campaign.run_missing("serial")
    frame = campaign.to_dataframe()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 8
    assert list(frame["seed"]) == [1, 2] * 4
    means = frame.groupby("cc")["throughput_bps"].mean()
    assert means["cubic"] > means["newreno"]  # the fake's cubic is more efficient


def test_aggregate_gives_mean_and_confidence_interval_over_seeds(tmp_path):
    campaign = make(tmp_path / "c", seeds=4)
    campaign.run_missing("serial")
    table = campaign.aggregate()
    assert [(r["cc"], r["links.bottleneck.up.queue.packets"], r["runs"]) for r in table] == \
        [("newreno", 50, 4), ("newreno", 100, 4), ("cubic", 50, 4), ("cubic", 100, 4)]
    rows = campaign.results()
    cubic_100 = [r["goodput_bps"] for r in rows
                 if r["cc"] == "cubic" and r["links.bottleneck.up.queue.packets"] == 100]
    entry = table[3]
    assert entry["goodput_bps.mean"] == pytest.approx(statistics.fmean(cubic_100))
    assert entry["goodput_bps.ci95"] == pytest.approx(
        3.1824 * statistics.stdev(cubic_100) / 2)  # t(0.975, df=3), sqrt(4)
    assert entry["flow0.delay_p95_ms.ci95"] > 0
    assert "flow0.fct_s.mean" not in entry  # lists are not averaged

    by_cc = campaign.aggregate(by=["cc"])
    assert [(r["cc"], r["runs"]) for r in by_cc] == [("newreno", 8), ("cubic", 8)]
    assert "links.bottleneck.up.queue.packets" not in by_cc[0]
    with pytest.raises(ConfigError, match="aggregate by 'seed': not a grid parameter"):
        campaign.aggregate(by=["seed"])


def test_scenario_hash_is_over_the_canonical_json():
    scenario = {"b": [1, 2.5], "a": {"z": None, "y": "x"}}
    assert canonical_json(scenario) == '{"a":{"y":"x","z":null},"b":[1,2.5]}'
    assert scenario_hash(scenario) == scenario_hash(dict(reversed(list(scenario.items()))))
    assert re.fullmatch(r"[0-9a-f]{16}", scenario_hash(scenario))
