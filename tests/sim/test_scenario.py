"""Scenarios: defaults, canonical form, and one-line errors that name the field."""

import json
import subprocess
import sys

import pytest

from netstack.errors import ConfigError
from netstack.sim.presets import PRESETS, preset
from netstack.sim.scenario import complete, load_scenario, set_path
from netstack.sim.scenario_hash import scenario_hash

BASE = {"topology": {"kind": "p2p"}, "links": {"path": {"rate": "10mbps", "delay": "20ms"}},
        "flows": [{"kind": "bulk", "src": "a", "dst": "b"}]}


def test_every_preset_completes():
    for name in PRESETS:
        raw = preset("fairness-4" if name == "fairness-N" else name)
        scenario = complete(raw)
        assert scenario["flows"] and scenario["links"]


def test_two_spellings_of_one_experiment_are_one_run():
    a = complete({**BASE, "links": {"path": {"rate": "10mbps", "delay": "20ms"}}})
    b = complete({**BASE, "links": {"path": {"rate": 10e6, "delay": 0.02}}})
    assert scenario_hash(a) == scenario_hash(b)
    assert complete(a) == a  # completing a complete scenario changes nothing


def test_the_seed_changes_the_hash():
    assert scenario_hash(complete({**BASE, "seed": 1})) != scenario_hash(complete({**BASE, "seed": 2}))


@pytest.mark.parametrize("change, field", [
    ({"duration": -1}, "duration"),
    ({"colour": "red"}, "colour"),
    ({"topology": {"kind": "ring"}}, "topology.kind"),
    ({"topology": {"kind": "dumbbell", "pairs": 0}}, "topology.pairs"),
    ({"flows": [{"kind": "bulk", "src": "a", "dst": "zz"}]}, "flows.0.dst"),
    ({"flows": [{"kind": "teleport", "src": "a", "dst": "b"}]}, "flows.0.kind"),
    ({"flows": [{"kind": "bulk", "src": "a", "dst": "b", "cc": "vegas"}]}, "flows.0.cc"),
    ({"flows": [{"kind": "bulk", "src": "a", "dst": "b", "start": 99}]}, "flows.0.start"),
    ({"links": {"path": {"rate": "10mbps", "queue": {"kind": "droptail", "packets": 0}}}},
     "links.path"),
    ({"links": {"nowhere": {"rate": "1mbps"}}}, "links.nowhere"),
    ({"tcp": {"no_such_option": 1}}, "tcp"),
    ({"probes": {"xray": True}}, "probes.xray"),
    ({"mtu": 100}, "mtu"),
])
def test_a_bad_field_is_named_in_one_line(change, field):
    with pytest.raises(ConfigError) as caught:
        complete({**BASE, **change})
    message = str(caught.value)
    assert field in message and "\n" not in message


def test_an_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match="bufferbloat"):
        load_scenario("no-such-preset")


def test_set_path_reaches_into_lists_and_tables():
    raw = preset("bufferbloat")
    set_path(raw, "flows.0.cc", "newreno")
    set_path(raw, "links.bottleneck.queue.packets", 50)
    scenario = complete(raw)
    assert scenario["flows"][0]["cc"] == "newreno"
    assert scenario["links"]["bottleneck"]["up"]["queue"]["packets"] == 50
    with pytest.raises(ConfigError, match="flows.9"):
        set_path(raw, "flows.9.cc", "cubic")


def test_a_scenario_file_and_the_cli_errors(tmp_path):
    good = tmp_path / "exp.json"
    good.write_text(json.dumps(BASE))
    assert load_scenario(str(good))["name"] == "exp"
    bad = tmp_path / "bad.toml"
    bad.write_text("duration = [oops\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_scenario(str(bad))
    for args, expected in ((["run", "no-such-preset"], "no preset"),
                           (["run", str(bad)], "not valid TOML"),
                           (["run", "bufferbloat", "--set", "flows.0.cc=vegas"], "flows.0.cc"),
                           (["run", "bufferbloat", "--set", "nonsense"], "PATH=VALUE")):
        done = subprocess.run([sys.executable, "-m", "netstack", "sim", *args,
                               "--out", str(tmp_path)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
