"""Two real stacks, each with its own engine thread, joined by a memory cable: ping()."""

from ipaddress import IPv4Address, IPv4Interface

import pytest

from netstack.api.ping import ping
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.mbuf import MbufPool
from tests.netns import unique_name

stack_module = pytest.importorskip("netstack.stack")


@pytest.fixture
def two_stacks():
    """192.0.2.1 and 192.0.2.2 on one cable; yields their engines, stops and closes them."""
    cable = unique_name("cable")
    engines = []
    try:
        for last in (1, 2):
            config = stack_module.StackConfig(mac=bytes([2, 0, 0xC0, 0, 2, last]),
                                              address=IPv4Interface(f"192.0.2.{last}/24"))
            pool = MbufPool(1024)
            engine = Engine(stack_module.Stack(config, pool), open_port(f"memory:{cable}"), pool)
            engine.start()
            engines.append(engine)
        yield engines
    finally:
        for engine in engines:
            engine.close()


def test_ping_between_two_stacks_loses_nothing(two_stacks):
    a, b = two_stacks
    result = ping(a, "192.0.2.2", count=5, interval=0.01)
    assert (result.sent, result.received, result.loss) == (5, 5, 0.0), str(result)
    assert all(0 <= rtt < 1 for rtt in result.rtts)
    assert b.counters["icmp.rx.echo_request"] == 5


def test_large_pings_are_fragmented_and_reassembled(two_stacks):
    a, b = two_stacks
    result = ping(a, IPv4Address("192.0.2.2"), count=3, size=4000, interval=0.01)
    assert result.received == 3, str(result)
    assert b.counters["icmp.rx.echo_request"] == 3
    assert a.counters["port.tx"] >= 3 * 3  # each 4000-byte echo is 3 fragments


def test_ping_to_nobody_times_out_with_full_loss(two_stacks):
    a, _ = two_stacks
    result = ping(a, "192.0.2.99", count=2, interval=0.01, timeout=0.3)
    assert (result.sent, result.received, result.loss) == (2, 0, 100.0)


def test_concurrent_pings_do_not_steal_each_others_replies(two_stacks):
    import threading

    a, b = two_stacks
    results = {}

    def run(name, engine, dst):
        results[name] = ping(engine, dst, count=5, interval=0.01)

    threads = [threading.Thread(target=run, args=("ab", a, "192.0.2.2")),
               threading.Thread(target=run, args=("ba", b, "192.0.2.1"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results["ab"].received == 5 and results["ba"].received == 5
