"""The fixture lab's public tests: a ping answered through the student's checksum, and the
checksum called directly."""

import json
import os

from labs.kit import graded_impl, make_harness
from netstack.testing import icmp_echo_frame, icmp_echo_reply
from netstack.units import resolve_units


def ping(variant, sequence=1, data=b"fixture"):
    return icmp_echo_frame(variant.our_mac, variant.peer_mac, variant.peer_ip, variant.our_ip,
                           0x4242, sequence, data)


def test_echo_reply(variant):
    """A ping gets its reply: IPv4 and ICMP check and fill their checksums with yours."""
    harness = make_harness(variant, peer_known=True)
    harness.receive(ping(variant))
    harness.expect(icmp_echo_reply(dst=variant.peer_ip, identifier=0x4242, sequence=1,
                                   payload=b"fixture"))


def test_two_pings(variant):
    """Two pings, two replies, in order."""
    harness = make_harness(variant, peer_known=True)
    for sequence in (1, 2):
        harness.receive(ping(variant, sequence))
        harness.expect(icmp_echo_reply(sequence=sequence))


def test_checksum_of_a_known_header():
    """RFC 1071's example words sum to 0xddf2 (called directly, outside any transcript)."""
    unit = resolve_units(graded_impl()).checksum
    assert unit.ones_complement_sum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2


def test_leaderboard_entry():
    """Writes one leaderboard entry (the grader's tests check it reaches results.json)."""
    unit = resolve_units(graded_impl()).checksum
    assert unit.internet_checksum(b"\x00\x00") == 0xFFFF
    path = os.environ.get("NETSTACK_LAB_LEADERBOARD")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": "checksum of zero", "value": 65535, "order": "desc"}) + "\n")
