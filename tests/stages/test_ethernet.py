"""The Ethernet stage: what it accepts, what it drops (and counts), what it gives to KNI."""

from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether

from netstack.testing import arp_reply, gratuitous_arp, icmp_echo_reply

from .common import OUR_IP, OUR_MAC, OUR_MAC_STR, PEER_IP, PEER_MAC_STR, make_harness


def ping_frame(dst_mac=OUR_MAC_STR, seq=1, size=8):
    return bytes(
        Ether(dst=dst_mac, src=PEER_MAC_STR)
        / IP(src=str(PEER_IP), dst=str(OUR_IP))
        / ICMP(id=7, seq=seq)
        / (b"p" * size)
    )


def test_unicast_to_us_is_handled():
    h = make_harness(peer_known=True)
    h.receive(ping_frame())
    h.expect(icmp_echo_reply(dst=PEER_IP, sequence=1))
    h.expect_counter("eth.rx.ipv4", 1)


def test_broadcast_arp_is_handled():
    h = make_harness()
    h.receive(
        bytes(
            Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC_STR)
            / ARP(op=1, hwsrc=PEER_MAC_STR, psrc=str(PEER_IP), pdst=str(OUR_IP))
        )
    )
    h.expect(arp_reply(sender_ip=OUR_IP, sender_mac=OUR_MAC))


def test_unicast_for_someone_else_is_dropped():
    h = make_harness(peer_known=True)
    h.receive(ping_frame(dst_mac="02:00:00:00:00:99"))
    h.expect_nothing()
    h.expect_counter("eth.drop.not_for_us", 1)


def test_truncated_frame_is_counted_by_its_reason():
    h = make_harness()
    h.receive(b"\x02\x00\x00", note="a 3-byte runt")
    h.expect_nothing()
    h.expect_counter("eth.drop.truncated", 1)


def test_802_3_length_frame_is_counted():
    h = make_harness()
    h.receive(bytes.fromhex("020000000002020000000001002e") + bytes(46), note="802.3 length")
    h.expect_counter("eth.drop.not_ethernet_ii", 1)


def test_oversized_frame_is_dropped():
    h = make_harness(peer_known=True, mtu=1000)
    h.receive(ping_frame(size=1000 - 28 + 1))  # one byte more than the MTU allows
    h.expect_nothing()
    h.expect_counter("eth.drop.oversized", 1)
    h.receive(ping_frame(size=1000 - 28))  # exactly the MTU is fine
    h.expect(icmp_echo_reply())


def test_vlan_tagged_frames_are_dropped():
    h = make_harness(peer_known=True)
    frame = bytes(
        Ether(dst=OUR_MAC_STR, src=PEER_MAC_STR)
        / Dot1Q(vlan=10)
        / IP(src=str(PEER_IP), dst=str(OUR_IP))
        / ICMP()
    )
    h.receive(frame)
    h.expect_nothing()
    h.expect_counter("eth.drop.vlan", 1)


def ipv6_ns_frame():
    # Neighbour solicitation to a solicited-node multicast address: what IPv6 needs KNI for.
    return bytes(
        Ether(dst="33:33:ff:00:00:02", src=PEER_MAC_STR)
        / IPv6(src="2001:db8::1", dst="ff02::1:ff00:2")
        / ICMPv6ND_NS(tgt="2001:db8::2")
    )


def test_multicast_and_ipv6_go_to_kni_when_it_is_on():
    h = make_harness(kni=True)
    frame = ipv6_ns_frame()
    h.receive(frame)
    h.expect_nothing()
    h.expect_kni(frame)
    unicast_v6 = bytes(
        Ether(dst=OUR_MAC_STR, src=PEER_MAC_STR) / IPv6(src="2001:db8::1", dst="2001:db8::2")
    )
    h.receive(unicast_v6)
    h.expect_kni(unicast_v6)
    h.expect_counter("kni.to_kernel", 2)


def test_with_kni_arp_replies_are_copied_to_the_kernel_and_requests_are_not():
    """The kernel behind KNI shares our MAC: the replies to its ARP requests arrive here."""
    h = make_harness(kni=True)
    request = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC_STR)
                    / ARP(op=1, hwsrc=PEER_MAC_STR, psrc=str(PEER_IP), pdst=str(OUR_IP)))
    h.receive(request)
    h.expect(arp_reply())  # the stack answers requests itself...
    h.expect_no_kni()  # ...and the kernel, which would answer the same, never sees them
    reply = bytes(Ether(dst=OUR_MAC_STR, src=PEER_MAC_STR)
                  / ARP(op=2, hwsrc=PEER_MAC_STR, psrc=str(PEER_IP), hwdst=OUR_MAC_STR,
                        pdst=str(OUR_IP)))
    h.receive(reply)
    h.expect_kni(reply)
    h.expect_counter("arp.rx.reply", 1)  # the stack learns from it too


def test_without_kni_multicast_and_unknown_ethertypes_are_counted_drops():
    h = make_harness()
    h.receive(ipv6_ns_frame())
    h.receive(bytes(Ether(dst=OUR_MAC_STR, src=PEER_MAC_STR, type=0x88B5) / (b"x" * 46)))
    h.expect_no_kni()
    h.expect_counter("eth.drop.multicast", 1)
    h.expect_counter("eth.drop.unknown_ethertype", 1)


def test_kni_copy_outlives_the_callers_buffer():
    h = make_harness(kni=True)
    buffer = bytearray(ipv6_ns_frame())
    h.stack.receive(buffer, 0.0)
    original = bytes(buffer)
    buffer[:] = bytes(len(buffer))  # the engine reuses its receive buffer
    assert h.stack.to_kni.popleft() == original


def test_short_frames_are_padded_to_60_bytes():
    h = make_harness()
    h.start()
    frame = h.expect(gratuitous_arp(OUR_IP))
    assert len(frame) == 60


def ssh_frame():
    from scapy.layers.inet import TCP

    return bytes(Ether(dst=OUR_MAC_STR, src=PEER_MAC_STR)
                 / IP(src=str(PEER_IP), dst=str(OUR_IP)) / TCP(sport=40000, dport=22, flags="S"))


def test_kni_modes_steer_each_kind_of_frame(tmp_path=None):
    """netstack kni (F-Stack's knictl): default leaves port 22 to the kernel and answers
    pings; all-to-kernel gives it every IPv4 frame and a copy of all ARP; all-to-stack
    sends it nothing, as if there were no KNI device (port 22 is then the stack's: RST)."""
    import dataclasses

    from netstack.ctl.tunables import steer_kni

    h = make_harness(kni=True, kni_tcp_ports=frozenset({22}), peer_known=True)
    h.receive(ssh_frame())
    h.expect_kni(ssh_frame())
    h.expect_nothing()
    h.receive(ping_frame())
    h.expect(icmp_echo_reply(dst=PEER_IP, sequence=1))
    h.expect_no_kni()

    h.stack.config = dataclasses.replace(h.stack.config, kni_mode="all-to-kernel")
    steer_kni(h.stack, "all-to-kernel")
    h.receive(ping_frame(seq=2))
    h.expect_kni(ping_frame(seq=2))
    h.expect_nothing()
    request = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC_STR)
                    / ARP(op=1, hwsrc=PEER_MAC_STR, psrc=str(PEER_IP), pdst=str(OUR_IP)))
    h.receive(request)
    h.expect_kni(request)
    h.expect(arp_reply())  # and the stack still answers for its address

    h.stack.config = dataclasses.replace(h.stack.config, kni_mode="all-to-stack")
    steer_kni(h.stack, "all-to-stack")
    h.receive(ssh_frame())
    h.expect_no_kni()
    h.expect_counter("tcp.drop.no_socket", 1)  # the stack's now: answered with a RST
    h.receive(ipv6_ns_frame())
    h.expect_no_kni()
    h.expect_counter("eth.drop.multicast", 1)

    h.stack.config = dataclasses.replace(h.stack.config, kni_mode="default")
    steer_kni(h.stack, "default")
    h.receive(ssh_frame())
    h.expect_kni(ssh_frame())
