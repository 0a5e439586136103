"""A whole link direction (netstack/sim/link/direction.py): the stages wired together, the
record and the observer."""

from __future__ import annotations

import random

import pytest

from netstack.sim.events import Simulator
from netstack.sim.link.direction import LinkDirection
from netstack.sim.link.observer import EventLog, MultiObserver
from netstack.sim.link.spec import LinkSpec, LossSpec, QueueSpec, RateSpec
from tests.sim.link_kit import LinkUnderTest, constant, numbered


def test_the_record_sums_up_what_happened():
    spec = LinkSpec(rate=RateSpec(kind="constant", bps=8e6),
                    queue=QueueSpec(kind="droptail", packets=2), delay=0.005)
    lut = LinkUnderTest(spec)
    for size in (1000, 500, 250, 125):
        lut.send_at(0.0, size)  # the last one is dropped
    lut.send_at(0.5, 1000)
    lut.run(1.0)
    record = lut.record
    assert record.offered == 5 and record.drops == 1 and record.losses == 0
    assert record.delivered_bytes == 1000 + 500 + 250 + 1000
    assert [t for t, _ in record.delivered] == pytest.approx([0.001, 0.0015, 0.00175, 0.501])
    assert [b for _, b in record.delivered] == [1000, 500, 250, 1000]
    assert record.queue_delays == pytest.approx([0.001, 0.0015, 0.00175, 0.001])
    assert record.capacity_bytes == pytest.approx(1e6)  # 8 Mbit/s for 1 s
    assert lut.link.queue_bytes == 0 and lut.link.queue_packets == 0


def test_occupancy_is_up_to_date_whenever_it_is_read():
    spec = LinkSpec(rate=RateSpec(kind="constant", bps=8e6), delay=0.050,
                    queue=QueueSpec(kind="droptail", packets=10))
    lut = LinkUnderTest(spec)
    for _ in range(8):
        lut.send_at(0.0, 1000)
    seen = []
    for t in (0.0005, 0.0015, 0.0045, 0.0095):
        lut.sim.at(t, lambda: seen.append((lut.link.queue_packets, lut.link.queue_bytes)))
    lut.sim.run_until(0.01)
    # the departures at 1, 2, 3... ms are handled lazily, but reading catches up
    assert seen == [(7, 7000), (6, 6000), (3, 3000), (0, 0)]


def test_what_the_link_does_at_t_happens_before_a_packet_arriving_at_t():
    lut = LinkUnderTest(constant(8e6, kind="droptail", packets=1))
    lut.send_at(0.0, 1000)  # serialized until exactly one serialization time
    lut.send_at(0.0, 1000)  # waits: the queue is full
    first_departure = 0.0 + 1000 * (8.0 / 8e6)
    lut.send_at(first_departure, 1000)  # the queue has just been emptied into the serializer
    lut.run(1.0)
    assert lut.record.drops == 0 and len(lut.received) == 3


def test_a_busy_link_handles_a_delay_worth_of_departures_per_wakeup():
    lut = LinkUnderTest(LinkSpec(rate=RateSpec(kind="constant", bps=100e6), delay=0.01,
                                 queue=QueueSpec(kind="droptail", packets=100)))
    for i in range(1000):
        lut.send_at(i * 1e-4, 1500)  # a little faster than the link
    lut.run(1.0)
    assert len(lut.received) + lut.record.drops == 1000
    # one event per send and per delivery; wakeups only about once per 10 ms of delay
    wakeups = lut.sim.events_run - 1000 - len(lut.received)
    assert 0 < wakeups <= 15
    arrivals = lut.arrivals()
    departures = lut.departures()
    assert [arrivals[n] for n in sorted(arrivals)] == pytest.approx(
        [t + 0.01 for t in departures], rel=1e-12)


def make_spec(kind: str, queue: str, tmp_path) -> LinkSpec:
    trace = tmp_path / "t.trace"
    trace.write_text("".join(f"{ms}\n" for ms in (1, 1, 3, 4, 4, 4, 7, 9, 12)))
    rates = {
        "constant": RateSpec(kind="constant", bps=5e6),
        "onoff": RateSpec(kind="onoff", bps=8e6, on=0.05, off=0.03),
        "trace": RateSpec(kind="trace", trace=str(trace)),
        "infinite": RateSpec(),
    }
    queues = {
        "droptail": QueueSpec(kind="droptail", packets=20, bytes=20_000),
        "drophead": QueueSpec(kind="drophead", packets=15),
        "codel": QueueSpec(kind="codel", packets=200),
        "pie": QueueSpec(kind="pie", bytes=300_000, target=0.015, interval=0.015),
    }
    return LinkSpec(rate=rates[kind], queue=queues[queue], delay=0.003, jitter=0.001,
                    loss=LossSpec(kind="iid", p=0.02))


@pytest.mark.parametrize("queue", ["droptail", "drophead", "codel", "pie"])
@pytest.mark.parametrize("kind", ["constant", "onoff", "trace", "infinite"])
def test_every_packet_is_accounted_for_and_the_log_is_in_time_order(tmp_path, kind, queue):
    lut = LinkUnderTest(make_spec(kind, queue, tmp_path))
    rng = random.Random(f"{kind}/{queue}")
    t = 0.0
    for i in range(1500):
        t += rng.expovariate(2500 if i // 300 % 2 == 0 else 300)  # overload, then calm
        lut.send_at(t, rng.randrange(60, 1515))
    lut.run(t + 0.05)  # stop while some may still be queued or in flight
    log, record, link = lut.log, lut.record, lut.link
    times = [e[1] for e in log.events]
    assert times == sorted(times)
    arrivals, departures = log.of("arrival"), log.of("departure")
    queue_drops = [d for d in log.of("drop") if d[2] != "loss"]
    assert len(arrivals) == record.offered == 1500
    in_serializer = 1 if getattr(link.serializer, "in_transit", None) is not None else 0
    assert len(arrivals) == (len(departures) + len(queue_drops) + link.queue_packets
                             + in_serializer)
    assert record.drops == len(queue_drops) and record.losses == len(log.of("drop")) - len(
        queue_drops)
    assert record.delivered_bytes == sum(size for _, size, _ in departures)
    assert record.queue_delays == [delay for _, _, delay in departures]
    assert all(delay >= 0 for delay in record.queue_delays)
    last_queue = log.of("queue")[-1][1:] if log.of("queue") else (0, 0)
    assert last_queue == (link.queue_bytes, link.queue_packets)
    assert record.queue_samples[-1][1:] == last_queue
    # the far end sees every departure that was not lost (jitter may reorder them)
    assert len(lut.received) <= len(departures) - record.losses
    if kind != "infinite":
        capacity = sum(size for _, size in log.of("opportunity"))
        assert capacity == pytest.approx(record.capacity_bytes, abs=1500 * 2)


def test_a_multi_observer_tells_everyone():
    first, second = EventLog(), EventLog()
    sim = Simulator(1)
    link = LinkDirection(sim, constant(8e6, kind="droptail", packets=1), "m.up",
                         deliver=lambda p: None, observer=MultiObserver(first, second))
    for _ in range(3):
        link.send(numbered(0, 1000))
    sim.run_until(1.0)
    link.finish(1.0)
    assert first.events == second.events
    assert [e[0] for e in first.events if e[0] != "opportunity"] == [
        "arrival", "queue", "queue", "arrival", "queue", "arrival", "drop", "departure",
        "queue", "departure"]


def test_a_link_without_record_or_observer_still_delivers():
    sim = Simulator(1)
    got = []
    link = LinkDirection(sim, constant(8e6, kind="codel"), "bare.up", deliver=got.append)
    for i in range(5):
        link.send(numbered(i, 1000))
    sim.run_until(1.0)
    link.finish(1.0)
    assert len(got) == 5
