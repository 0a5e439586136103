"""The numbers of a run: per flow, per link direction and in total, from its RunRecord.

Each metric is defined once, in a one-line comment where it is computed. Rates are bit/s,
delays milliseconds, times seconds. Every value is JSON-serialisable and floats are rounded
to SIGNIFICANT_DIGITS, so metrics.json is the same bytes on every machine and its hash can
be compared across runs and executors. A metric with no data (no RTT samples, an infinite
link's utilization) is None (null in JSON).

`aggregate` turns the metrics of several runs (one per seed) into a mean and a 95%
confidence interval per numeric metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from netstack.sim.record import FlowRecord, LinkRecord, RunRecord
from netstack.sim.stats import jain_index, mean_ci95, percentile

SIGNIFICANT_DIGITS = 9
MS = 1000.0  # seconds -> milliseconds


def rounded(value: Any) -> Any:
    """`value` with every float rounded to SIGNIFICANT_DIGITS (lists and dicts walked);
    NaN and infinities become None, which JSON can hold."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {key: rounded(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    raise TypeError(f"not a metric value: {value!r}")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * MS


def _goodput(flow: FlowRecord, duration: float) -> float:
    # goodput = bits the receiving application read / (end, or the run's end, - start)
    span = (flow.end if flow.end is not None else duration) - flow.start
    return flow.app_bytes * 8 / span if span > 0 else 0.0


def _throughput(flow: FlowRecord) -> float:
    # throughput (Pantheon) = bits of data frames that reached the receiver, retransmissions
    # included / (last arrival - first arrival); 0 with fewer than two arrivals
    if len(flow.arrivals) < 2:
        return 0.0
    span = flow.arrivals[-1][0] - flow.arrivals[0][0]
    return sum(size for _, size in flow.arrivals) * 8 / span if span > 0 else 0.0


def flow_metrics(flow: FlowRecord, duration: float) -> dict:
    """The metrics of one flow in a run of `duration` seconds (keys as in metrics.json)."""
    rtts = [rtt for _, rtt in flow.rtt_samples]
    mean_rtt = math.fsum(rtts) / len(rtts) if rtts else None
    return rounded({
        "goodput_bps": _goodput(flow, duration),
        "throughput_bps": _throughput(flow),
        # delay_p95_ms = 95th percentile of the one-way delays of the frames that arrived
        "delay_p95_ms": _ms(percentile(flow.one_way_delays, 95)),
        # rtt_* = mean, median and 99th percentile of the sender's RTT samples
        "rtt_mean_ms": _ms(mean_rtt),
        "rtt_p50_ms": _ms(percentile(rtts, 50)),
        "rtt_p99_ms": _ms(percentile(rtts, 99)),
        # loss_rate = data frames lost on the way / data frames sent (0 if none were sent)
        "loss_rate": flow.frames_lost / flow.frames_sent if flow.frames_sent else 0.0,
        # fct_s = each transfer's or request's completion time, in the order they finished
        "fct_s": list(flow.completion_times),
        "retransmits": flow.retransmits,
        "rtos": flow.rtos,
    })


def link_metrics(link: LinkRecord, duration: float) -> dict:
    """The metrics of one link direction in a run of `duration` seconds."""
    capacity = link.capacity_bytes
    finite = 0 < capacity < math.inf
    return rounded({
        # utilization = bytes delivered / bytes the rate could have carried (None: infinite)
        "utilization": link.delivered_bytes / capacity if finite else None,
        # delivered_bps = bits that left the serializer / the run's duration
        "delivered_bps": link.delivered_bytes * 8 / duration if duration > 0 else 0.0,
        # queue_delay_p95_ms = 95th percentile of the time departed packets spent queued
        "queue_delay_p95_ms": _ms(percentile(link.queue_delays, 95)),
        "drops": link.drops,  # queue drops: tail, head, AQM
        "losses": link.losses,  # impairment losses: IID, Gilbert-Elliott
    })


def total_metrics(record: RunRecord) -> dict:
    """The run's totals over all flows."""
    flows = record.flows
    goodputs = [_goodput(f, record.duration) for f in flows]
    # Jain's index is over bulk flows: pings and fetches do not compete for the bandwidth
    bulk = [g for f, g in zip(flows, goodputs, strict=True) if f.kind == "bulk"]
    sent = sum(f.frames_sent for f in flows)
    lost = sum(f.frames_lost for f in flows)
    return rounded({
        "goodput_bps": math.fsum(goodputs),  # sum over flows
        "throughput_bps": math.fsum(_throughput(f) for f in flows),  # sum over flows
        # delay_p95_ms = 95th percentile of the one-way delays of every flow's frames
        "delay_p95_ms": _ms(percentile((d for f in flows for d in f.one_way_delays), 95)),
        # jain_index over the bulk flows' goodputs (every flow's if none is bulk)
        "jain_index": jain_index(bulk if bulk else goodputs),
        "loss_rate": lost / sent if sent else 0.0,  # over every flow's data frames
        "fct_s": [t for f in flows for t in f.completion_times],  # every flow's, flow by flow
        "retransmits": sum(f.retransmits for f in flows),
        "rtos": sum(f.rtos for f in flows),
    })


def run_metrics(record: RunRecord) -> dict:
    """metrics.json: {"flows": {name: ...}, "links": {name: ...}, "total": {...}}."""
    return {
        "flows": {f.name: flow_metrics(f, record.duration) for f in record.flows},
        "links": {link.name: link_metrics(link, record.duration) for link in record.links},
        "total": total_metrics(record),
    }


def aggregate(metric_dicts: Sequence[dict]) -> dict:
    """Several runs' metrics (one metrics.json each, typically one per seed) as one dict of
    the same shape where each numeric metric becomes {"mean", "ci95", "n"}: the mean over the
    runs that have it, the half-width of its 95% confidence interval (None with one run),
    and how many runs had it. Lists (fct_s), strings and None values are left out."""
    out: dict = {}
    keys = list(dict.fromkeys(key for d in metric_dicts for key in d))
    for key in keys:
        values = [d[key] for d in metric_dicts if key in d]
        if any(isinstance(v, dict) for v in values):
            out[key] = aggregate([v for v in values if isinstance(v, dict)])
            continue
        numbers = [v for v in values if _is_number(v)]
        if numbers:
            mean, half = mean_ci95(numbers)
            out[key] = rounded({"mean": mean, "ci95": half, "n": len(numbers)})
    return out


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))

