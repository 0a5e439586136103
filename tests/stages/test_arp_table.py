"""The ARP table unit on its own (ArpTableUnit, stages/arp_table.py): any implementation,
called through the `units` fixture, so `--impl arp_table=pkg.module:Table` grades it."""

from ipaddress import IPv4Address

import pytest

from netstack.timers import TimerWheel

A, B, C = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.3"), IPv4Address("192.0.2.200")
MAC_A, MAC_B, MAC_C = (bytes.fromhex(f"02000000000{n}") for n in (1, 3, 9))
REACHABLE = 30.0


@pytest.fixture
def table(units):
    wheel = TimerWheel()
    wheel.advance(0.0)
    return units.arp_table(wheel, REACHABLE), wheel


def test_a_learned_address_is_found_and_others_are_not(table) -> None:
    t, _ = table
    assert t.learn(A, MAC_A, 0.0) is True
    assert t.lookup(A) == MAC_A and t.lookup_on_loop(A) == MAC_A
    assert t.lookup(B) is None and t.lookup_on_loop(B) is None


def test_learning_without_create_only_refreshes_an_existing_entry(table) -> None:
    t, _ = table
    assert t.learn(A, MAC_A, 0.0, create=False) is False
    assert t.lookup(A) is None
    t.learn(A, MAC_A, 0.0)
    assert t.learn(A, MAC_B, 1.0, create=False) is True
    assert t.lookup(A) == MAC_B  # the neighbour moved: the newest MAC wins


def test_an_entry_lives_reachable_time_after_it_was_last_learned(table) -> None:
    t, wheel = table
    t.learn(A, MAC_A, 0.0)
    t.learn(B, MAC_B, 0.0)
    wheel.advance(20.0)
    t.learn(A, MAC_A, 20.0)  # refreshed: now lives until 50
    wheel.advance(29.9)
    assert t.lookup(A) == MAC_A and t.lookup(B) == MAC_B
    wheel.advance(30.1)
    assert t.lookup(B) is None and t.lookup(A) == MAC_A
    wheel.advance(49.9)
    assert t.lookup(A) == MAC_A
    wheel.advance(50.1)
    assert t.lookup(A) is None and t.entries() == []


def test_static_entries_never_age_and_are_not_overwritten(table) -> None:
    t, wheel = table
    t.add_static(C, MAC_C)
    assert t.learn(C, MAC_A, 0.0) is True
    wheel.advance(3600.0)
    [entry] = t.entries()
    assert (entry.ip, entry.mac, entry.static) == (C, MAC_C, True)


def test_a_static_entry_replaces_a_dynamic_one_for_good(table) -> None:
    t, wheel = table
    t.learn(A, MAC_A, 0.0)
    t.add_static(A, MAC_B)
    wheel.advance(100.0)
    assert t.lookup(A) == MAC_B


def test_remove_forgets_and_says_whether_there_was_an_entry(table) -> None:
    t, wheel = table
    t.learn(A, MAC_A, 0.0)
    t.add_static(C, MAC_C)
    assert t.remove(A) is True and t.remove(C) is True
    assert t.remove(A) is False
    assert t.lookup(A) is None and t.lookup(C) is None
    t.learn(A, MAC_B, 10.0)  # learned again after a removal: a fresh lifetime
    wheel.advance(39.9)
    assert t.lookup(A) == MAC_B
    wheel.advance(40.1)
    assert t.lookup(A) is None


def test_entries_are_sorted_by_address_with_their_expiry(table) -> None:
    t, _ = table
    t.learn(C, MAC_C, 1.0)
    t.add_static(B, MAC_B)
    t.learn(A, MAC_A, 2.0)
    entries = t.entries()
    assert [e.ip for e in entries] == [A, B, C]
    assert [e.expires_at for e in entries] == [2.0 + REACHABLE, None, 1.0 + REACHABLE]


def test_a_mac_that_is_not_six_bytes_is_refused(table) -> None:
    t, _ = table
    with pytest.raises(ValueError):
        t.add_static(A, b"\x02\x00")


# --- the size limit: a flood of made-up senders evicts, never grows the table --------------


def limited(units, limit: int):
    wheel = TimerWheel()
    wheel.advance(0.0)
    return units.arp_table(wheel, REACHABLE, limit), wheel


def neighbour(n: int) -> tuple[IPv4Address, bytes]:
    return IPv4Address(0xC6336400 + n), bytes.fromhex("02aa") + n.to_bytes(4, "big")


def test_a_full_table_evicts_the_entry_least_recently_learned(units) -> None:
    t, wheel = limited(units, 3)
    for n in range(3):
        t.learn(*neighbour(n), float(n))
    t.learn(*neighbour(0), 5.0)  # refreshed: now the most recent of the three
    assert t.learn(*neighbour(3), 6.0) is True
    assert len(t.entries()) == 3 and t.evicted == 1
    assert t.lookup(neighbour(1)[0]) is None  # learned at 1.0 and never since: the oldest
    assert {e.ip for e in t.entries()} == {neighbour(n)[0] for n in (0, 2, 3)}


def test_a_flood_of_new_senders_never_grows_the_table_past_its_limit(units) -> None:
    t, wheel = limited(units, 16)
    for n in range(1000):
        t.learn(*neighbour(n), n * 0.001)
        assert len(t.entries()) <= 16
    assert t.evicted == 1000 - 16
    assert [e.ip for e in t.entries()] == [neighbour(n)[0] for n in range(1000 - 16, 1000)]
    assert len(wheel) <= 16  # an evicted entry's aging timer went with it


def test_static_entries_are_never_evicted(units) -> None:
    t, wheel = limited(units, 2)
    t.add_static(C, MAC_C)
    for n in range(10):
        t.learn(*neighbour(n), 0.0)
    assert t.lookup(C) == MAC_C and len(t.entries()) == 2
    t.add_static(A, MAC_A)  # an administrator's entry goes in whatever the limit says...
    assert not t.learn(*neighbour(99), 1.0)  # ...and then nothing dynamic is left to evict
    assert t.lookup(neighbour(99)[0]) is None
    assert {e.ip for e in t.entries()} == {A, C}
