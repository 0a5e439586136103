"""Trace files: mm-link's rules for a valid one, mean rates, and the traces netstack ships."""

from __future__ import annotations

import importlib.util
import re

import pytest

from netstack.errors import ConfigError
from netstack.sim.mahimahi.traces import (
    SHIPPED_TRACES,
    read_trace_file,
    resolve_trace,
    shipped_traces,
    trace_rate_bps,
)

SHIPPED = ["12mbps.trace", "24mbps.trace", "cellular-lte.trace", "wifi-bursty.trace"]


def readme_table() -> dict[str, tuple[float, int, float]]:
    """file -> (period s, opportunities, mean Mbit/s), as the traces' README states them."""
    rows = {}
    for line in (SHIPPED_TRACES / "README.md").read_text().splitlines():
        m = re.match(r"\| `([^`]+)` \| ([\d.]+) s \| (\d+) \| ([\d.]+) Mbit/s \|", line)
        if m:
            rows[m[1]] = (float(m[2]), int(m[3]), float(m[4]))
    return rows


def test_netstack_ships_the_four_traces():
    assert shipped_traces() == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_trace_is_valid_small_and_has_the_rate_its_readme_states(name):
    path = SHIPPED_TRACES / name
    schedule = read_trace_file(path)
    period, opportunities, mbps = readme_table()[name]
    assert schedule[-1] == period * 1000
    assert len(schedule) == opportunities
    assert trace_rate_bps(path) / 1e6 == pytest.approx(mbps, abs=0.0005)
    assert path.stat().st_size < 500_000


def test_the_constant_traces_are_exact():
    assert trace_rate_bps(SHIPPED_TRACES / "12mbps.trace") == 12e6
    assert trace_rate_bps(SHIPPED_TRACES / "24mbps.trace") == 24e6


def test_the_variable_traces_vary_and_the_cellular_one_has_outages():
    cellular = read_trace_file(SHIPPED_TRACES / "cellular-lte.trace")
    per_second = [0] * 60
    for ms in cellular:
        per_second[min(ms // 1000, 59)] += 1
    rates = [n * 12000 / 1e6 for n in per_second]
    assert min(rates) < 2 and max(rates) > 20  # between about 1 and 30 Mbit/s
    gaps = [b - a for a, b in zip(cellular, cellular[1:], strict=False)]
    assert sum(gap >= 200 for gap in gaps) >= 3  # outages of at least 200 ms
    wifi = read_trace_file(SHIPPED_TRACES / "wifi-bursty.trace")
    burst_sizes = {wifi.count(ms) for ms in wifi[:2000]}
    assert max(burst_sizes) >= 10  # many frames in one ms: bursts


def test_the_script_still_writes_exactly_the_shipped_files(tmp_path):
    spec = importlib.util.spec_from_file_location("make_traces",
                                                  SHIPPED_TRACES / "make_traces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_all(tmp_path)
    for name in SHIPPED:
        assert (tmp_path / name).read_bytes() == (SHIPPED_TRACES / name).read_bytes(), name


def test_the_mean_rate_counts_opportunities_over_the_period(tmp_path):
    path = tmp_path / "t.trace"
    path.write_text("1\n1\n2\n4")  # no final newline: mm-link reads it too
    assert read_trace_file(path) == [1, 1, 2, 4]
    assert trace_rate_bps(path) == 4 * 1500 * 8 / 0.004
    assert trace_rate_bps([5, 10], opportunity_bytes=1504) == 2 * 1504 * 8 / 0.010


@pytest.mark.parametrize("body, words", [
    ("", "no delivery opportunities"),
    ("1\n\n2\n", "line 2: an empty line"),
    ("1\n2\n\n", "line 3: an empty line"),
    ("1\nten\n", "line 2: 'ten', not a whole number"),
    ("1\n-2\n", "line 2: '-2', not a whole number"),
    ("1\r\n2\r\n", "line 1: a Windows line ending"),
    ("5\n3\n", "line 2: 3 ms comes after 5 ms"),
    ("0\n0\n", "last line is 0 ms"),
])
def test_a_trace_mm_link_would_refuse_is_refused(tmp_path, body, words):
    path = tmp_path / "bad.trace"
    path.write_text(body, newline="")
    with pytest.raises(ConfigError) as caught:
        read_trace_file(path)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_trace_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read it"):
        read_trace_file(tmp_path / "nope.trace")


def test_trace_names_resolve_against_base_dir_then_the_shipped_traces(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.trace").write_text("1\n")
    assert resolve_trace("sub/mine.trace", tmp_path) == tmp_path / "sub" / "mine.trace"
    assert resolve_trace(str(tmp_path / "sub" / "mine.trace")) == tmp_path / "sub" / "mine.trace"
    assert resolve_trace("12mbps.trace", tmp_path) == SHIPPED_TRACES / "12mbps.trace"
    with pytest.raises(ConfigError, match="'sub/12mbps.trace' not found"):
        resolve_trace("sub/12mbps.trace", tmp_path)  # a path, not a bare name: no fallback
