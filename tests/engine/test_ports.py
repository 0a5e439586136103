"""Ports on their own: specs, the memory cable and the link emulator. No root needed."""

import pytest

from netstack.clock import VirtualClock
from netstack.engine.ports import open_port
from netstack.engine.ports.linkemu import LinkConditions, LinkEmulator, parse_conditions
from netstack.errors import ConfigError
from netstack.mbuf import Mbuf, MbufPool
from tests.netns import unique_name


def send(port, frames: list[bytes]) -> None:
    assert port.tx_burst([Mbuf.from_bytes(f) for f in frames]) == len(frames)


@pytest.mark.parametrize("spec, message", [
    ("bogus:x", "unknown port kind 'bogus'"),
    ("tap", "expected KIND:ARGUMENT"),
    ("memory:", "expected KIND:ARGUMENT"),
    ("memory:x?wobble=1", "bad link emulator setting"),
    ("memory:x?loss=2", "out of range"),
    ("memory:x?loss=lots", "not a number"),
])
def test_bad_specs_are_one_line_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message) as info:
        open_port(spec)
    assert "\n" not in str(info.value)


def test_memory_ports_with_the_same_name_are_joined():
    cable = unique_name("c")
    a, b = open_port(f"memory:{cable}"), open_port(f"memory:{cable}")
    pool = MbufPool(8)
    try:
        with pytest.raises(ConfigError, match="already open"):
            open_port(f"memory:{cable}")
        send(a, [b"one", b"two"])
        send(b, [b"back"])
        assert [m.tobytes() for m in b.rx_burst(pool, 8)] == [b"one", b"two"]
        assert [m.tobytes() for m in a.rx_burst(pool, 8)] == [b"back"]
        assert b.rx_burst(pool, 8) == []
    finally:
        a.close()
        b.close()


def test_a_memory_port_without_a_peer_counts_its_lost_frames():
    port = open_port(f"memory:{unique_name('c')}")
    try:
        assert port.tx_burst([Mbuf.from_bytes(b"into the void")]) == 0
        assert port.counters["port.drop.no_peer"] == 1
    finally:
        port.close()


def impaired_delivery(conditions: LinkConditions, frames: int = 200) -> list[bytes]:
    """Send numbered frames through an emulated link; return what arrives, in order."""
    cable = unique_name("c")
    clock = VirtualClock()
    sender = open_port(f"memory:{cable}")
    receiver = LinkEmulator(open_port(f"memory:{cable}"), conditions, clock=clock)
    pool = MbufPool(1024)
    arrived = []
    try:
        for i in range(frames):
            send(sender, [b"frame %03d" % i])
            arrived += [m.tobytes() for m in receiver.rx_burst(pool, 64)]
            clock.advance(0.001)
        while receiver.next_deadline() is not None:
            clock.advance(max(0.0, receiver.next_deadline() - clock.now()))
            arrived += [m.tobytes() for m in receiver.rx_burst(pool, 64)]
    finally:
        sender.close()
        receiver.close()
    return arrived


BAD_LINK = LinkConditions(loss=0.1, duplicate=0.05, reorder=0.1, corrupt=0.02,
                          delay=0.01, jitter=0.002, seed=42)


def test_the_link_emulator_is_deterministic_for_a_seed():
    first = impaired_delivery(BAD_LINK)
    assert impaired_delivery(BAD_LINK) == first
    other_seed = LinkConditions(**{**BAD_LINK.__dict__, "seed": 43})
    assert impaired_delivery(other_seed) != first


def test_the_link_emulator_loses_duplicates_and_reorders_about_as_asked():
    arrived = impaired_delivery(LinkConditions(loss=0.2, duplicate=0.1, reorder=0.1, seed=1), 1000)
    unique = set(arrived)
    assert 700 < len(unique) < 900  # about 20% lost
    assert len(arrived) - len(unique) > 50  # about 10% duplicated
    assert arrived != sorted(arrived)  # some overtaken


def test_the_link_emulator_holds_frames_for_the_delay():
    cable = unique_name("c")
    clock = VirtualClock()
    sender = open_port(f"memory:{cable}")
    receiver = open_port(f"memory:{cable}?delay=0.5", clock=clock)
    pool = MbufPool(8)
    try:
        send(sender, [b"slow"])
        assert receiver.rx_burst(pool, 8) == []
        assert receiver.next_deadline() == pytest.approx(0.5)
        clock.advance(0.49)
        assert receiver.rx_burst(pool, 8) == []
        clock.advance(0.01)
        assert [m.tobytes() for m in receiver.rx_burst(pool, 8)] == [b"slow"]
    finally:
        sender.close()
        receiver.close()


def test_parse_conditions_accepts_percentages():
    assert parse_conditions("loss=5%&delay=0.01&seed=3") == LinkConditions(loss=0.05, delay=0.01, seed=3)
