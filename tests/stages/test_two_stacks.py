"""Two Stack instances in one process, wired back to back by passing frames: one pings the other."""

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from tests.stages.common import GRADED_IMPL

A_MAC, B_MAC = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")
A_IP, B_IP = IPv4Address("192.0.2.10"), IPv4Address("192.0.2.11")


def make(mac, address):
    return Stack(StackConfig(mac=mac, address=IPv4Interface(address), impl=GRADED_IMPL),
                 MbufPool(64))


def shuttle(a: Stack, b: Stack, now: float) -> int:
    """Move every queued frame to the other stack until both are quiet. Returns frames moved."""
    moved = 0
    while a.outgoing or b.outgoing:
        for src, dst in ((a, b), (b, a)):
            while src.outgoing:
                mbuf = src.outgoing.popleft()
                dst.receive(mbuf.data(), now)  # the receiver copies what it keeps...
                src.pool.free(mbuf)  # ...so the buffer can go back at once
                moved += 1
    return moved


def test_one_stack_pings_the_other():
    a, b = make(A_MAC, "192.0.2.10/24"), make(B_MAC, "192.0.2.11/24")
    a.start(0.0)
    b.start(0.0)
    shuttle(a, b, 0.0)  # gratuitous ARPs create nothing (they are not for the receiver)
    assert a.arp.lookup(B_IP) is None

    replies = []
    a.icmp.add_echo_listener(9, lambda src, seq, data, now: replies.append((src, seq, data)))
    for seq in range(1, 4):
        a.icmp.send_echo(B_IP, 9, seq, b"ping %d" % seq, float(seq))
        shuttle(a, b, float(seq))
    assert replies == [(B_IP, 1, b"ping 1"), (B_IP, 2, b"ping 2"), (B_IP, 3, b"ping 3")]
    assert a.arp.lookup(B_IP) == B_MAC and b.arp.lookup(A_IP) == A_MAC
    assert a.counters["arp.tx.request"] == 1  # resolved once, then cached
    assert b.counters["icmp.tx.echo_reply"] == 3
    assert a.pool.available == len(a.pool) and b.pool.available == len(b.pool)
    # Counters are per stack: nothing is shared between instances.
    assert a.counters["icmp.tx.echo_reply"] == 0


def test_big_ping_between_stacks_with_a_smaller_route_mtu_on_the_way_back():
    a = make(A_MAC, "192.0.2.10/24")
    small_path = ((IPv4Network("192.0.2.10/32"), None, 576),)
    b = Stack(
        StackConfig(mac=B_MAC, address=IPv4Interface("192.0.2.11/24"), routes=small_path,
                    impl=GRADED_IMPL),
        MbufPool(64),
    )
    replies = []
    a.icmp.add_echo_listener(1, lambda src, seq, data, now: replies.append(data))
    payload = bytes(range(256)) * 16  # 4096 bytes
    a.icmp.send_echo(B_IP, 1, 1, payload, 0.0)
    moved = shuttle(a, b, 0.0)
    assert replies == [payload]
    assert b.counters["ipv4.reassembled"] == 1 and a.counters["ipv4.reassembled"] == 1
    assert b.counters["ipv4.tx.fragments"] >= 8  # 576-byte MTU on the way back
    assert moved > 10
