"""Lab 2, part 1: receiving ARP (RFC 826 "Packet Reception") and the table's aging.

Every scenario is a transcript: frames in, frames out, and table/counter checks as steps.
Addresses come from the variant (the handout's for the public one, drawn from a seed for
hidden ones). Drop counters are checked by their total under arp.drop.*: which reason name
you count under is yours to choose.
"""

from __future__ import annotations

from lab02_steps import (
    REPLY,
    REQUEST,
    check,
    expect_drops,
    expect_entry,
    new_mac,
    reply_to_us,
    request_for_us,
)

from netstack.testing import arp_frame, arp_reply, gratuitous_arp


def test_a_request_for_us_is_answered(harness, variant):
    """who-has our_ip tell peer: the reply says our_ip is-at our_mac, unicast to the peer."""
    h = harness
    h.receive(request_for_us(variant))
    h.expect(arp_reply(sender_ip=variant.our_ip, sender_mac=variant.our_mac,
                       target_ip=variant.peer_ip, target_mac=variant.peer_mac))
    h.expect_nothing()
    h.expect_counter("arp.tx.reply", 1)


def test_a_request_for_us_teaches_the_sender(harness, variant):
    """RFC 826: the target is us and the sender is new, so the sender is added."""
    h = harness
    expect_entry(h, variant.peer_ip, None)
    h.receive(request_for_us(variant))
    h.expect(arp_reply())
    expect_entry(h, variant.peer_ip, variant.peer_mac)


def test_a_reply_to_us_teaches_the_sender_and_is_not_answered(harness, variant):
    h = harness
    h.receive(reply_to_us(variant))
    h.expect_nothing()
    expect_entry(h, variant.peer_ip, variant.peer_mac)


def test_a_request_for_another_address_is_ignored(harness, variant):
    """who-has peer_ip tell other: not for us, no reply, and no entry for a stranger."""
    h = harness
    h.receive(arp_frame(REQUEST, variant.other_mac, variant.other_ip, variant.peer_ip))
    h.expect_nothing()
    expect_entry(h, variant.other_ip, None)
    expect_drops(h, 1)


def test_a_request_for_another_address_refreshes_a_known_sender(harness, variant):
    """RFC 826's merge runs before "am I the target?": a known sender's MAC is updated
    even by a packet for someone else."""
    h = harness
    h.receive(request_for_us(variant, variant.other_mac, variant.other_ip))
    h.expect(arp_reply(target_mac=variant.other_mac))
    moved = new_mac(variant)
    h.receive(arp_frame(REQUEST, moved, variant.other_ip, variant.peer_ip))
    h.expect_nothing()
    expect_entry(h, variant.other_ip, moved)


def test_a_known_sender_with_a_new_mac_is_updated(harness, variant):
    """The other host asks for us again from a new card: the entry follows, the reply
    goes to the new MAC."""
    h = harness
    h.receive(request_for_us(variant, variant.other_mac, variant.other_ip))
    h.expect(arp_reply(target_mac=variant.other_mac))
    moved = new_mac(variant)
    h.receive(request_for_us(variant, moved, variant.other_ip))
    h.expect(arp_reply(target_ip=variant.other_ip, target_mac=moved))
    expect_entry(h, variant.other_ip, moved)


def test_a_learned_entry_ages_out_after_the_reachable_time(harness, variant):
    """The entry lives stack.config.arp_reachable_time seconds after it was learned."""
    h = harness
    reachable = h.stack.config.arp_reachable_time
    h.receive(request_for_us(variant))
    h.expect(arp_reply())
    h.advance(reachable - 0.1)
    expect_entry(h, variant.peer_ip, variant.peer_mac)
    h.advance(0.2)
    expect_entry(h, variant.peer_ip, None)


def test_the_reachable_time_comes_from_the_config(variant):
    """A stack configured with another arp_reachable_time ages by it."""
    from labs.kit import make_harness

    reachable = 10 * variant.initial_rto
    h = make_harness(variant, arp_reachable_time=reachable)
    h.receive(reply_to_us(variant))
    h.advance(reachable - 0.1)
    expect_entry(h, variant.peer_ip, variant.peer_mac)
    h.advance(0.2)
    expect_entry(h, variant.peer_ip, None)


def test_hearing_from_a_neighbour_again_restarts_its_reachable_time(harness, variant):
    h = harness
    reachable = h.stack.config.arp_reachable_time
    h.receive(request_for_us(variant))
    h.expect(arp_reply())
    h.advance(reachable / 2)
    h.receive(reply_to_us(variant))
    h.advance(reachable / 2 + 1)  # past the first expiry, before the second
    expect_entry(h, variant.peer_ip, variant.peer_mac)
    h.advance(reachable / 2)
    expect_entry(h, variant.peer_ip, None)


def test_a_gratuitous_arp_is_sent_at_start(harness, variant):
    """RFC 5227 §2.3: at start, a broadcast request whose sender and target are our_ip."""
    h = harness
    h.start()
    frame = h.expect(gratuitous_arp(variant.our_ip))
    h.call("the announcement comes from our MAC",
           lambda s, now: check(frame[6:12] == variant.our_mac and frame[22:28] ==
                                variant.our_mac, "the gratuitous ARP's Ethernet source or "
                                "sender hardware address is not our MAC"))
    h.expect_nothing()


def test_a_gratuitous_arp_from_a_known_neighbour_updates_it(harness, variant):
    """The other host announces a new MAC (sender = target = its address): merged."""
    h = harness
    h.receive(reply_to_us(variant, variant.other_mac, variant.other_ip))
    moved = new_mac(variant)
    h.receive(arp_frame(REQUEST, moved, variant.other_ip, variant.other_ip))
    h.expect_nothing()
    expect_entry(h, variant.other_ip, moved)


def test_a_gratuitous_arp_from_a_stranger_is_not_learned(harness, variant):
    """Not addressed to us and no entry to merge: RFC 826 adds nothing (so a flood of
    broadcasts cannot fill the table)."""
    h = harness
    h.receive(arp_frame(REQUEST, variant.other_mac, variant.other_ip, variant.other_ip))
    h.expect_nothing()
    expect_entry(h, variant.other_ip, None)


def test_a_gratuitous_reply_updates_a_known_neighbour(harness, variant):
    """The broadcast-reply form of an announcement (some hosts send that) merges too."""
    h = harness
    h.receive(reply_to_us(variant))
    moved = new_mac(variant)
    h.receive(arp_frame(REPLY, moved, variant.peer_ip, variant.peer_ip,
                        dst=b"\xff" * 6))
    h.expect_nothing()
    expect_entry(h, variant.peer_ip, moved)


def test_a_truncated_arp_packet_is_counted_as_a_drop(harness, variant):
    h = harness
    h.receive(request_for_us(variant)[:14 + 20])  # 20 of the 28 bytes
    h.expect_nothing()
    expect_drops(h, 1)
    expect_entry(h, variant.peer_ip, None)


def test_an_arp_packet_for_another_hardware_type_is_dropped(harness, variant):
    h = harness
    frame = bytearray(request_for_us(variant))
    frame[14:16] = b"\x00\x06"  # hardware type 6 (IEEE 802), not Ethernet
    h.receive(bytes(frame))
    h.expect_nothing()
    expect_drops(h, 1)
    expect_entry(h, variant.peer_ip, None)


def test_an_arp_packet_with_an_unknown_opcode_is_dropped(harness, variant):
    h = harness
    frame = bytearray(request_for_us(variant))
    frame[20:22] = b"\x00\x09"
    h.receive(bytes(frame))
    h.expect_nothing()
    expect_drops(h, 1)


def test_someone_claiming_our_address_changes_nothing(harness, variant):
    """RFC 5227 §2.4: a packet whose sender is our_ip from another MAC is a conflict: no
    entry for our own address, no reply."""
    h = harness
    h.receive(arp_frame(REQUEST, variant.other_mac, variant.our_ip, variant.peer_ip))
    h.expect_nothing()
    expect_entry(h, variant.our_ip, None)
    expect_drops(h, 1)


def test_a_probe_is_answered_but_not_learned(harness, variant):
    """RFC 5227 §2.1.1: a probe's sender address is 0.0.0.0; answer it, learn nothing."""
    h = harness
    h.receive(arp_frame(REQUEST, variant.other_mac, "0.0.0.0", variant.our_ip))
    h.expect(arp_reply(sender_ip=variant.our_ip, target_mac=variant.other_mac))
    h.call("the table stays empty",
           lambda s, now: check(s.arp.entries() == [], f"entries: {s.arp.entries()}"))


def test_static_entries_stay_and_are_not_overwritten(harness, variant):
    """`arp -s`: a static entry never ages and the wire cannot change it."""
    h = harness
    h.call(f"add static {variant.peer_ip}",
           lambda s, now: s.arp.add_static(variant.peer_ip, variant.peer_mac))
    h.receive(request_for_us(variant, new_mac(variant)))
    h.expect(arp_reply(target_mac=new_mac(variant)))
    h.advance(10 * h.stack.config.arp_reachable_time)
    expect_entry(h, variant.peer_ip, variant.peer_mac)


def test_entries_are_a_sorted_snapshot(harness, variant):
    h = harness
    h.receive(reply_to_us(variant, variant.other_mac, variant.other_ip))
    h.receive(reply_to_us(variant))
    expected = sorted([variant.peer_ip, variant.other_ip])

    def look(stack, now):
        got = [e.ip for e in stack.arp.entries()]
        check(got == expected, f"entries() lists {got}, expected {expected}")
        first = stack.arp.entries()[0]
        check(not first.static and first.expires_at == now + stack.config.arp_reachable_time,
              f"a learned entry should be dynamic and expire at now + reachable time: {first}")

    h.call("entries() sorted by address", look)
