"""Serializers: constant, infinite, on/off and mahimahi traces (netstack/sim/link/rate.py)."""

from __future__ import annotations

import random
from collections import deque

import pytest

from netstack.errors import ConfigError
from netstack.sim.link.rate import read_trace
from netstack.sim.link.spec import LinkSpec, QueueSpec, RateSpec
from tests.sim.link_kit import LinkUnderTest, constant


def trace_link(tmp_path, lines: list[int], once: bool = False, delay: float = 0.0,
               **queue) -> LinkUnderTest:
    path = tmp_path / "link.trace"
    path.write_text("".join(f"{ms}\n" for ms in lines))
    spec = LinkSpec(rate=RateSpec(kind="trace", trace=str(path), once=once),
                    queue=QueueSpec(**queue), delay=delay)
    return LinkUnderTest(spec)


# --- constant rate -------------------------------------------------------------------------

def test_back_to_back_packets_leave_exactly_one_serialization_time_apart():
    lut = LinkUnderTest(constant(8e6))  # 1000 bytes take 1 ms
    for _ in range(4):
        lut.send_at(0.0, 1000)
    lut.run(1.0)
    assert lut.departures() == pytest.approx([0.001, 0.002, 0.003, 0.004], rel=1e-12)
    # queue delay is departure minus arrival: waiting plus the packet's own serialization
    assert lut.record.queue_delays == pytest.approx([0.001, 0.002, 0.003, 0.004], rel=1e-12)


def test_an_idle_constant_link_starts_serializing_on_arrival():
    lut = LinkUnderTest(constant(8e6))
    lut.send_at(0.5, 500)
    lut.send_at(0.7, 2000)
    lut.run(1.0)
    assert lut.departures() == pytest.approx([0.5005, 0.702], rel=1e-12)


def test_propagation_delay_is_added_after_the_serializer():
    spec = LinkSpec(rate=RateSpec(kind="constant", bps=8e6), delay=0.020)
    lut = LinkUnderTest(spec)
    lut.send_at(0.0, 1000)
    lut.send_at(0.0, 1000)
    lut.run(1.0)
    assert [t for t, _ in lut.received] == pytest.approx([0.021, 0.022], rel=1e-12)


def test_a_constant_link_reports_its_capacity_as_1500_byte_opportunities():
    lut = LinkUnderTest(constant(12e6))  # one 1500-byte opportunity a millisecond
    lut.run(0.0105)
    times = [t for t, _ in lut.log.of("opportunity")]
    assert times == pytest.approx([i / 1000 for i in range(11)], abs=1e-12)
    assert lut.record.capacity_bytes == pytest.approx(12e6 / 8 * 0.0105)


# --- infinite ------------------------------------------------------------------------------

def test_an_infinite_rate_passes_packets_at_once_and_never_queues():
    spec = LinkSpec(queue=QueueSpec(kind="droptail", packets=1), delay=0.01)
    lut = LinkUnderTest(spec)
    for _ in range(5):
        lut.send_at(0.25, 1500)
    lut.run(1.0)
    assert [t for t, _ in lut.received] == [0.26] * 5
    assert lut.record.queue_delays == [0.0] * 5
    assert lut.record.drops == 0 and max(s[2] for s in lut.record.queue_samples) == 0


# --- on/off --------------------------------------------------------------------------------

def onoff_link() -> LinkUnderTest:
    # 1 byte per microsecond, on for 10 ms, off for 10 ms
    return LinkUnderTest(LinkSpec(rate=RateSpec(kind="onoff", bps=8e6, on=0.010, off=0.010)))


def test_a_packet_caught_by_an_off_period_waits_and_resumes():
    lut = onoff_link()
    lut.send_at(0.0, 15000)  # 10 ms of it before the off period, 5 ms after
    lut.send_at(0.0, 1000)
    lut.run(0.1)
    assert lut.departures() == pytest.approx([0.025, 0.026], rel=1e-9)


def test_an_onoff_link_sends_nothing_while_off():
    lut = onoff_link()
    lut.send_at(0.012, 1000)  # arrives while off: leaves 1 ms into the next on period
    lut.run(0.1)
    assert lut.departures() == pytest.approx([0.021], rel=1e-9)


def test_onoff_capacity_counts_only_the_on_periods():
    lut = onoff_link()
    lut.run(0.045)
    assert lut.record.capacity_bytes == pytest.approx(25000)  # 0-10, 20-30, 40-45 ms
    assert sum(size for _, size in lut.log.of("opportunity")) == pytest.approx(25000, abs=1500)


# --- traces: reading -----------------------------------------------------------------------

def test_read_trace_returns_the_milliseconds(tmp_path):
    path = tmp_path / "a.trace"
    path.write_text("1\n1\n 7 \n12\n")
    assert read_trace(path) == [1, 1, 7, 12]


@pytest.mark.parametrize("text, message", [
    ("1\n\n3\n", "line 2"),
    ("1\nabc\n", "line 2"),
    ("1\n-4\n", "line 2"),
    ("1\n2.5\n", "line 2"),
    ("5\n3\n", "line 2: timestamps must not decrease"),
    ("", "empty trace"),
])
def test_a_malformed_trace_names_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.trace"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        read_trace(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_missing_trace_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read trace"):
        read_trace(tmp_path / "nope.trace")


def test_a_repeating_trace_must_last_more_than_zero_ms(tmp_path):
    with pytest.raises(ConfigError, match="more than 0 ms"):
        trace_link(tmp_path, [0, 0])
    trace_link(tmp_path, [0, 0], once=True)  # fine when it does not repeat


# --- traces: mahimahi's semantics ------------------------------------------------------------

TRACE = [2, 5, 5]  # three lines; repeats every 5 ms


def test_the_trace_wraps_around_shifted_by_its_last_timestamp(tmp_path):
    lut = trace_link(tmp_path, TRACE)
    lut.run(0.016)
    times = [round(t * 1000, 9) for t, _ in lut.log.of("opportunity")]
    assert times == [2, 5, 5, 7, 10, 10, 12, 15, 15]
    assert {size for _, size in lut.log.of("opportunity")} == {1500}
    assert lut.record.capacity_bytes == 9 * 1500


def test_once_stops_at_the_end_of_the_trace(tmp_path):
    lut = trace_link(tmp_path, TRACE, once=True)
    for _ in range(4):
        lut.send_at(0.0, 1500)
    lut.run(0.1)
    assert lut.departures() == pytest.approx([0.002, 0.005, 0.005])
    assert lut.link.queue_packets == 1  # stays queued: no more opportunities
    assert len(lut.log.of("opportunity")) == 3
    assert lut.record.capacity_bytes == 3 * 1500


def test_two_small_packets_share_one_opportunity(tmp_path):
    lut = trace_link(tmp_path, TRACE)
    lut.send_at(0.0, 700)
    lut.send_at(0.0, 700)
    lut.send_at(0.0, 700)  # only 100 bytes left at 2 ms: finishes at 5 ms
    lut.run(0.1)
    assert lut.departures() == pytest.approx([0.002, 0.002, 0.005])


def test_a_packet_larger_than_what_is_left_continues_into_the_next_opportunity(tmp_path):
    lut = trace_link(tmp_path, TRACE)
    lut.send_at(0.0, 1514)  # 1500 bytes at 2 ms, 14 at 5 ms
    lut.send_at(0.0, 1486)  # the rest of the 5 ms opportunity
    lut.send_at(0.0, 100)  # the second 5 ms opportunity
    lut.run(0.1)
    assert lut.departures() == pytest.approx([0.005, 0.005, 0.005])


def test_unused_bytes_of_an_opportunity_are_lost(tmp_path):
    lut = trace_link(tmp_path, TRACE)
    lut.send_at(0.0, 700)
    lut.send_at(0.003, 700)  # the 800 bytes left at 2 ms are gone by then
    lut.run(0.1)
    assert lut.departures() == pytest.approx([0.002, 0.005])


def test_a_packet_arriving_at_an_opportunity_waits_for_the_next_one(tmp_path):
    lut = trace_link(tmp_path, TRACE)
    lut.send_at(0.002, 100)  # mahimahi uses the 2 ms opportunity before queueing this
    lut.run(0.1)
    assert lut.departures() == pytest.approx([0.005])


def mahimahi_reference(schedule: list[int], arrivals: list[tuple[float, int]],
                       horizon_ms: int) -> dict[int, float]:
    """Departure time of each packet by brute force: walk every opportunity in order, queue
    the packets that arrived strictly before it, and pay for bytes in FIFO order."""
    n, period = len(schedule), schedule[-1]
    opportunities = []
    k = 0
    while (ms := schedule[k % n] + (k // n) * period) <= horizon_ms:
        opportunities.append(ms)
        k += 1
    waiting: deque[int] = deque()
    departures: dict[int, float] = {}
    arrived, in_transit, left = 0, None, 0
    for ms in opportunities:
        t = ms / 1000
        while arrived < len(arrivals) and arrivals[arrived][0] < t:
            waiting.append(arrived)
            arrived += 1
        room = 1500
        while room > 0:
            if in_transit is None:
                if not waiting:
                    break
                in_transit = waiting.popleft()
                left = arrivals[in_transit][1]
            paid = min(room, left)
            room -= paid
            left -= paid
            if left == 0:
                departures[in_transit] = t
                in_transit = None
    return departures


@pytest.mark.parametrize("seed, delay", [(1, 0.0), (2, 0.0), (3, 0.025)])
def test_trace_departures_match_a_brute_force_mahimahi(tmp_path, seed, delay):
    rng = random.Random(seed)
    schedule = sorted(rng.randrange(1, 40) for _ in range(25))
    arrivals = []
    for _ in range(400):
        # bursts, gaps, and some arrivals exactly on a millisecond (ties with opportunities)
        t = rng.randrange(0, 300) / 1000 if rng.random() < 0.3 else rng.uniform(0, 0.3)
        arrivals.append((t, rng.randrange(40, 3100)))
    arrivals.sort(key=lambda a: a[0])
    lut = trace_link(tmp_path, schedule, delay=delay)
    for t, size in arrivals:
        lut.send_at(t, size)
    lut.run(2.0)
    expected = mahimahi_reference(schedule, arrivals, 2000)
    assert len(expected) == len(arrivals)  # the horizon is long enough to drain
    assert lut.arrivals() == {n: t + delay for n, t in expected.items()}


def test_an_idle_fast_trace_link_costs_no_events_but_logs_every_opportunity(tmp_path):
    lut = trace_link(tmp_path, [1] * 10)  # ten opportunities every millisecond: 120 Mbit/s
    for t in (0.0, 4.0005, 9.0):
        lut.send_at(t, 1000)
    lut.run(10.0)
    assert lut.departures() == pytest.approx([0.001, 4.001, 9.001])
    assert lut.sim.events_run <= 12  # 3 arrivals, 3 wakeups, 3 deliveries (and slack)
    opportunities = lut.log.of("opportunity")
    assert len(opportunities) == 10 * 10000
    times = [e[1] for e in lut.log.events]
    assert times == sorted(times)  # the log stays in time order
    assert lut.record.capacity_bytes == 1500 * 10 * 9999  # [0, 10 s): 10000 ms excluded
