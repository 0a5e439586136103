"""The transcript harness itself: a failure shows every step so far and the mismatch in words."""

import pytest

from netstack.testing import (
    Advance,
    Expect,
    ExpectCounter,
    ExpectNothing,
    Receive,
    TranscriptMismatch,
    arp_frame,
    arp_reply,
    icmp_echo_reply,
)
from netstack.wire import arp as wire_arp

from .common import OUR_IP, PEER_IP, PEER_MAC, make_harness


def test_failure_message_lists_steps_and_the_mismatch():
    h = make_harness()
    with pytest.raises(TranscriptMismatch) as caught:
        h.run(
            [
                Receive(arp_frame(wire_arp.OP_REQUEST, PEER_MAC, PEER_IP, OUR_IP)),
                Advance(0.5),
                Expect(icmp_echo_reply(sequence=1)),
            ]
        )
    text = str(caught.value)
    assert "1. t=0.000  receive   ARP request who-has 192.0.2.2 tell 192.0.2.1" in text
    assert "2. t=0.000  advance   0.5 s" in text
    assert "step 3 failed at t=0.500" in text
    assert "expected ICMP echo reply seq=1, got ARP reply 192.0.2.2 is-at 02:00:00:00:00:02" in text
    assert text.splitlines()[-1].startswith(
        "rerun just this test: pytest "
        "'tests/stages/test_harness.py::test_failure_message_lists_steps_and_the_mismatch'"
    )


def test_field_mismatch_is_named():
    h = make_harness()
    h.receive(arp_frame(wire_arp.OP_REQUEST, PEER_MAC, PEER_IP, OUR_IP))
    with pytest.raises(TranscriptMismatch, match=r"arp.sender_ip is 192.0.2.2, wanted 192.0.2.9"):
        h.expect(arp_reply(sender_ip="192.0.2.9"))


def test_expect_nothing_and_counters():
    h = make_harness()
    with pytest.raises(TranscriptMismatch, match="expected nothing, got ARP reply"):
        h.run([Receive(arp_frame(wire_arp.OP_REQUEST, PEER_MAC, PEER_IP, OUR_IP)), ExpectNothing()])
    with pytest.raises(TranscriptMismatch, match=r"expected counter arp.rx.request == 5, got 1"):
        h.run([ExpectCounter("arp.rx.request", 5)])
    with pytest.raises(TranscriptMismatch, match="expected ICMP echo reply, got nothing"):
        h.expect(icmp_echo_reply())
