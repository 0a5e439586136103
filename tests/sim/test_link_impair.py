"""Propagation and impairments: delay, jitter, loss, reordering, duplication, corruption
(netstack/sim/link/impair.py), and common random numbers."""

from __future__ import annotations

import math
import random

import pytest

from netstack.sim.events import derive_seed
from netstack.sim.link.impair import crn_uniform
from netstack.sim.link.spec import LinkSpec, LossSpec, QueueSpec, RateSpec
from tests.sim.link_kit import LinkUnderTest, number_of, numbered

GILBERT = LossSpec(kind="gilbert", p_gb=0.01, p_bg=0.2, loss_good=0.0, loss_bad=1.0)


def pass_through(count: int, spec: LinkSpec, seed: int = 1, name: str = "test.up",
                 crn: bool = False) -> LinkUnderTest:
    """`count` 100-byte packets through the link, all at t=0 (an infinite rate passes them at
    once, in order)."""
    lut = LinkUnderTest(spec, seed=seed, name=name, crn=crn)
    for _ in range(count):
        lut.send_now(100)
    lut.run(10.0)
    return lut


def within_binomial(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


# --- loss ------------------------------------------------------------------------------------

def test_iid_loss_rate_is_within_binomial_tolerance():
    lut = pass_through(20_000, LinkSpec(loss=LossSpec(kind="iid", p=0.05)))
    assert within_binomial(lut.record.losses, 20_000, 0.05)
    assert len(lut.received) == 20_000 - lut.record.losses
    assert lut.record.drops == 0  # losses are not queue drops
    assert {why for _, _, why in lut.log.of("drop")} == {"loss"}


def loss_runs(lost: list[int]) -> list[int]:
    """Lengths of the runs of consecutive lost packet numbers."""
    runs: list[int] = []
    previous = None
    for number in lost:
        if previous is not None and number == previous + 1:
            runs[-1] += 1
        else:
            runs.append(1)
        previous = number
    return runs


def test_gilbert_elliott_loses_its_stationary_share_in_bursts():
    n = 60_000
    lut = pass_through(n, LinkSpec(loss=GILBERT))
    stationary = GILBERT.p_gb / (GILBERT.p_gb + GILBERT.p_bg) * GILBERT.loss_bad
    assert lut.record.losses / n == pytest.approx(stationary, rel=0.2)
    runs = loss_runs(lut.lost_numbers())
    assert sum(runs) / len(runs) == pytest.approx(1 / GILBERT.p_bg, rel=0.2)
    # IID loss at the same rate would give runs of about 1/(1-p) ~ 1.05
    iid = pass_through(20_000, LinkSpec(loss=LossSpec(kind="iid", p=stationary)))
    iid_runs = loss_runs(iid.lost_numbers())
    assert sum(iid_runs) / len(iid_runs) < 1.2


def test_the_same_seed_loses_the_same_packets():
    spec = LinkSpec(loss=LossSpec(kind="iid", p=0.1))
    assert pass_through(2000, spec).lost_numbers() == pass_through(2000, spec).lost_numbers()


def test_another_link_name_or_seed_loses_other_packets():
    spec = LinkSpec(loss=LossSpec(kind="iid", p=0.1))
    reference = pass_through(2000, spec).lost_numbers()
    assert pass_through(2000, spec, name="other.up").lost_numbers() != reference
    assert pass_through(2000, spec, seed=2).lost_numbers() != reference


def test_turning_on_jitter_does_not_change_which_packets_are_lost():
    lossy = LinkSpec(loss=LossSpec(kind="iid", p=0.1))
    jittery = LinkSpec(loss=LossSpec(kind="iid", p=0.1), jitter=0.01, duplicate=0.1)
    assert pass_through(2000, lossy).lost_numbers() == pass_through(2000, jittery).lost_numbers()


# --- common random numbers --------------------------------------------------------------------

def drive(spec: LinkSpec, pattern: int, crn: bool, count: int = 3000) -> LinkUnderTest:
    """Two unlike traffic patterns through a 10 Mbit/s link with room for everything."""
    lut = LinkUnderTest(spec, seed=7, crn=crn)
    rng = random.Random(pattern)
    t = 0.0
    for _ in range(count):
        if pattern == 1:
            t += 0.0013
            size = 1500
        else:
            t += rng.expovariate(2000)
            size = rng.randrange(64, 1515)
        lut.send_at(t, size)
    lut.run(100.0)
    return lut


def impaired(loss: LossSpec) -> LinkSpec:
    return LinkSpec(rate=RateSpec(kind="constant", bps=10e6), queue=QueueSpec(kind="infinite"),
                    delay=0.01, jitter=0.002, loss=loss, duplicate=0.02, corrupt=0.02,
                    reorder=0.02)


def fate(lut: LinkUnderTest) -> tuple[list[int], list[int], list[int]]:
    """(lost, duplicated, corrupted) packet numbers, in order."""
    copies: dict[int, int] = {}
    corrupted = set()
    for _, packet in lut.received:
        number = lut.number_by_born[packet.born]  # the data may be corrupted
        copies[number] = copies.get(number, 0) + 1
        if packet.data != numbered(number, packet.size).data:
            corrupted.add(number)
    return (lut.lost_numbers(), sorted(n for n, c in copies.items() if c == 2),
            sorted(corrupted))


@pytest.mark.parametrize("loss", [LossSpec(kind="iid", p=0.05), GILBERT],
                         ids=["iid", "gilbert"])
def test_with_common_random_numbers_unlike_traffic_meets_the_same_fate(loss):
    first = drive(impaired(loss), pattern=1, crn=True)
    second = drive(impaired(loss), pattern=2, crn=True)
    assert first.record.drops == second.record.drops == 0
    lost, duplicated, corrupted = fate(first)
    assert len(lost) > 50 and len(duplicated) > 20 and len(corrupted) > 20
    assert fate(second) == (lost, duplicated, corrupted)


def test_with_crn_a_loss_is_a_pure_function_of_seed_link_and_packet_index():
    lut = pass_through(3000, LinkSpec(loss=LossSpec(kind="iid", p=0.1)), seed=5, crn=True)
    key = derive_seed(5, "link/test.up/loss")
    assert lut.lost_numbers() == [i for i in range(3000) if crn_uniform(key, i) < 0.1]


def test_crn_draws_depend_only_on_key_and_index():
    assert crn_uniform(42, 7) == crn_uniform(42, 7)
    draws = [crn_uniform(42, i) for i in range(20_000)]
    assert all(0.0 <= u < 1.0 for u in draws)
    assert sum(draws) / len(draws) == pytest.approx(0.5, abs=0.01)
    assert crn_uniform(43, 7) != crn_uniform(42, 7)


# --- delay, jitter, reordering, duplication, corruption --------------------------------------------

def spaced(spec: LinkSpec, count: int = 2000, gap: float = 0.001) -> LinkUnderTest:
    lut = LinkUnderTest(spec)
    for i in range(count):
        lut.send_at(i * gap, 100)
    lut.run(count * gap + 1.0)
    return lut


def test_jitter_adds_a_uniform_delay_and_may_reorder():
    lut = spaced(LinkSpec(delay=0.010, jitter=0.005))
    sent = {i: i * 0.001 for i in range(2000)}
    extra = [t - sent[number_of(p)] - 0.010 for t, p in lut.received]
    assert min(extra) >= 0 and max(extra) < 0.005
    assert sum(extra) / len(extra) == pytest.approx(0.0025, abs=0.0002)
    order = [number_of(p) for _, p in lut.received]
    assert order != sorted(order)  # like netem, jitter larger than the gap reorders


def test_reordering_holds_a_fraction_of_packets_back_so_later_ones_overtake():
    lut = spaced(LinkSpec(delay=0.010, reorder=0.1, reorder_delay=0.0035))
    late = [number_of(p) for t, p in lut.received
            if t - number_of(p) * 0.001 > 0.0105]
    assert within_binomial(len(late), 2000, 0.1)
    order = [number_of(p) for _, p in lut.received]
    held = set(late)
    checked = 0
    for number in late:
        followers = {number + 1, number + 2, number + 3}
        if followers & held or number + 3 >= 2000:
            continue
        # held 3.5 ms: the next three packets, sent 1, 2 and 3 ms later, overtake it
        assert order.index(number + 3) < order.index(number)
        checked += 1
    assert checked > 50


def test_duplicates_are_exact_copies_arriving_together():
    lut = spaced(LinkSpec(delay=0.010, duplicate=0.05))
    extra = len(lut.received) - 2000
    assert within_binomial(extra, 2000, 0.05)
    seen: dict[int, tuple[float, bytes]] = {}
    for t, packet in lut.received:
        number = number_of(packet)
        if number in seen:
            assert seen[number] == (t, packet.data)
        seen[number] = (t, packet.data)
    assert len(seen) == 2000


def test_corruption_flips_exactly_one_bit_of_a_new_packet():
    lut = spaced(LinkSpec(corrupt=0.05))
    corrupted = 0
    for _, packet in lut.received:
        original = numbered(lut.number_by_born[packet.born], 100).data
        flipped = sum(bin(a ^ b).count("1") for a, b in zip(original, packet.data, strict=True))
        assert flipped in (0, 1)
        corrupted += flipped
    assert within_binomial(corrupted, 2000, 0.05)
    assert len(lut.received) == 2000


def test_lost_packets_are_reported_to_on_drop_and_the_observer():
    lut = pass_through(500, LinkSpec(loss=LossSpec(kind="iid", p=0.2)))
    assert len(lut.lost_numbers()) == lut.record.losses == len(lut.log.of("drop")) > 0
    received = {number_of(p) for _, p in lut.received}
    assert received.isdisjoint(lut.lost_numbers())
    assert len(received) + lut.record.losses == 500
