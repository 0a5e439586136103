"""Lab 2, part 2: resolving next hops (RFC 826 sending side, RFC 1122 §2.3.2).

`output(next_hop, mbuf, now)` sends when the MAC is known; otherwise it broadcasts a
request, queues the packet, retries every arp_retry_interval (plus a seeded jitter in
[0, arp_retry_jitter): retries are accepted anywhere in that window), and after
arp_retries unanswered requests drops the queue: ICMP host unreachable for a packet
someone else sent, arp.drop.unresolved for each packet either way.
"""

from __future__ import annotations

from lab02_steps import (
    check,
    expect_drops,
    expect_entry,
    expect_pending,
    ping,
    reply_to_us,
    request_for_us,
)

from labs.kit import make_harness
from netstack.testing import (
    arp_reply,
    arp_request,
    icmp_echo_frame,
    icmp_echo_reply,
    icmp_echo_request,
    icmp_unreachable,
)
from netstack.wire import icmp as wire_icmp

UDP_TO_PORT_53 = b"\x12\x34\x00\x35\x00\x0cxxxx"  # a UDP datagram, checksum 0


def retrying(variant, **overrides):
    """A harness whose ARP retries every initial_rto seconds (the variant's) with the
    config's jitter."""
    return make_harness(variant, arp_retry_interval=variant.initial_rto, **overrides)


def window(h) -> tuple[float, float]:
    config = h.stack.config
    return config.arp_retry_interval, config.arp_retry_jitter


def test_a_ping_to_an_unknown_neighbour_sends_a_request_and_waits(harness, variant):
    h = harness
    h.call(f"ping {variant.other_ip}", ping(variant, variant.other_ip))
    frame = h.expect(arp_request(target_ip=variant.other_ip, sender_ip=variant.our_ip))
    h.call("the request comes from our MAC and asks for an unknown MAC",
           lambda s, now: check(frame[6:12] == variant.our_mac and frame[22:28] ==
                                variant.our_mac and frame[32:38] == bytes(6),
                                "Ethernet source / sender MAC must be ours, target MAC zero"))
    h.expect_nothing()
    expect_pending(h, 1, variant.other_ip)
    h.expect_counter("arp.tx.request", 1)


def test_the_reply_releases_the_queued_packet(harness, variant):
    h = harness
    h.call(f"ping {variant.other_ip}", ping(variant, variant.other_ip))
    h.expect(arp_request(target_ip=variant.other_ip))
    h.receive(reply_to_us(variant, variant.other_mac, variant.other_ip))
    frame = h.expect(icmp_echo_request(dst=variant.other_ip, sequence=1))
    h.call("the echo request goes to the MAC the reply gave",
           lambda s, now: check(frame[0:6] == variant.other_mac,
                                "the queued packet did not go to the resolved MAC"))
    h.expect_nothing()
    expect_pending(h, 0)
    expect_entry(h, variant.other_ip, variant.other_mac)


def test_one_request_per_next_hop_and_packets_leave_in_order(harness, variant):
    h = harness
    h.call("ping seq 1", ping(variant, variant.peer_ip, 1))
    h.expect(arp_request(target_ip=variant.peer_ip))
    h.call("ping seq 2", ping(variant, variant.peer_ip, 2))
    h.call("ping seq 3", ping(variant, variant.peer_ip, 3))
    h.expect_nothing()
    expect_pending(h, 3, variant.peer_ip)
    h.receive(reply_to_us(variant))
    for seq in (1, 2, 3):
        h.expect(icmp_echo_request(dst=variant.peer_ip, sequence=seq))
    h.expect_nothing()


def test_a_known_neighbour_needs_no_request(harness, variant):
    h = harness
    h.receive(request_for_us(variant))
    h.expect(arp_reply())
    h.call(f"ping {variant.peer_ip}", ping(variant, variant.peer_ip))
    h.expect(icmp_echo_request(dst=variant.peer_ip))
    h.expect_nothing()
    h.expect_counter("arp.tx.request", 0)


def test_the_kernel_pings_us_first_and_gets_its_reply_after_resolution(harness, variant):
    """An echo request arrives before any ARP: the reply waits for the peer's MAC."""
    h = harness
    h.receive(icmp_echo_frame(variant.our_mac, variant.peer_mac, variant.peer_ip,
                              variant.our_ip, 7, 1, b"abc"))
    h.expect(arp_request(target_ip=variant.peer_ip))
    h.receive(reply_to_us(variant))
    h.expect(icmp_echo_reply(dst=variant.peer_ip, sequence=1))
    h.expect_nothing()


def test_an_off_link_destination_resolves_the_gateway(harness, variant):
    """far_ip is off-link: the frame goes to the gateway (peer_ip), so ARP asks for it."""
    h = harness
    h.call(f"ping {variant.far_ip}", ping(variant, variant.far_ip))
    h.expect(arp_request(target_ip=variant.peer_ip))
    h.receive(reply_to_us(variant))
    frame = h.expect(icmp_echo_request(dst=variant.far_ip))
    h.call("the datagram for far_ip goes to the gateway's MAC",
           lambda s, now: check(frame[0:6] == variant.peer_mac, "not sent to the gateway"))


def test_a_broadcast_needs_no_resolution(harness, variant):
    h = harness
    broadcast = variant.interface.network.broadcast_address
    h.call(f"ping {broadcast}", ping(variant, broadcast))
    frame = h.expect(icmp_echo_request(dst=broadcast))
    h.call("sent to ff:ff:ff:ff:ff:ff",
           lambda s, now: check(frame[0:6] == b"\xff" * 6, "not an Ethernet broadcast"))
    h.expect_counter("arp.tx.request", 0)


def test_an_unanswered_request_is_retried_after_the_interval(variant):
    """Not before arp_retry_interval; by interval + jitter (the documented window)."""
    h = retrying(variant)
    interval, jitter = window(h)
    h.call(f"ping {variant.other_ip}", ping(variant, variant.other_ip))
    h.expect(arp_request(target_ip=variant.other_ip))
    h.advance(interval - 0.01)
    h.expect_nothing()
    h.advance(jitter + 0.02)
    h.expect(arp_request(target_ip=variant.other_ip))
    h.expect_nothing()


def test_a_reply_during_the_retries_stops_them(variant):
    h = retrying(variant)
    interval, jitter = window(h)
    h.call(f"ping {variant.peer_ip}", ping(variant, variant.peer_ip))
    h.expect(arp_request(target_ip=variant.peer_ip))
    h.advance(interval + jitter)
    h.expect(arp_request(target_ip=variant.peer_ip))
    h.receive(reply_to_us(variant))
    h.expect(icmp_echo_request(dst=variant.peer_ip))
    h.advance(10 * (interval + jitter))
    h.expect_nothing()
    expect_drops(h, 0)


def test_resolution_gives_up_after_the_configured_retries(variant):
    """arp_retries requests in all, then the queued packet is dropped and counted."""
    retries = 2 + (variant.stack_seed % 3)
    h = retrying(variant, arp_retries=retries)
    interval, jitter = window(h)
    h.call(f"ping {variant.other_ip}", ping(variant, variant.other_ip))
    h.expect(arp_request(target_ip=variant.other_ip))
    for _ in range(retries - 1):
        h.advance(interval + jitter)
        h.expect(arp_request(target_ip=variant.other_ip))
    h.advance(interval + jitter)
    h.expect_nothing()
    h.expect_counter("arp.drop.unresolved", 1)
    h.expect_counter("arp.tx.request", retries)
    expect_pending(h, 0)
    h.advance(10 * (interval + jitter))
    h.expect_nothing()
    h.call("every queued buffer went back to the pool",
           lambda s, now: check(s.pool.available == len(s.pool),
                                f"{len(s.pool) - s.pool.available} buffers were not freed"))


def test_a_forwarded_packet_that_cannot_be_delivered_gets_host_unreachable(harness, variant):
    """A packet someone else sent (source peer_ip) to an unresolvable other_ip: after the
    retries, ICMP destination unreachable, code 1 (host), back to its source."""
    h = harness
    interval, jitter = window(h)
    h.receive(request_for_us(variant))
    h.expect(arp_reply())
    h.call(f"send UDP {variant.peer_ip} -> {variant.other_ip} (as a router would)",
           lambda s, now: s.ipv4.send_payload(variant.other_ip, 17, UDP_TO_PORT_53, now,
                                              src=variant.peer_ip))
    h.expect(arp_request(target_ip=variant.other_ip))
    for _ in range(h.stack.config.arp_retries - 1):
        h.advance(interval + jitter)
        h.expect(arp_request(target_ip=variant.other_ip))
    h.advance(interval + jitter)
    frame = h.expect(icmp_unreachable(wire_icmp.CODE_HOST_UNREACHABLE, dst=variant.peer_ip))
    h.call("to the source's MAC", lambda s, now: check(frame[0:6] == variant.peer_mac,
                                                        "not sent to the packet's source"))


def test_the_pending_queue_per_next_hop_is_bounded(variant):
    limit = 2 + variant.peer_port % 4
    h = make_harness(variant, arp_pending_limit=limit)
    for seq in range(1, limit + 3):
        h.call(f"ping seq {seq}", ping(variant, variant.other_ip, seq))
    h.expect(arp_request(target_ip=variant.other_ip))
    h.expect_nothing()
    expect_pending(h, limit, variant.other_ip)
    h.expect_counter("arp.drop.pending_full", 2)
    h.receive(reply_to_us(variant, variant.other_mac, variant.other_ip))
    for seq in range(1, limit + 1):  # the first ones were kept
        h.expect(icmp_echo_request(dst=variant.other_ip, sequence=seq))
    h.expect_nothing()


def test_the_pending_queues_together_are_bounded(variant):
    h = make_harness(variant, arp_pending_limit=3, arp_pending_total_limit=4)
    for seq in range(1, 4):
        h.call(f"ping {variant.peer_ip} seq {seq}", ping(variant, variant.peer_ip, seq))
    h.expect(arp_request(target_ip=variant.peer_ip))
    for seq in range(1, 4):
        h.call(f"ping {variant.other_ip} seq {seq}", ping(variant, variant.other_ip, seq))
    h.expect(arp_request(target_ip=variant.other_ip))
    expect_pending(h, 4)
    h.expect_counter("arp.drop.pending_full", 2)
    h.call("the dropped packets' buffers went back to the pool",
           lambda s, now: check(s.pool.available == len(s.pool) - 4,
                                f"{len(s.pool) - s.pool.available} buffers in use, expected 4"))


def test_a_request_from_the_next_hop_also_releases_the_queue(harness, variant):
    """Learning the MAC from the other host's own request works as well as a reply."""
    h = harness
    h.call(f"ping {variant.other_ip}", ping(variant, variant.other_ip))
    h.expect(arp_request(target_ip=variant.other_ip))
    h.receive(request_for_us(variant, variant.other_mac, variant.other_ip))

    def both(stack, now):
        # Either order is fine: the queued packet and the ARP reply are independent.
        frames = h.drain()
        kinds = sorted(f[12:14].hex() for f in frames)
        check(kinds == ["0800", "0806"] and all(f[0:6] == variant.other_mac for f in frames),
              f"expected the echo request and the ARP reply, both to {variant.other_ip}'s "
              f"MAC; got {len(frames)} frame(s) of types {kinds}")

    h.call("the ARP reply and the queued echo request leave, to the other host", both)
    expect_pending(h, 0)
