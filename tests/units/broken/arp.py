"""A deliberately broken ARP unit: it answers requests for our address with a MAC one off
from ours, the kind of slip a student makes. Its own tests must catch it, and their
transcript must point at the reply:

    pytest tests/stages/test_arp.py --impl arp=tests.units.broken.arp:WrongMacArp
"""

import dataclasses

from netstack.stages.arp import ArpStage
from netstack.wire import arp as wire_arp


class WrongMacArp(ArpStage):
    def _send_arp(self, dst_mac: bytes, pkt: wire_arp.ArpPacket) -> bool:
        if pkt.op == wire_arp.OP_REPLY:
            wrong = pkt.sender_mac[:5] + bytes([pkt.sender_mac[5] ^ 1])
            pkt = dataclasses.replace(pkt, sender_mac=wrong)
        return super()._send_arp(dst_mac, pkt)
