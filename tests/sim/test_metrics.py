"""Each metric's definition, checked against numbers computed by hand."""

from __future__ import annotations

import json
import math

import pytest

from netstack.sim.metrics import (
    aggregate,
    flow_metrics,
    link_metrics,
    rounded,
    run_metrics,
)
from netstack.sim.record import FlowRecord, LinkRecord, RunRecord


def bulk(name="flow0", **fields) -> FlowRecord:
    return FlowRecord(name=name, kind="bulk", src="s0", dst="r0", cc="newreno", **fields)


def test_goodput_is_application_bytes_over_the_flows_lifetime():
    # 1.25 MB read between start 1 s and the run's end at 11 s: 1 Mbit/s
    assert flow_metrics(bulk(start=1.0, app_bytes=1_250_000), 11.0)["goodput_bps"] == 1e6
    # a flow that ended at 6 s is measured over its own 5 s
    assert flow_metrics(bulk(start=1.0, end=6.0, app_bytes=1_250_000), 11.0)["goodput_bps"] == 2e6
    assert flow_metrics(bulk(start=3.0, app_bytes=10), 3.0)["goodput_bps"] == 0.0


def test_pantheon_throughput_is_arrived_bits_over_the_first_to_last_arrival_span():
    # 4000 bytes between the first (1.0 s) and last (3.0 s) arrival: 16 kbit/s, whatever
    # the flow's start or the run's duration
    flow = bulk(start=0.0, arrivals=[(1.0, 1500), (1.5, 1500), (3.0, 1000)])
    assert flow_metrics(flow, 60.0)["throughput_bps"] == 16_000.0
    assert flow_metrics(bulk(arrivals=[(1.0, 1500)]), 60.0)["throughput_bps"] == 0.0
    assert flow_metrics(bulk(), 60.0)["throughput_bps"] == 0.0


def test_delay_and_rtt_percentiles_are_in_milliseconds():
    delays = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    rtts = [(i * 0.1, (40 + i) / 1000) for i in range(11)]  # 40..50 ms
    m = flow_metrics(bulk(one_way_delays=delays, rtt_samples=rtts), 10.0)
    assert m["delay_p95_ms"] == pytest.approx(95.05)
    assert m["rtt_mean_ms"] == pytest.approx(45.0)
    assert m["rtt_p50_ms"] == pytest.approx(45.0)
    assert m["rtt_p99_ms"] == pytest.approx(49.9)  # rank 9.9 of 40..50
    empty = flow_metrics(bulk(), 10.0)
    assert empty["delay_p95_ms"] is None and empty["rtt_mean_ms"] is None


def test_loss_rate_retransmits_rtos_and_completion_times():
    m = flow_metrics(bulk(frames_sent=40, frames_lost=3, retransmits=4, rtos=1,
                          completion_times=[0.5, 0.25]), 10.0)
    assert m["loss_rate"] == 0.075
    assert (m["retransmits"], m["rtos"], m["fct_s"]) == (4, 1, [0.5, 0.25])
    assert flow_metrics(bulk(), 10.0)["loss_rate"] == 0.0


def test_link_utilization_and_queueing_delay():
    link = LinkRecord("bottleneck.up", capacity_bytes=1_000_000.0, delivered_bytes=500_000,
                      queue_delays=[i / 1000 for i in range(1, 101)], drops=7, losses=2)
    m = link_metrics(link, 4.0)
    assert m["utilization"] == 0.5
    assert m["delivered_bps"] == 1e6  # 500 kB in 4 s
    assert m["queue_delay_p95_ms"] == pytest.approx(95.05)
    assert (m["drops"], m["losses"]) == (7, 2)
    infinite = link_metrics(LinkRecord("x", capacity_bytes=math.inf, delivered_bytes=9), 1.0)
    assert infinite["utilization"] is None
    assert link_metrics(LinkRecord("x", capacity_bytes=0.0), 1.0)["utilization"] is None
    assert link_metrics(LinkRecord("x"), 1.0)["queue_delay_p95_ms"] is None


def two_bulk_flows_and_a_ping() -> RunRecord:
    a = bulk("flow0", app_bytes=1_250_000, frames_sent=100, frames_lost=2, retransmits=2,
             one_way_delays=[0.010] * 10, arrivals=[(0.0, 1000), (1.0, 1000)])
    b = bulk("flow1", app_bytes=3_750_000, frames_sent=300, frames_lost=1, rtos=1,
             one_way_delays=[0.030] * 10, arrivals=[(0.0, 500), (2.0, 500)],
             completion_times=[4.0])
    ping = FlowRecord("ping0", "ping", "s0", "r0", app_bytes=0, one_way_delays=[0.020] * 20)
    link = LinkRecord("bottleneck.up", capacity_bytes=6_250_000.0, delivered_bytes=5_000_000)
    return RunRecord(duration=10.0, flows=[a, b, ping], links=[link])


def test_totals_sum_flows_and_jain_counts_only_bulk_flows():
    m = run_metrics(two_bulk_flows_and_a_ping())
    assert set(m) == {"flows", "links", "total"}
    assert set(m["flows"]) == {"flow0", "flow1", "ping0"}
    total = m["total"]
    assert total["goodput_bps"] == 4e6  # 1 + 3 Mbit/s (+ the idle ping)
    assert total["throughput_bps"] == 16_000 + 4_000
    # bulk goodputs 1 and 3 Mbit/s: (4)^2 / (2 * (1 + 9)) = 0.8; the ping's 0 is left out
    assert total["jain_index"] == pytest.approx(0.8)
    assert total["loss_rate"] == pytest.approx(3 / 400)
    assert (total["retransmits"], total["rtos"], total["fct_s"]) == (2, 1, [4.0])
    # over all 40 frames: 10 at 10 ms, 20 at 20 ms, 10 at 30 ms
    assert total["delay_p95_ms"] == pytest.approx(30.0)
    assert m["links"]["bottleneck.up"]["utilization"] == 0.8


def test_jain_uses_every_flow_when_none_is_bulk():
    flows = [FlowRecord(f"rr{i}", "rr", "s0", "r0", app_bytes=n) for i, n in enumerate((1, 3))]
    assert run_metrics(RunRecord(1.0, flows))["total"]["jain_index"] == pytest.approx(0.8)
    assert run_metrics(RunRecord(1.0))["total"]["jain_index"] is None


def test_metrics_are_json_with_rounded_floats_and_the_same_bytes_every_time():
    record = two_bulk_flows_and_a_ping()
    record.flows[0].app_bytes = 1_000_001  # a goodput with many digits
    text = json.dumps(run_metrics(record), sort_keys=True)
    assert text == json.dumps(run_metrics(record), sort_keys=True)
    assert json.loads(text)["flows"]["flow0"]["goodput_bps"] == 800000.8
    assert rounded(1 / 3) == 0.333333333
    assert rounded([math.nan, math.inf, 2, "x", None, True]) == [None, None, 2, "x", None, True]
    with pytest.raises(TypeError):
        rounded(object())


def test_aggregate_gives_mean_and_ci_per_numeric_metric_keeping_the_shape():
    runs = [{"total": {"goodput_bps": g, "fct_s": [1.0], "jain_index": j},
             "flows": {"flow0": {"rtos": r}}}
            for g, j, r in ((1.0, 0.9, 0), (2.0, None, 1), (3.0, 0.7, 2))]
    out = aggregate(runs)
    goodput = out["total"]["goodput_bps"]
    assert goodput["mean"] == 2.0 and goodput["n"] == 3
    assert goodput["ci95"] == pytest.approx(4.3027 * 1.0 / math.sqrt(3), rel=1e-6)
    assert out["total"]["jain_index"]["n"] == 2  # the run without a value is left out
    assert out["total"]["jain_index"]["mean"] == pytest.approx(0.8)
    assert "fct_s" not in out["total"]
    assert out["flows"]["flow0"]["rtos"]["mean"] == 1.0
    assert aggregate([{"x": 5}]) == {"x": {"mean": 5.0, "ci95": None, "n": 1}}
    json.dumps(out)
