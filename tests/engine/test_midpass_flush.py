"""One pass that sends more frames than the pool holds: the engine sends them out mid-pass
(Stack.alloc_mbuf -> Engine._flush_outgoing) instead of running the pool dry and dropping.

This is what a service answering thousands of connections in one pass does; before, the
frames past the out ring's size were dropped and the pool ran out (tcp.drop.no_mbuf)."""

from ipaddress import IPv4Address, IPv4Interface

from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.mbuf import MbufPool
from netstack.stack import FLUSH_AT, Stack, StackConfig
from netstack.stages.udp import UdpEndpoint
from tests.netns import unique_name, wait_until

POOL = 128  # smaller than one pass's datagrams, and than FLUSH_AT
DATAGRAMS = 1000


def test_a_pass_sending_more_than_the_pool_holds_loses_nothing():
    assert POOL < FLUSH_AT < DATAGRAMS
    cable = unique_name("cable")
    engines = []
    try:
        for last, pool_size in ((1, POOL), (2, 4096)):
            config = StackConfig(mac=bytes([2, 0, 0xC0, 0, 2, last]),
                                 address=IPv4Interface(f"192.0.2.{last}/24"),
                                 static_arp={IPv4Address("192.0.2.2"): bytes([2, 0, 0xC0, 0, 2, 2])})
            pool = MbufPool(pool_size)
            engine = Engine(Stack(config, pool), open_port(f"memory:{cable}"), pool,
                            ring_size=4096 if last == 2 else 64)
            engine.start()
            engines.append(engine)
        a, b = engines
        receiver = b.call(lambda stack, now: stack.udp.bind(
            None, 9, endpoint=UdpEndpoint(rcvbuf=1 << 24)))

        def blast(stack, now):
            sender = stack.udp.bind(None, 5000)
            return sum(stack.udp.send(sender, b"%06d" % i, ("192.0.2.2", 9), now)
                       for i in range(DATAGRAMS))

        assert a.call(blast) == DATAGRAMS
        wait_until(lambda: b.counters.get("udp.rx.datagrams", 0) >= DATAGRAMS, timeout=10,
                   what=f"{DATAGRAMS} datagrams at b")
        got = b.call(lambda stack, now: [receiver.take()[0] for _ in range(DATAGRAMS)])
        assert got == [b"%06d" % i for i in range(DATAGRAMS)]  # all, once, in order
        assert a.counters.get("mbuf.drop.alloc_failed", 0) == 0
        assert a.counters.get("ring.drop.out_full", 0) == 0
        assert a.counters["engine.midpass_flush"] >= DATAGRAMS // FLUSH_AT
    finally:
        for engine in engines:
            engine.close()
