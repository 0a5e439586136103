"""IPv4 reassembly: order, duplicates, overlaps, timeouts and fragment floods."""

import random
from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, fragment
from scapy.layers.l2 import Ether

from netstack.counters import Counters
from netstack.stages.fragmentation import fragment as split
from netstack.testing import icmp_echo_reply, icmp_time_exceeded
from netstack.timers import TimerWheel
from netstack.wire import icmp as wire_icmp
from netstack.wire.ipv4 import IPv4Header

from .common import OUR_IP, OUR_MAC_STR, PEER_IP, PEER_MAC_STR, make_harness

SRC, DST = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")


def make_reassembler(units, **kw):
    """The reassembly unit under test (the reference, or what --impl names)."""
    timeouts = []
    wheel = TimerWheel()
    counters = Counters()
    r = units.reassembly(wheel, counters, lambda h, p, now: timeouts.append((h, p, now)), **kw)
    return r, wheel, counters, timeouts


def pieces(payload, mtu=68, ident=1, protocol=17):
    header = IPv4Header(SRC, DST, protocol, identification=ident)
    return [(h, bytes(p)) for h, p in split(header, payload, mtu)]


def test_in_order_and_out_of_order(units):
    payload = bytes(range(256)) * 3
    for order in (lambda x: x, lambda x: list(reversed(x))):
        r, *_ = make_reassembler(units)
        results = [r.add(h, p, 0.0) for h, p in order(pieces(payload))]
        assert results[:-1] == [None] * (len(results) - 1)
        header, data = results[-1]
        assert data == payload and not header.more_fragments and header.fragment_offset == 0
        assert len(r) == 0 and r.memory_used == 0


@settings(max_examples=80, deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=3000),
    mtu=st.integers(68, 1500),
    seed=st.integers(0, 2**32),
    duplicates=st.integers(0, 5),
)
def test_any_order_and_duplication_reassembles_the_original(
    units, payload, mtu, seed, duplicates
):
    rng = random.Random(seed)
    frags = pieces(payload, mtu)
    frags += [rng.choice(frags) for _ in range(duplicates)]
    rng.shuffle(frags)
    r, _, counters, _ = make_reassembler(units)
    done = [res for h, p in frags if (res := r.add(h, p, 0.0)) is not None]
    if len(pieces(payload, mtu)) == 1:
        return  # not fragmented at all; the IPv4 stage never asks us
    assert len(done) == 1  # duplicates after completion start a new (incomplete) datagram
    assert done[0][1] == payload
    assert counters["ipv4.drop.fragment_overlap"] == 0


def test_partial_overlap_discards_the_datagram_and_later_fragments(units):
    r, wheel, counters, timeouts = make_reassembler(units)
    h0, p0 = pieces(bytes(64), mtu=36)[0]  # 16 bytes at offset 0, MF
    assert r.add(h0, p0, 0.0) is None
    overlapping = IPv4Header(SRC, DST, 17, identification=1, more_fragments=True, fragment_offset=8)
    assert r.add(overlapping, bytes(16), 0.0) is None
    assert counters["ipv4.drop.fragment_overlap"] == 1 and len(r) == 0
    last = IPv4Header(SRC, DST, 17, identification=1, fragment_offset=16)
    assert r.add(last, bytes(48), 1.0) is None  # not a new datagram: dropped too
    assert counters["ipv4.drop.fragment_of_discarded"] == 1
    wheel.advance(31.0)
    assert timeouts == []  # silently discarded (RFC 5722), no time exceeded
    assert r.add(h0, p0, 31.0) is None and len(r) == 1  # after the timeout, a fresh start


def test_same_range_different_bytes_is_an_overlap(units):
    r, _, counters, _ = make_reassembler(units)
    h0, p0 = pieces(bytes(64), mtu=36)[0]
    r.add(h0, p0, 0.0)
    r.add(h0, b"\xff" * len(p0), 0.0)
    assert counters["ipv4.drop.fragment_overlap"] == 1


def test_exact_duplicate_is_ignored(units):
    r, _, counters, _ = make_reassembler(units)
    frags = pieces(bytes(100), mtu=60)
    r.add(*frags[0], 0.0)
    r.add(*frags[0], 0.0)
    assert counters["ipv4.fragment.duplicate"] == 1
    for h, p in frags[1:-1]:
        r.add(h, p, 0.0)
    assert r.add(*frags[-1], 0.0)[1] == bytes(100)


def test_bad_fragment_lengths(units):
    r, _, counters, _ = make_reassembler(units)
    odd = IPv4Header(SRC, DST, 17, identification=9, more_fragments=True)
    r.add(odd, bytes(12), 0.0)  # not a multiple of 8, yet not the last
    assert counters["ipv4.drop.fragment_bad_length"] == 1
    death = IPv4Header(SRC, DST, 1, identification=9, fragment_offset=65528)
    r.add(death, bytes(16), 0.0)  # would end past 65535 bytes: the ping of death
    assert counters["ipv4.drop.fragment_too_large"] == 1
    assert len(r) == 0


def test_two_last_fragments_that_disagree_discard_the_datagram(units):
    r, _, counters, _ = make_reassembler(units)
    r.add(IPv4Header(SRC, DST, 17, identification=5, fragment_offset=16), bytes(8), 0.0)
    r.add(IPv4Header(SRC, DST, 17, identification=5, fragment_offset=32), bytes(8), 0.0)
    assert counters["ipv4.drop.fragment_inconsistent"] == 1 and len(r) == 0


def test_timeout_reports_only_when_the_first_fragment_arrived(units):
    r, wheel, counters, timeouts = make_reassembler(units, timeout=30.0)
    a = pieces(bytes(100), mtu=60, ident=1)
    b = pieces(bytes(100), mtu=60, ident=2)
    r.add(*a[0], 0.0)  # first fragment of datagram 1
    r.add(*b[1], 0.0)  # a middle fragment of datagram 2
    wheel.advance(29.9)
    assert timeouts == []
    wheel.advance(30.0)
    assert counters["ipv4.drop.reassembly_timeout"] == 2
    [(header, first_payload, now)] = timeouts
    assert header.identification == 1 and first_payload == a[0][1] and now == 30.0
    assert len(r) == 0 and r.memory_used == 0


def test_concurrent_datagram_limit_evicts_the_oldest(units):
    r, _, counters, _ = make_reassembler(units, max_datagrams=4)
    for ident in range(10):
        r.add(*pieces(bytes(100), mtu=60, ident=ident)[0], 0.0)
    assert len(r) == 4
    assert counters["ipv4.drop.reassembly_evicted"] == 6
    # The newest survive: finishing datagram 9 still works.
    rest = pieces(bytes(100), mtu=60, ident=9)[1:]
    assert [r.add(h, p, 0.0) for h, p in rest][-1][1] == bytes(100)


def test_memory_limit_holds_under_a_fragment_flood(units):
    limit = 64 * 1024
    r, _, counters, _ = make_reassembler(units, memory_limit=limit, max_datagrams=10_000)
    rng = random.Random(1)
    for ident in range(2000):  # 2000 datagrams that never complete
        header = IPv4Header(
            SRC,
            DST,
            17,
            identification=ident,
            more_fragments=True,
            fragment_offset=8 * rng.randrange(100),
        )
        r.add(header, bytes(1000), 0.0)
        assert r.memory_used <= limit
    assert counters["ipv4.drop.reassembly_evicted"] > 1900
    # A legitimate datagram still gets through the flood.
    done = [r.add(h, p, 0.0) for h, p in pieces(b"legit" * 500, mtu=1500, ident=60000)]
    assert done[-1][1] == b"legit" * 500


# --- through the whole stack ---------------------------------------------------------------


def fragmented_ping(size, seq=1, ident=77, frag_size=1480):
    datagram = (
        IP(src=str(PEER_IP), dst=str(OUR_IP), id=ident)
        / ICMP(id=5, seq=seq)
        / (bytes(random.Random(seq).randbytes(size)))
    )
    return [
        bytes(Ether(dst=OUR_MAC_STR, src=PEER_MAC_STR) / f) for f in fragment(datagram, frag_size)
    ], bytes(datagram[ICMP].payload)


def test_stack_reassembles_out_of_order_and_replies():
    h = make_harness(peer_known=True)
    frames, data = fragmented_ping(3000)
    for f in reversed(frames):
        h.receive(f)
    h.expect_reassembled(icmp_echo_reply(sequence=1, payload=data))
    h.expect_counter("ipv4.reassembled", 1)


def test_stack_time_exceeded_only_if_first_fragment_arrived():
    h = make_harness(peer_known=True)
    frames, _ = fragmented_ping(3000, ident=1)
    h.receive(frames[0])
    frames2, _ = fragmented_ping(3000, ident=2)
    h.receive(frames2[1])
    h.advance(29)
    h.expect_nothing()
    h.advance(1)
    reply = h.expect(icmp_time_exceeded(wire_icmp.CODE_REASSEMBLY_TIME_EXCEEDED, dst=PEER_IP))
    quoted = IP(bytes(IP(reply[14:])[ICMP].payload))
    assert quoted.id == 1 and quoted.frag == 0 and quoted.flags.MF
    h.expect_nothing()  # none for datagram 2: its first fragment never came
    h.expect_counter("ipv4.drop.reassembly_timeout", 2)
