"""One seed, one run: two stacks on an emulated bad link, in virtual time, replay byte for byte.

The scenario: a ping, a few UDP datagrams and a 48 KB TCP transfer between two stacks on a
memory cable whose link emulator loses, duplicates, delays and reorders frames. Everything
random (ISNs, timestamp offsets, ephemeral ports, IP IDs, ARP retry jitter, the link's
impairments) comes from StackConfig.random_seed, and the engines are stepped in one thread
on one VirtualClock (netstack/testing/lockstep.py), so:

- the same seed twice gives the same pcap, byte for byte, and the same trace events;
- another seed gives other ISNs.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pathlib
import random
import subprocess
import sys
import tempfile
from collections import Counter
from ipaddress import IPv4Address, IPv4Interface

import pytest

from netstack.api.ping import next_identifier
from netstack.clock import VirtualClock
from netstack.engine.capture import Capture
from netstack.engine.loop import Engine
from netstack.engine.pcapfile import read_pcap
from netstack.engine.ports import open_port
from netstack.errors import ConfigError
from netstack.mbuf import MbufPool
from netstack.seeding import StackRandom
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp.state import TcpState
from netstack.testing.lockstep import Lockstep
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import FLAG_ACK, FLAG_SYN

A_MAC, B_MAC = bytes.fromhex("0200c0000201"), bytes.fromhex("0200c0000202")
A_IP, B_IP = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")
NOBODY_IP = IPv4Address("192.0.2.99")
BAD_LINK = "loss=0.03&duplicate=0.01&reorder=0.05&delay=0.002&jitter=0.001"
PING_ID = 0x5EED
UDP_PORT, TCP_PORT = 9, 80
TRANSFER = bytes(range(256)) * 192  # 48 KB
_cables = itertools.count()


def run_scenario(seed: int | None, link: str = BAD_LINK) -> tuple[bytes, list[str]]:
    """Run the whole scenario once; return the pcap of both stacks' ports (every frame each
    received and sent, in the order they did) and the trace events, as reprs, if the stacks
    have a tracer (`stack.trace.subscribe`); else an empty list."""
    clock = VirtualClock()
    cable = f"determinism-{os.getpid()}-{next(_cables)}"  # the name never reaches the wire
    events: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "both.pcap")
        capture = Capture(path, wall_clock=False)
        engines = []
        for name, mac, cidr in (("a", A_MAC, "192.0.2.1/24"), ("b", B_MAC, "192.0.2.2/24")):
            pool = MbufPool(1024)
            stack = Stack(StackConfig(mac=mac, address=IPv4Interface(cidr), random_seed=seed),
                          pool)
            trace = getattr(stack, "trace", None)
            if trace is not None:
                trace.subscribe(lambda event, name=name: events.append(f"{name} {event!r}"))
            port = open_port(f"memory:{cable}?{link}", mac=mac, pool=pool,
                             counters=stack.counters)
            engines.append(Engine(stack, port, pool, clock=clock, capture=capture))
        net = Lockstep(engines, clock)
        try:
            _ping(net)
            _udp(net)
            _tcp_transfer(net)
        finally:
            net.close()  # closes the ports and the capture
        with open(path, "rb") as f:
            return f.read(), events


def _ping(net: Lockstep) -> None:
    a = net.engines[0]
    replies: list[int] = []
    net.call(a, lambda stack, now: stack.icmp.add_echo_listener(
        PING_ID, lambda src, seq, data, now: replies.append(seq)))
    for seq in range(1, 6):
        net.call(a, lambda stack, now, seq=seq: stack.icmp.send_echo(
            B_IP, PING_ID, seq, b"seeded ping %d" % seq, now))
        net.run_for(0.2)
    # And one to nobody: ARP asks three times, at seeded (jittered) intervals, then gives up.
    net.call(a, lambda stack, now: stack.icmp.send_echo(NOBODY_IP, PING_ID, 99, b"?", now))
    net.run_for(3.5)
    assert replies, "no echo reply at all: the link is too bad for this scenario"


def _udp(net: Lockstep) -> None:
    a, b = net.engines
    server = net.call(b, lambda stack, now: stack.udp.bind(None, UDP_PORT))
    client = net.call(a, lambda stack, now: stack.udp.bind(None, 0))  # an ephemeral port
    for n in range(10):
        net.call(a, lambda stack, now, n=n: stack.udp.send(
            client, b"datagram %d " % n * 50, (B_IP, UDP_PORT), now))
        net.run_for(0.01)
    net.run_for(0.5)
    assert 0 < len(server.queue) <= 12  # some may be lost, some duplicated


def _tcp_transfer(net: Lockstep) -> None:
    """A sends TRANSFER then closes; B reads everything, then closes too."""
    a, b = net.engines
    listener = net.call(b, lambda stack, now: stack.tcp.listen(None, TCP_PORT, 4))
    client = net.call(a, lambda stack, now: stack.tcp.connect(None, 0, B_IP, TCP_PORT, now))
    sent, received, server = 0, bytearray(), []

    def writer(now: float) -> None:  # A's application, run in each of A's passes
        nonlocal sent
        if client.state not in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT) or client.app_closed:
            return
        if sent < len(TRANSFER) and client.writable:
            sent += client.write_app(memoryview(TRANSFER)[sent:sent + client.writable])
            client.app_did_write(now)
        if sent == len(TRANSFER):
            client.close(now)

    def reader(now: float) -> None:  # B's application
        if not server and listener.accept_queue:
            server.append(listener.accept_queue.popleft())
        if server and not server[0].app_closed:
            if server[0].readable:
                received.extend(server[0].read_app(1 << 20))
                server[0].app_did_read(now)
            if server[0].at_eof:
                server[0].close(now)

    a.add_pass_hook(writer)
    b.add_pass_hook(reader)
    done = net.run_for(120.0, stop=lambda: bool(server) and server[0].app_closed)
    net.run_for(1.0)  # the last FIN and ACK
    assert done and bytes(received) == TRANSFER, (len(received), client.state)


def tcp_syns(pcap: bytes) -> list[tuple[IPv4Address, int]]:
    """(source, ISN) of each SYN without ACK in a pcap (once per frame recorded)."""
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(pcap)
        f.flush()
        segments = [decode_tcp(frame) for _, frame in read_pcap(f.name)]
    return [(s.src, s.seq) for s in segments
            if s is not None and s.flags & FLAG_SYN and not s.flags & FLAG_ACK]


@pytest.fixture(scope="module")
def seed_7_twice() -> tuple[tuple[bytes, list[str]], tuple[bytes, list[str]]]:
    return run_scenario(7), run_scenario(7)


def test_one_seed_gives_byte_identical_pcaps(seed_7_twice):
    (first, _), (second, _) = seed_7_twice
    assert len(first) > 48 * 1024  # the whole scenario is in there
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert first == second


def test_one_seed_gives_identical_trace_events(seed_7_twice):
    (_, first), (_, second) = seed_7_twice
    kinds = {line.split(" ", 2)[1].split("(")[0] for line in first}
    # The loss scenario shows in the events: state changes, segments, a retransmission, cwnd.
    assert {"StateChange", "SegmentOut", "SegmentIn", "Retransmit", "CwndChange"} <= kinds
    assert first == second


def test_the_scenario_really_went_through_a_bad_link(seed_7_twice):
    (pcap, _), _ = seed_7_twice
    assert {src for src, _ in tcp_syns(pcap)} == {A_IP}  # A opened the connection
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(pcap)
        f.flush()
        segments = [decode_tcp(frame) for _, frame in read_pcap(f.name)]
    data_seqs = Counter(s.seq for s in segments if s is not None and s.src == A_IP and s.payload)
    assert sum(data_seqs.values()) > 2 * (len(TRANSFER) // 1460)
    # Each data segment is recorded twice (A sent it, B received it) on a perfect link: one
    # seen once was lost, one seen more often was retransmitted or duplicated.
    assert any(count != 2 for count in data_seqs.values())


def test_one_seed_gives_the_same_pcap_in_other_processes(seed_7_twice):
    """Memory addresses and Python's str hash salt change between processes: neither may
    leak into a run."""
    (pcap, _), _ = seed_7_twice
    code = ("import hashlib, tests.test_determinism as t; "
            "print(hashlib.sha256(t.run_scenario(7)[0]).hexdigest())")
    root = pathlib.Path(__file__).resolve().parents[1]
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == hashlib.sha256(pcap).hexdigest()


def test_another_seed_gives_other_isns(seed_7_twice):
    (pcap_7, _), _ = seed_7_twice
    pcap_8, _ = run_scenario(8)
    isns_7 = {isn for _, isn in tcp_syns(pcap_7)}
    isns_8 = {isn for _, isn in tcp_syns(pcap_8)}
    assert isns_7 and isns_8 and not isns_7 & isns_8
    assert pcap_7 != pcap_8


# --- StackRandom --------------------------------------------------------------------------


def draws(rng: StackRandom, purpose: str) -> list[int]:
    generator = rng.generator(purpose)
    return [generator.randrange(1 << 32) for _ in range(8)]


def test_a_seed_gives_the_same_draws_for_a_purpose_every_time():
    assert draws(StackRandom(42), "tcp.ephemeral_port") == draws(StackRandom(42),
                                                                 "tcp.ephemeral_port")
    assert StackRandom(42).secret("tcp.isn") == StackRandom(42).secret("tcp.isn")
    assert draws(StackRandom(42), "ipv4.id") != draws(StackRandom(43), "ipv4.id")


def test_purposes_draw_independent_streams():
    rng = StackRandom(42)
    assert draws(rng, "ipv4.id") != draws(rng, "arp.retry_jitter")
    # Drawing for one purpose does not move another's stream.
    before = draws(StackRandom(42), "udp.ephemeral_port")
    busy = StackRandom(42)
    draws(busy, "ipv4.id")
    assert draws(busy, "udp.ephemeral_port") == before
    assert rng.secret("tcp.isn") != rng.secret("other", 16)


def test_no_seed_draws_fresh_entropy_per_instance():
    assert draws(StackRandom(None), "ipv4.id") != draws(StackRandom(None), "ipv4.id")
    assert StackRandom().secret("tcp.isn") != StackRandom().secret("tcp.isn")


def test_the_derivation_does_not_depend_on_pythons_hash_salt():
    # sha256("7/ipv4.id") is fixed forever; Python's hash() of a str is not (PYTHONHASHSEED).
    first = StackRandom(7).generator("ipv4.id").getrandbits(64)
    expected_seed = int.from_bytes(hashlib.sha256(b"7/ipv4.id").digest(), "big")
    assert first == random.Random(expected_seed).getrandbits(64)


@pytest.mark.parametrize("bad", ["7", 1.5, True])
def test_a_seed_that_is_not_an_integer_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="expected an integer"):
        StackConfig(mac=A_MAC, address=IPv4Interface("192.0.2.1/24"), random_seed=bad)


def test_the_stack_takes_its_choices_from_its_seed():
    def choices(seed: int | None):
        stack = Stack(StackConfig(mac=A_MAC, address=IPv4Interface("192.0.2.1/24"),
                                  random_seed=seed), MbufPool(16))
        return (stack.tcp.isn_generator.secret, stack.ipv4._next_identification,
                stack.udp.bind(None, 0).local[1])
    assert choices(3) == choices(3)
    assert choices(3) != choices(4)
    assert choices(None) != choices(None)


def test_ping_identifiers_count_from_a_seeded_start_per_stack():
    def identifiers(seed: int | None) -> list[int]:
        stack = Stack(StackConfig(mac=A_MAC, address=IPv4Interface("192.0.2.1/24"),
                                  random_seed=seed), MbufPool(16))
        return [next_identifier(stack) for _ in range(3)]

    first = identifiers(3)
    assert identifiers(3) == first and identifiers(4) != first
    assert first[1] == (first[0] + 1) & 0xFFFF  # concurrent pings never share one


def test_a_lockstep_call_raises_what_the_stack_raised():
    clock = VirtualClock()
    pool = MbufPool(16)
    stack = Stack(StackConfig(mac=A_MAC, address=IPv4Interface("192.0.2.1/24")), pool)
    net = Lockstep([Engine(stack, open_port(f"memory:lonely-{os.getpid()}"), pool, clock=clock)],
                   clock)
    try:
        net.call(net.engines[0], lambda stack, now: stack.udp.bind(None, 7))
        with pytest.raises(OSError, match="in use"):
            net.call(net.engines[0], lambda stack, now: stack.udp.bind(None, 7))
        assert net.run_for(5.0) is False and net.now == 5.0  # time moves with nothing to do
    finally:
        net.close()
