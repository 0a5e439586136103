"""The discrete-event core: order, ties, cancellation, and time that only jumps."""

import pytest

from netstack.sim.events import Simulator, derive_seed


def test_events_run_in_time_order_and_ties_in_scheduling_order():
    sim = Simulator()
    seen = []
    sim.at(2.0, seen.append, "late")
    sim.at(1.0, seen.append, "first at 1")
    sim.at(1.0, seen.append, "second at 1")
    sim.after(0.5, seen.append, "early")
    sim.run_until(10.0)
    assert seen == ["early", "first at 1", "second at 1", "late"]
    assert sim.now == 10.0


def test_time_jumps_from_event_to_event():
    sim = Simulator()
    times = []
    sim.at(3600.0, lambda: times.append(sim.now))
    sim.run_until(7200.0)
    assert times == [3600.0] and sim.events_run == 1


def test_an_event_may_schedule_another_at_the_same_instant():
    sim = Simulator()
    seen = []
    sim.at(1.0, lambda: sim.at(sim.now, seen.append, "chained"))
    sim.at(1.0, seen.append, "queued before")
    sim.run_until(1.0)
    assert seen == ["queued before", "chained"]


def test_cancelled_events_do_nothing():
    sim = Simulator()
    seen = []
    event = sim.at(1.0, seen.append, "cancelled")
    sim.at(2.0, seen.append, "kept")
    event.cancel()
    assert sim.next_time() == 2.0
    sim.run_until(5.0)
    assert seen == ["kept"]


def test_stop_ends_the_run_early_and_run_leaves_now_at_the_last_event():
    sim = Simulator()
    for t in (1.0, 2.0, 3.0):
        sim.at(t, lambda: None)
    assert sim.run_until(10.0, stop=lambda: sim.now >= 2.0) is True
    assert sim.now == 2.0
    assert sim.run() is False
    assert sim.now == 3.0  # not infinity


def test_the_past_cannot_be_scheduled():
    sim = Simulator(start=5.0)
    with pytest.raises(ValueError):
        sim.at(4.0, lambda: None)


def test_each_component_has_its_own_reproducible_generator():
    a1, a2 = Simulator(seed=1).random("link/x/loss"), Simulator(seed=1).random("link/x/loss")
    assert [a1.random() for _ in range(5)] == [a2.random() for _ in range(5)]
    other = Simulator(seed=1).random("link/y/loss")
    assert other.random() != Simulator(seed=1).random("link/x/loss").random()
    assert derive_seed(1, "a") != derive_seed(2, "a")
