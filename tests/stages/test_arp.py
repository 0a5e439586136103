"""ARP: answering, learning (RFC 826 merge rules), aging, resolution, retries and failure."""

from ipaddress import IPv4Address

from netstack.testing import (
    Advance,
    ExpectCounter,
    ExpectNothing,
    arp_frame,
    arp_reply,
    arp_request,
    gratuitous_arp,
    icmp_echo_request,
    icmp_unreachable,
)
from netstack.wire import arp as wire_arp
from netstack.wire import icmp as wire_icmp

from .common import (
    OTHER_IP,
    OTHER_MAC,
    OUR_IP,
    OUR_MAC,
    PEER_IP,
    PEER_MAC,
    make_harness,
)

REQUEST, REPLY = wire_arp.OP_REQUEST, wire_arp.OP_REPLY


def request_for_us(sender_mac=PEER_MAC, sender_ip=PEER_IP):
    return arp_frame(REQUEST, sender_mac, sender_ip, OUR_IP)


def ping(stack, now, dst=PEER_IP, seq=1):
    stack.icmp.send_echo(dst, 1, seq, b"hello", now)


def test_reply_to_a_request_and_learn_the_sender():
    h = make_harness()
    h.receive(request_for_us())
    h.expect(
        arp_reply(sender_ip=OUR_IP, sender_mac=OUR_MAC, target_ip=PEER_IP, target_mac=PEER_MAC)
    )
    h.expect_nothing()
    assert h.stack.arp.lookup(PEER_IP) == PEER_MAC
    h.expect_counter("arp.rx.request", 1)
    h.expect_counter("arp.tx.reply", 1)


def test_learn_from_a_reply_addressed_to_us():
    h = make_harness()
    h.receive(arp_frame(REPLY, PEER_MAC, PEER_IP, OUR_IP, target_mac=OUR_MAC))
    h.expect_nothing()
    assert h.stack.arp.lookup(PEER_IP) == PEER_MAC


def test_requests_for_other_hosts_are_dropped_and_create_nothing():
    h = make_harness()
    h.receive(arp_frame(REQUEST, OTHER_MAC, OTHER_IP, PEER_IP))
    h.expect_nothing()
    h.expect_counter("arp.drop.not_for_us", 1)
    assert h.stack.arp.lookup(OTHER_IP) is None


def test_packets_for_other_hosts_still_refresh_an_existing_entry():
    # RFC 826: the merge step runs before the "am I the target?" test.
    h = make_harness()
    h.receive(request_for_us(sender_mac=OTHER_MAC, sender_ip=OTHER_IP))
    h.expect(arp_reply())
    h.advance(50)
    new_mac = bytes.fromhex("0200000000aa")
    h.receive(arp_frame(REQUEST, new_mac, OTHER_IP, PEER_IP))  # OTHER moved to a new NIC
    assert h.stack.arp.lookup(OTHER_IP) == new_mac
    h.advance(50)  # 100 s after learning, 50 s after the refresh: still there
    assert h.stack.arp.lookup(OTHER_IP) == new_mac


def test_a_packet_claiming_our_address_is_a_conflict_and_changes_nothing():
    h = make_harness()
    h.receive(arp_frame(REQUEST, OTHER_MAC, OUR_IP, PEER_IP))
    h.receive(arp_frame(REPLY, OTHER_MAC, OUR_IP, OUR_IP, target_mac=OUR_MAC))
    h.expect_nothing()
    h.expect_counter("arp.drop.address_conflict", 2)
    assert h.stack.arp.entries() == []


def test_probe_from_zero_address_is_answered_but_not_learned():
    h = make_harness()
    h.receive(arp_frame(REQUEST, OTHER_MAC, "0.0.0.0", OUR_IP))
    h.expect(arp_reply(sender_ip=OUR_IP, target_mac=OTHER_MAC))
    assert h.stack.arp.entries() == []


def test_malformed_arp_is_counted():
    h = make_harness()
    frame = bytearray(request_for_us())
    frame[14:16] = b"\x00\x06"  # hardware type 6 (IEEE 802): not ours
    h.receive(bytes(frame))
    h.expect_nothing()
    h.expect_counter("arp.drop.unsupported_hardware", 1)


def test_learned_entries_age_out_static_ones_stay():
    h = make_harness(static_arp={OTHER_IP: OTHER_MAC}, arp_reachable_time=30)
    h.receive(request_for_us())
    h.expect(arp_reply())
    h.advance(29.9)
    assert h.stack.arp.lookup(PEER_IP) == PEER_MAC
    h.advance(0.2)
    assert h.stack.arp.lookup(PEER_IP) is None
    h.advance(3600)
    assert h.stack.arp.lookup(OTHER_IP) == OTHER_MAC
    [entry] = h.stack.arp.entries()
    assert entry.static and entry.expires_at is None


def test_static_entries_are_not_overwritten_from_the_wire():
    h = make_harness(static_arp={PEER_IP: PEER_MAC})
    h.receive(request_for_us(sender_mac=OTHER_MAC))
    h.expect(arp_reply(target_mac=OTHER_MAC))
    assert h.stack.arp.lookup(PEER_IP) == PEER_MAC


def test_add_static_at_runtime_releases_waiting_packets():
    h = make_harness()
    h.call("ping 192.0.2.1", ping)
    h.expect(arp_request(target_ip=PEER_IP))
    h.call("arp -s 192.0.2.1", lambda s, now: s.arp.add_static(PEER_IP, PEER_MAC))
    h.expect(icmp_echo_request(dst=PEER_IP, sequence=1))


def test_gratuitous_arp_at_start():
    h = make_harness()
    h.start()
    frame = h.expect(gratuitous_arp(OUR_IP))
    assert frame[6:12] == OUR_MAC
    h.expect_nothing()


def test_resolution_queues_then_sends_in_order():
    h = make_harness()
    h.call("ping seq 1", lambda s, now: ping(s, now, seq=1))
    h.expect(arp_request(target_ip=PEER_IP, sender_ip=OUR_IP))
    h.call("ping seq 2", lambda s, now: ping(s, now, seq=2))
    h.expect_nothing()  # one request per next hop, not one per packet
    assert h.stack.arp.pending_count(PEER_IP) == 2
    h.receive(arp_frame(REPLY, PEER_MAC, PEER_IP, OUR_IP, target_mac=OUR_MAC))
    h.expect(icmp_echo_request(sequence=1))
    h.expect(icmp_echo_request(sequence=2))
    h.advance(10)
    h.expect_nothing()  # the retry timer was cancelled
    assert h.stack.arp.pending_count() == 0


def test_off_link_destinations_resolve_the_gateway():
    h = make_harness()
    h.call("ping 198.51.100.7", lambda s, now: ping(s, now, dst=IPv4Address("198.51.100.7")))
    h.expect(arp_request(target_ip=PEER_IP))


def test_pending_queue_is_bounded_per_next_hop_and_overall():
    h = make_harness(arp_pending_limit=3, arp_pending_total_limit=5)
    for seq in range(1, 6):
        h.call(f"ping seq {seq}", lambda s, now, seq=seq: ping(s, now, seq=seq))
    h.expect(arp_request(target_ip=PEER_IP))
    h.expect_counter("arp.drop.pending_full", 2)
    for seq in range(1, 4):
        h.call(f"ping .3 seq {seq}", lambda s, now, seq=seq: ping(s, now, OTHER_IP, seq))
    h.expect(arp_request(target_ip=OTHER_IP))
    h.expect_counter("arp.drop.pending_full", 3)  # 3 + 2 = the overall limit of 5
    assert h.stack.arp.pending_count() == 5
    assert h.stack.pool.available == len(h.stack.pool) - 5  # dropped mbufs went back


def test_retries_then_failure_drops_and_tells_listeners():
    h = make_harness(arp_retries=3, arp_retry_interval=1.0, arp_retry_jitter=0.0)
    told = []
    h.stack.arp.unresolved_listeners.append(
        lambda hop, header, payload, now: told.append((hop, header.dst, now))
    )
    h.call("ping 192.0.2.3", lambda s, now: ping(s, now, OTHER_IP))
    h.run(
        [
            # the first request went out with the packet
            Advance(0.5),
            ExpectCounter("arp.tx.request", 1),
            Advance(0.5),
            ExpectCounter("arp.tx.request", 2),
            Advance(1.0),
            ExpectCounter("arp.tx.request", 3),
            Advance(0.9),
            ExpectCounter("arp.drop.unresolved", 0),
            Advance(0.1),
            ExpectCounter("arp.drop.unresolved", 1),
            ExpectCounter("icmp.tx.dest_unreachable", 0),  # our own packet: no ICMP to ourselves
        ]
    )
    frames = h.drain()
    assert len(frames) == 3 and all(f[0:6] == b"\xff" * 6 for f in frames)
    assert told == [(OTHER_IP, OTHER_IP, 3.0)]
    assert h.stack.pool.available == len(h.stack.pool)


def test_failure_for_someone_elses_packet_sends_host_unreachable_to_its_source():
    h = make_harness(peer_known=True)

    def send_as_peer(stack, now):
        # A packet with a source that is not ours: the case where a host must answer.
        stack.ipv4.send_payload(OTHER_IP, 17, b"\x12\x34\x00\x35\x00\x0cxxxx", now, src=PEER_IP)

    h.call("send UDP from 192.0.2.1 to 192.0.2.3", send_as_peer)
    h.expect(arp_request(target_ip=OTHER_IP))
    h.advance(1.1)  # each wait: the 1 s retry interval plus at most 0.1 s of jitter
    h.expect(arp_request(target_ip=OTHER_IP))
    h.advance(1.1)
    h.expect(arp_request(target_ip=OTHER_IP))
    h.advance(1.1)
    frame = h.expect(icmp_unreachable(wire_icmp.CODE_HOST_UNREACHABLE, dst=PEER_IP))
    assert frame[0:6] == PEER_MAC
    h.expect_counter("arp.drop.unresolved", 1)


def retry_times(seed: int) -> list[float]:
    """When the retries for one unanswered next hop go out (polled every millisecond)."""
    h = make_harness(arp_retries=4, random_seed=seed)
    h.call("ping", ping)
    h.drain()
    times = []
    for _ in range(5000):
        h.advance(0.001)
        if h.drain():
            times.append(round(h.now, 3))
    return times


def test_retries_wait_the_interval_plus_a_seeded_jitter_that_never_shortens_it():
    times = retry_times(seed=1)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert len(times) == 3 and all(1.0 <= gap <= 1.1 + 1e-9 for gap in gaps), times
    assert len(set(gaps)) > 1  # jittered, not a fixed 1 s
    assert retry_times(seed=1) == times  # the same seed repeats them
    assert retry_times(seed=2) != times


def test_a_reply_during_retries_stops_them():
    h = make_harness()
    h.call("ping", ping)
    h.expect(arp_request())
    h.advance(1.1)  # the retry interval plus its largest jitter
    h.expect(arp_request())
    h.receive(arp_frame(REPLY, PEER_MAC, PEER_IP, OUR_IP, target_mac=OUR_MAC))
    h.expect(icmp_echo_request())
    h.run([Advance(5), ExpectNothing(), ExpectCounter("arp.drop.unresolved", 0)])


def test_entries_snapshot_is_sorted_and_table_is_safe_to_read():
    h = make_harness(static_arp={OTHER_IP: OTHER_MAC})
    h.receive(request_for_us())
    h.drain()
    entries = h.stack.arp.entries()
    assert [e.ip for e in entries] == [PEER_IP, OTHER_IP]
    assert not entries[0].static and entries[0].expires_at == 60.0
