"""The timer wheel, driven by a fake clock (plain floats)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.timers import TimerWheel


def test_fires_due_timers_in_deadline_order():
    wheel = TimerWheel()
    fired = []
    for deadline in (0.5, 0.1, 0.3, 0.1000001):
        wheel.schedule(deadline, lambda now, d=deadline: fired.append(d))
    assert wheel.advance(0.2) == 2
    assert fired == [0.1, 0.1000001]
    wheel.advance(1.0)
    assert fired == [0.1, 0.1000001, 0.3, 0.5]
    assert len(wheel) == 0


def test_callback_gets_now_and_equal_deadlines_fire_in_scheduling_order():
    wheel = TimerWheel()
    seen = []
    wheel.schedule(1.0, lambda now: seen.append(("a", now)))
    wheel.schedule(1.0, lambda now: seen.append(("b", now)))
    wheel.advance(1.5)
    assert seen == [("a", 1.5), ("b", 1.5)]


def test_nothing_fires_before_its_deadline_even_in_the_same_tick():
    wheel = TimerWheel(tick=0.01)
    fired = []
    wheel.schedule(1.005, lambda now: fired.append(now))
    wheel.advance(1.001)
    assert fired == []
    wheel.advance(1.005)
    assert fired == [1.005]


def test_cancel_prevents_firing_and_is_idempotent():
    wheel = TimerWheel()
    fired = []
    timer = wheel.schedule(1.0, lambda now: fired.append(now))
    far = wheel.schedule(1000.0, lambda now: fired.append(now))
    timer.cancel()
    timer.cancel()
    far.cancel()
    assert len(wheel) == 0
    assert wheel.next_deadline() is None
    wheel.advance(2000.0)
    assert fired == []


def test_far_deadlines_wait_in_overflow_and_fire_on_time():
    wheel = TimerWheel(tick=0.01, slots=16)  # one turn = 0.16 s
    fired = []
    wheel.schedule(0.0, lambda now: None)
    wheel.advance(0.0)
    wheel.schedule(60.0, lambda now: fired.append(now))
    assert wheel.next_deadline() == 60.0
    for step in range(1, 600):
        wheel.advance(step * 0.1)
    assert fired == []
    wheel.advance(60.0)
    assert fired == [60.0]


def test_long_idle_gap_fires_everything_once():
    wheel = TimerWheel(tick=0.01, slots=8)
    fired = []
    for deadline in (0.05, 0.2, 3.0, 7200.0):
        wheel.schedule(deadline, lambda now, d=deadline: fired.append(d))
    wheel.advance(3600.0)
    assert fired == [0.05, 0.2, 3.0]
    assert wheel.next_deadline() == 7200.0


def test_callbacks_may_schedule_timers_that_are_already_due():
    wheel = TimerWheel()
    fired = []

    def first(now):
        fired.append("first")
        wheel.schedule(now - 5, lambda _now: fired.append("late"))
        wheel.schedule(now + 1, lambda _now: fired.append("next"))

    wheel.schedule(1.0, first)
    wheel.advance(1.0)
    assert fired == ["first", "late"]
    assert wheel.next_deadline() == 2.0


def test_a_callback_can_cancel_a_timer_in_the_same_batch():
    wheel = TimerWheel()
    fired = []
    victim = wheel.schedule(2.0, lambda now: fired.append("victim"))
    wheel.schedule(1.0, lambda now: victim.cancel())
    wheel.advance(3.0)
    assert fired == []


@pytest.mark.parametrize("second", [1.0, 10.0])  # in a bucket; a turn away, in the heap
def test_a_timer_cancelled_by_an_earlier_callback_of_its_batch_leaves_the_wheel_working(second):
    # As TCP does when its tail loss probe fires and re-arms the retransmission timer due
    # in the same advance. Counted out of the wheel twice, the victim made the wheel believe
    # itself empty: later timers never fired and next_deadline said None.
    wheel = TimerWheel(tick=0.01, slots=64)
    fired = []
    victims = []
    wheel.schedule(1.0, lambda now: (victims[0].cancel(), fired.append("first")))
    victim = wheel.schedule(second, lambda now: fired.append("victim"))
    victims.append(victim)
    assert (victim._tick is None) == (second == 10.0)
    wheel.advance(10.0)
    assert fired == ["first"] and not victim.pending and len(wheel) == 0
    wheel.schedule(10.3, lambda now: fired.append("later"))
    assert len(wheel) == 1 and wheel.next_deadline() == 10.3
    wheel.advance(11.0)
    assert fired == ["first", "later"]


def test_next_deadline_tracks_schedule_cancel_and_advance():
    wheel = TimerWheel()
    assert wheel.next_deadline() is None
    a = wheel.schedule(5.0, lambda now: None)
    wheel.schedule(7.0, lambda now: None)
    assert wheel.next_deadline() == 5.0
    wheel.schedule(3.0, lambda now: None)
    assert wheel.next_deadline() == 3.0
    wheel.advance(3.0)
    assert wheel.next_deadline() == 5.0
    a.cancel()
    assert wheel.next_deadline() == 7.0


def test_rejects_nonsense():
    with pytest.raises(ValueError):
        TimerWheel(tick=0)
    with pytest.raises(ValueError):
        TimerWheel().schedule(float("nan"), lambda now: None)


@settings(max_examples=60, deadline=None)
@given(
    deadlines=st.lists(st.floats(0, 30, allow_nan=False), max_size=40),
    steps=st.lists(st.floats(0.001, 8), min_size=1, max_size=30),
    seed=st.integers(0, 2**16),
)
def test_behaves_like_a_sorted_list(deadlines, steps, seed):
    """Whatever the deadlines and clock steps: each timer fires exactly once, at the first
    advance at or after its deadline, and timers fire in deadline order."""
    rng = random.Random(seed)
    wheel = TimerWheel(tick=0.01, slots=32)
    fired: list[tuple[float, float]] = []
    timers = [wheel.schedule(d, lambda now, d=d: fired.append((d, now))) for d in deadlines]
    cancelled = {id(t) for t in timers if rng.random() < 0.2}
    for t in timers:
        if id(t) in cancelled:
            t.cancel()
    now = 0.0
    for step in steps:
        before = len(fired)
        now += step
        wheel.advance(now)
        batch = fired[before:]
        assert [d for d, _ in batch] == sorted(d for d, _ in batch)
        assert all(d <= now for d, _ in batch)
        pending = [t.deadline for t in timers if t.pending]
        assert all(d > now for d in pending)
        assert wheel.next_deadline() == (min(pending) if pending else None)
    expected = sorted(t.deadline for t in timers if id(t) not in cancelled and t.deadline <= now)
    assert sorted(d for d, _ in fired) == expected


def test_scheduling_and_cancelling_far_timers_forever_keeps_storage_bounded():
    # Far timers wait in the overflow heap, where a cancelled one lingers until compaction:
    # a peer that makes us schedule and cancel them without end (ARP entries evicted from
    # a full table, say) must not grow the heap without end.
    wheel = TimerWheel()
    wheel.advance(0.0)
    live = [wheel.schedule(60.0 + i, lambda now: None) for i in range(10)]
    for i in range(10_000):
        wheel.schedule(120.0 + i, lambda now: None).cancel()
        assert wheel.stored <= 2 * len(wheel) + 65
    assert len(wheel) == len(live) == 10
    wheel.advance(10_000.0)
    assert len(wheel) == 0 and wheel.stored == 0
