"""Queues: drop-tail, drop-head, CoDel and PIE (netstack/sim/link/queue.py)."""

from __future__ import annotations

import math
import statistics

import pytest

from netstack.sim.link.spec import LinkSpec, QueueSpec, RateSpec
from tests.sim.link_kit import LinkUnderTest, constant, number_of, numbered

# 1000-byte packets on an 8 Mbit/s link take exactly 1 ms each.


def delivered_numbers(lut: LinkUnderTest) -> list[int]:
    return [number_of(p) for _, p in lut.received]


def burst(lut: LinkUnderTest, count: int, size: int = 1000, at: float = 0.0) -> None:
    for _ in range(count):
        lut.send_at(at, size)


# --- drop-tail and drop-head ------------------------------------------------------------------

def test_droptail_in_packets_drops_the_arrivals_that_do_not_fit():
    lut = LinkUnderTest(constant(8e6, kind="droptail", packets=2))
    burst(lut, 5)  # one in the serializer, two waiting, two dropped
    lut.run(1.0)
    assert delivered_numbers(lut) == [0, 1, 2]
    assert [(number_of(p), why) for p, why in lut.dropped] == [(3, "tail"), (4, "tail")]
    assert lut.record.drops == 2 and lut.record.offered == 5
    assert lut.log.of("drop") == [(0.0, 1000, "tail"), (0.0, 1000, "tail")]


def test_droptail_in_bytes_counts_the_bytes_waiting():
    lut = LinkUnderTest(constant(8e6, kind="droptail", bytes=2500))
    burst(lut, 4)  # 2000 bytes wait; a third 1000 would make 3000
    lut.send_at(0.0, 400)  # ...but 400 more still fit
    lut.run(1.0)
    assert delivered_numbers(lut) == [0, 1, 2, 4]
    assert lut.record.drops == 1


@pytest.mark.parametrize("limits, delivered", [
    ({"packets": 10, "bytes": 2500}, [0, 1, 2]),  # the byte limit binds
    ({"packets": 1, "bytes": 100_000}, [0, 1]),  # the packet limit binds
])
def test_with_both_limits_an_arrival_must_fit_both(limits, delivered):
    lut = LinkUnderTest(constant(8e6, kind="droptail", **limits))
    burst(lut, 6)
    lut.run(1.0)
    assert delivered_numbers(lut) == delivered


@pytest.mark.parametrize("kind", ["droptail", "drophead"])
def test_a_packet_larger_than_the_byte_limit_is_dropped_even_into_an_empty_queue(kind):
    lut = LinkUnderTest(constant(8e6, kind=kind, bytes=1000))
    lut.send_at(0.0, 1200)
    lut.send_at(0.1, 900)
    lut.run(1.0)
    assert delivered_numbers(lut) == [1]
    assert [why for _, why in lut.dropped] == ["tail"]


def test_drophead_drops_the_oldest_waiting_packets_to_make_room():
    lut = LinkUnderTest(constant(8e6, kind="drophead", packets=2))
    burst(lut, 5)  # 0 is serialized; 1 and 2 make room for 3 and 4
    lut.run(1.0)
    assert delivered_numbers(lut) == [0, 3, 4]
    assert [(number_of(p), why) for p, why in lut.dropped] == [(1, "head"), (2, "head")]


def test_drophead_in_bytes_drops_as_many_as_needed():
    lut = LinkUnderTest(constant(8e6, kind="drophead", bytes=3000))
    burst(lut, 4)  # 0 serialized; 1, 2, 3 wait (3000 bytes)
    lut.send_at(0.0, 1900)  # needs two of them gone
    lut.run(1.0)
    assert delivered_numbers(lut) == [0, 3, 4]


def test_queue_occupancy_is_recorded_at_every_change():
    lut = LinkUnderTest(constant(8e6, kind="droptail", packets=10))
    burst(lut, 3)
    lut.run(1.0)
    # at t=0 three arrive and one goes straight into the serializer: two wait (the record
    # keeps the last state of an instant, the observer hears every change)
    assert lut.record.queue_samples == [(0.0, 2000, 2), (0.001, 1000, 1), (0.002, 0, 0)]
    assert lut.log.of("queue")[-3:] == [(0.0, 2000, 2), (0.001, 1000, 1), (0.002, 0, 0)]


# --- CoDel -----------------------------------------------------------------------------------

def codel_link(**queue) -> LinkUnderTest:
    return LinkUnderTest(LinkSpec(rate=RateSpec(kind="constant", bps=10e6), delay=0.020,
                                  queue=QueueSpec(kind="codel", **queue)))


def test_codel_never_drops_while_the_sojourn_stays_below_target():
    lut = codel_link()
    gap = 1500 * 8 / 9e6  # 90% load, evenly spaced: no queue builds
    for i in range(2000):
        lut.send_at(i * gap, 1500)
    lut.run(5.0)
    assert lut.record.drops == 0 and len(lut.received) == 2000


def test_codel_lets_a_burst_shorter_than_an_interval_through():
    lut = codel_link()
    burst(lut, 40, size=1500)  # 48 ms of queue: above target, but drained within 100 ms
    lut.run(1.0)
    assert max(lut.record.queue_delays) > 0.040
    assert lut.record.drops == 0


def test_codel_drops_follow_the_control_law_interval_over_sqrt_count():
    lut = codel_link(packets=100_000)
    gap = 1500 * 8 / 20e6  # twice the link rate: the sojourn only grows
    for i in range(3000):
        lut.send_at(i * gap, 1500)
    lut.run(1.0)
    drops = [t for t, _, why in lut.log.of("drop") if why == "codel"]
    assert len(drops) >= 20
    # the first drop comes one interval after the sojourn first exceeded 5 ms
    assert 0.100 < drops[0] < 0.115
    expected = [sum(0.100 / math.sqrt(j) for j in range(1, k + 1)) for k in range(20)]
    for k in range(20):
        # drops happen at dequeues, which come every 1.2 ms
        assert drops[k] - drops[0] == pytest.approx(expected[k], abs=0.0013)


class WindowSource:
    """A NewReno-like flow for queue tests: `cwnd` packets in flight; a delivered packet is
    acknowledged `ack_delay` later (cwnd += 1/cwnd); a drop is noticed an RTT later and
    halves cwnd, at most once per RTT."""

    def __init__(self, lut: LinkUnderTest, ack_delay: float = 0.020, rtt: float = 0.040):
        self.lut, self.sim = lut, lut.sim
        self.cwnd, self.inflight, self.next = 10.0, 0, 0
        self.ack_delay, self.rtt, self.recover_until = ack_delay, rtt, -1.0
        lut.link.propagation._deliver = self.delivered
        lut.link._on_drop = lambda packet, why: self.sim.after(self.rtt, self.lost)
        self.sim.at(0.0, self.fill)

    def fill(self) -> None:
        while self.inflight < int(self.cwnd):
            self.lut.link.send(numbered(self.next, 1500, self.sim.now))
            self.next += 1
            self.inflight += 1

    def delivered(self, packet) -> None:
        self.sim.after(self.ack_delay, self.acked)

    def acked(self) -> None:
        self.inflight -= 1
        self.cwnd += 1 / self.cwnd
        self.fill()

    def lost(self) -> None:
        self.inflight -= 1
        if self.sim.now >= self.recover_until:
            self.cwnd = max(2.0, self.cwnd / 2)
            self.recover_until = self.sim.now + self.rtt
        self.fill()


def p95_queue_delay_after(lut: LinkUnderTest, start: float) -> float:
    delays = [d for d, t in zip(lut.record.queue_delays, lut.departures(), strict=True) if t > start]
    return statistics.quantiles(delays, n=20)[18]


def test_codel_keeps_a_standing_queue_near_target_where_droptail_lets_it_grow():
    codel = codel_link(packets=1000)
    WindowSource(codel)
    codel.run(20.0)
    droptail = LinkUnderTest(LinkSpec(rate=RateSpec(kind="constant", bps=10e6), delay=0.020,
                                      queue=QueueSpec(kind="droptail", packets=1000)))
    WindowSource(droptail)
    droptail.run(20.0)
    assert codel.record.drops > 0
    assert p95_queue_delay_after(codel, 5.0) <= 2 * 0.005
    assert p95_queue_delay_after(droptail, 5.0) > 0.100
    assert codel.record.delivered_bytes > 0.8 * codel.record.capacity_bytes


# --- PIE -------------------------------------------------------------------------------------

def pie_link(**queue) -> LinkUnderTest:
    return LinkUnderTest(LinkSpec(rate=RateSpec(kind="constant", bps=10e6),
                                  queue=QueueSpec(kind="pie", target=0.015, interval=0.015,
                                                  **queue)))


def test_pie_raises_its_drop_probability_under_overload_and_bounds_the_delay():
    lut = pie_link(packets=10_000)
    gap = 1500 * 8 / 12e6  # 20% more than the link carries, not slowing down
    for i in range(int(10.0 / gap)):
        lut.send_at(i * gap, 1500)
    lut.run(10.0)
    pie = lut.link.queue
    # it should settle near the excess fraction, 1/6 of the arrivals
    assert 0.1 < pie.drop_prob < 0.3
    assert {why for _, why in lut.dropped} == {"pie"}
    assert p95_queue_delay_after(lut, 5.0) <= 3 * 0.015


def test_pie_lets_a_burst_through_within_its_burst_allowance():
    lut = pie_link(packets=1000)
    burst(lut, 50, size=1500)  # 60 ms of queue, once
    lut.run(1.0)
    assert lut.record.drops == 0 and len(lut.received) == 50


def test_pie_with_a_responsive_flow_keeps_the_delay_near_target():
    lut = pie_link(packets=1000)
    WindowSource(lut)
    lut.run(20.0)
    assert lut.record.drops > 0
    assert p95_queue_delay_after(lut, 5.0) <= 4 * 0.015
