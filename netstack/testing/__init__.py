"""Transcript tests for sans-I/O stages, in the manner of CS144's step harness.

A test is a list of steps: feed this frame, expect that frame out, advance the clock, expect
nothing, check a counter. The harness runs them in order against a `Stack` with a virtual
clock. When a step fails it prints every step so far, then the first mismatch in words:

    transcript (stack 192.0.2.2/24, immediate mode):
      1. t=0.000  receive   ARP request who-has 192.0.2.2 tell 192.0.2.1 (02:00:00:00:00:01)
      2. t=0.000  sent      ARP reply 192.0.2.2 is-at 02:00:00:00:00:02 (to 192.0.2.1)
    step 3 failed at t=0.000:
      expected ICMP echo reply seq=1, got ARP request who-has 192.0.2.9 tell 192.0.2.2

Steps can be given as a list to `Harness.run([...])`, or called one by one as methods
(`h.receive(frame)`, `h.expect(icmp_echo_reply(sequence=1))`): both log the same transcript.
`Harness(stack, mode="pass")` drives the stack as the engine does (a pass per frame, ACKs
at the end of the pass); a `Burst` step is one pass of several frames in either mode.
Labs reuse this package to grade a student's stage with the same tests as ours.

    frames.py    decode and describe frames; build frames to feed in
    matchers.py  what a test expects to see sent (arp_reply, icmp_echo_reply, ...)
    harness.py   the steps and the Harness that runs them, in "immediate" or "pass" mode
    tcp.py       TCP segments in and out, and TcpPeer, a test playing one connection's peer
"""

from netstack.testing.frames import (
    TranscriptMismatch,
    arp_frame,
    decode,
    describe_frame,
    ethernet_frame,
    icmp_echo_frame,
    ipv4_frame,
    join_fragments,
)
from netstack.testing.harness import (
    MODES,
    Advance,
    Burst,
    Call,
    Expect,
    ExpectCounter,
    ExpectKni,
    ExpectNoKni,
    ExpectNothing,
    ExpectReassembled,
    Harness,
    Receive,
    Start,
    Step,
)
from netstack.testing.matchers import (
    FrameMatcher,
    any_frame,
    arp_reply,
    arp_request,
    gratuitous_arp,
    icmp_echo_reply,
    icmp_echo_request,
    icmp_message,
    icmp_time_exceeded,
    icmp_unreachable,
    ipv4_packet,
)
from netstack.testing.tcp import (
    ExpectSegment,
    SendBurst,
    SendSegment,
    TcpPeer,
    TcpSegment,
    TcpSegmentMatcher,
    decode_tcp,
    describe_tcp_frame,
    tcp_frame,
    tcp_segment,
)

__all__ = [
    "MODES",
    "Advance",
    "Burst",
    "Call",
    "Expect",
    "ExpectCounter",
    "ExpectKni",
    "ExpectNoKni",
    "ExpectNothing",
    "ExpectReassembled",
    "ExpectSegment",
    "FrameMatcher",
    "Harness",
    "Receive",
    "SendBurst",
    "SendSegment",
    "Start",
    "Step",
    "TcpPeer",
    "TcpSegment",
    "TcpSegmentMatcher",
    "TranscriptMismatch",
    "any_frame",
    "arp_frame",
    "arp_reply",
    "arp_request",
    "decode",
    "decode_tcp",
    "describe_frame",
    "describe_tcp_frame",
    "ethernet_frame",
    "gratuitous_arp",
    "icmp_echo_frame",
    "icmp_echo_reply",
    "icmp_echo_request",
    "icmp_message",
    "icmp_time_exceeded",
    "icmp_unreachable",
    "ipv4_frame",
    "ipv4_packet",
    "join_fragments",
    "tcp_frame",
    "tcp_segment",
]
