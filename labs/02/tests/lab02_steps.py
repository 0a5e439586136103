"""Steps shared by lab 2's tests: ARP frames from the variant's hosts, and checks of the
stack's state written as transcript steps (so a starter that raises NotImplementedError
fails a numbered step with a readable message, not the test itself)."""

from __future__ import annotations

from ipaddress import IPv4Address

from netstack.testing import arp_frame
from netstack.testing.frames import TranscriptMismatch
from netstack.wire import arp as wire_arp

REQUEST, REPLY = wire_arp.OP_REQUEST, wire_arp.OP_REPLY


def check(condition: bool, message: str) -> None:
    if not condition:
        raise TranscriptMismatch(message)


def mac_text(mac: bytes | None) -> str:
    return "nothing" if mac is None else ":".join(f"{b:02x}" for b in mac)


def request_for_us(variant, sender_mac=None, sender_ip=None) -> bytes:
    """Broadcast "who has our_ip? tell sender" (by default the peer)."""
    return arp_frame(REQUEST, sender_mac or variant.peer_mac, sender_ip or variant.peer_ip,
                     variant.our_ip)


def reply_to_us(variant, sender_mac=None, sender_ip=None) -> bytes:
    """Unicast "sender is at sender_mac", addressed to us (by default from the peer)."""
    return arp_frame(REPLY, sender_mac or variant.peer_mac, sender_ip or variant.peer_ip,
                     variant.our_ip, target_mac=variant.our_mac)


def new_mac(variant) -> bytes:
    """Another MAC for the other host: a neighbour that changed its network card."""
    return variant.other_mac[:5] + bytes([variant.other_mac[5] ^ 0xFF])


def expect_entry(h, ip: IPv4Address, mac: bytes | None) -> None:
    """A step: the stack's table maps `ip` to `mac` (None: no entry)."""
    def look(stack, now):
        got = stack.arp.lookup(ip)
        check(got == mac, f"the ARP table has {mac_text(got)} for {ip}, expected "
              f"{mac_text(mac)}")
    h.call(f"table    {ip} -> {mac_text(mac)}", look)


def expect_pending(h, count: int, next_hop: IPv4Address | None = None) -> None:
    """A step: `count` packets wait for resolution (for `next_hop`, or overall)."""
    def look(stack, now):
        got = stack.arp.pending_count(next_hop)
        check(got == count, f"{got} packets wait for resolution"
              f"{f' of {next_hop}' if next_hop else ''}, expected {count}")
    h.call(f"pending  {count}{f' for {next_hop}' if next_hop else ''}", look)


def expect_drops(h, count: int) -> None:
    """A step: `count` ARP packets were dropped, whatever the reason's counter name
    (arp.drop.<reason>: the name is implementation-defined, the count is not)."""
    def look(stack, now):
        drops = stack.counters.matching("arp.drop.")
        check(sum(drops.values()) == count, f"expected {count} ARP drop(s) counted under "
              f"arp.drop.*, got {drops or 'none'}")
    h.call(f"counter  arp.drop.* total == {count}", look)


def ping(variant, dst: IPv4Address, seq: int = 1):
    """An action for h.call: our stack sends an echo request to `dst`."""
    return lambda stack, now: stack.icmp.send_echo(dst, 0x4C02, seq, b"lab 2", now)
