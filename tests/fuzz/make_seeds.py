"""Build the seed corpora of the fuzz harnesses with scapy (valid traffic of every kind):

    PYTHONPATH=$PWD python tests/fuzz/make_seeds.py

writes tests/fuzz/corpus/{receive,codecs,calls}/ (small files, checked in). Rerun it when the
fuzz world (netstack/fuzz/world.py) changes its addresses, ports or sequence numbers."""

from __future__ import annotations

import shutil

from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.l2 import ARP, Dot1Q, Ether

from netstack.fuzz import calls
from netstack.fuzz.codecs import CODECS
from netstack.fuzz.corpus import seed_dir, write_input
from netstack.fuzz.framing import FIX_CHECKSUMS, join
from netstack.fuzz.world import (
    PEER_IP,
    PEER_ISN,
    PEER_MAC,
    PEER_PORT,
    STACK_IP,
    STACK_ISN,
    STACK_MAC,
    TCP_PORT,
    UDP_PORT,
)

OTHER_MAC = "02:00:00:00:00:03"
PEER, STACK = str(PEER_IP), str(STACK_IP)
PEER_MAC_TEXT = ":".join(f"{b:02x}" for b in PEER_MAC)
STACK_MAC_TEXT = ":".join(f"{b:02x}" for b in STACK_MAC)
TS = ("Timestamp", (100, 1))
SEQ = PEER_ISN + 1  # the established connection's next peer sequence number
ACK = STACK_ISN + 1


def ether(packet, src: str = PEER_MAC_TEXT):
    return bytes(Ether(src=src, dst=STACK_MAC_TEXT) / packet)


def tcp(flags: str, seq: int = SEQ, ack: int = ACK, data: bytes = b"", options=(TS,),
        sport: int = PEER_PORT, window: int = 502) -> bytes:
    segment = TCP(sport=sport, dport=TCP_PORT, flags=flags, seq=seq, ack=ack, window=window,
                  options=list(options))
    return ether(IP(src=PEER, dst=STACK) / segment / data)


def receive_seeds() -> dict[str, list[bytes]]:
    """Named inputs, each a short exchange (one to a few frames)."""
    arp_request = ether(ARP(op=1, hwsrc=OTHER_MAC, psrc="192.0.2.3", pdst=STACK), OTHER_MAC)
    arp_reply = ether(ARP(op=2, hwsrc=OTHER_MAC, psrc="192.0.2.3", hwdst=STACK_MAC_TEXT,
                          pdst=STACK), OTHER_MAC)
    big = IP(src=PEER, dst=STACK, id=7) / UDP(sport=5353, dport=UDP_PORT) / (b"x" * 3000)
    fragments = [ether(f) for f in fragment(big, fragsize=1200)]
    our_segment = IP(src=STACK, dst=PEER) / TCP(sport=TCP_PORT, dport=PEER_PORT, seq=ACK)
    return {
        "arp": [arp_request, arp_reply],
        "arp-vlan": [bytes(Ether(src=OTHER_MAC, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=5)
                           / ARP(op=1, hwsrc=OTHER_MAC, psrc="192.0.2.3", pdst=STACK))],
        "icmp-echo": [ether(IP(src=PEER, dst=STACK) / ICMP(type=8, id=3, seq=1) / b"ping")],
        "icmp-unreachable": [ether(IP(src=PEER, dst=STACK) / ICMP(type=3, code=4, nexthopmtu=576)
                                   / bytes(our_segment)[:28])],
        "udp": [ether(IP(src=PEER, dst=STACK) / UDP(sport=5353, dport=UDP_PORT) / b"hello")],
        "udp-closed-port": [ether(IP(src=PEER, dst=STACK) / UDP(sport=5353, dport=9) / b"x")],
        "fragments": fragments,
        "fragments-reordered": fragments[::-1],
        "tcp-new-syn": [tcp("S", seq=77, ack=0, sport=40001,
                            options=[("MSS", 1460), ("SAckOK", b""), TS, ("NOP", None),
                                     ("WScale", 7)])],
        "tcp-handshake": [tcp("S", seq=77, ack=0, sport=40002, options=[("MSS", 536)]),
                          tcp("A", seq=78, ack=STACK_ISN + 1, sport=40002, options=())],
        "tcp-data": [tcp("PA", data=b"GET / HTTP/1.0\r\n\r\n"),
                     tcp("PA", seq=SEQ + 18, data=b"more")],
        "tcp-out-of-order": [tcp("PA", seq=SEQ + 100, data=b"later"),
                             tcp("PA", seq=SEQ + 300, data=b"later still"),
                             tcp("PA", seq=SEQ, data=b"a" * 100)],
        "tcp-sack": [tcp("A", options=[("NOP", None), ("NOP", None), TS,
                                       ("SAck", (ACK + 10, ACK + 20))])],
        "tcp-zero-window": [tcp("A", window=0), tcp("A", window=502)],
        "tcp-fin": [tcp("FA"), tcp("A", seq=SEQ + 1, ack=ACK + 1)],
        "tcp-rst": [tcp("R", ack=0, options=())],
        "tcp-rst-out-of-window": [tcp("R", seq=SEQ + 10_000_000, ack=0, options=())],
        "tcp-syn-in-window": [tcp("S", ack=0)],
        "tcp-old-ack": [tcp("A", ack=ACK - 1000)],
        "tcp-urgent": [bytes(Ether(src=PEER_MAC_TEXT, dst=STACK_MAC_TEXT) / IP(src=PEER, dst=STACK)
                             / TCP(sport=PEER_PORT, dport=TCP_PORT, flags="UA", seq=SEQ, ack=ACK,
                                   urgptr=1) / b"!")],
    }


def write_receive() -> int:
    directory = seed_dir("receive")
    shutil.rmtree(directory, ignore_errors=True)
    count = 0
    for frames in receive_seeds().values():
        gaps = [0.0] + [0.01] * (len(frames) - 1)
        for flags in (0, FIX_CHECKSUMS):
            write_input(directory, join(list(zip(gaps, frames, strict=True)), flags))
            count += 1
    return count


def write_codecs() -> int:
    """For each codec, the layer it decodes cut out of the receive seeds' frames."""
    directory = seed_dir("codecs")
    shutil.rmtree(directory, ignore_errors=True)
    index = {codec.__name__: number for number, codec in enumerate(CODECS)}
    samples = {name: set() for name in index}
    for frames in receive_seeds().values():
        for frame in frames:
            samples["ethernet_round_trip"].add(frame)
            packet = Ether(frame)
            if ARP in packet:
                samples["arp_round_trip"].add(bytes(packet[ARP]))
            if IP in packet:
                samples["ipv4_round_trip"].add(bytes(packet[IP]))
            for layer, name in ((ICMP, "icmp"), (UDP, "udp"), (TCP, "tcp")):
                if layer in packet and packet[IP].frag == 0 and not packet[IP].flags.MF:
                    samples[f"{name}_round_trip"].add(bytes(packet[layer]))
            if TCP in packet:
                raw = bytes(packet[TCP])
                samples["tcp_options_round_trip"].add(raw[20 : (raw[12] >> 4) * 4])
    dns_reply = bytes.fromhex(
        "1234818000010001000000000378797a00000100010378797a000001000100000e100004c0000201")
    samples["dns_reply"].add(dns_reply)
    count = 0
    for name, blobs in samples.items():
        for blob in sorted(blobs):
            write_input(directory, bytes([index[name]]) + blob)
            count += 1
    return count


def write_calls() -> int:
    directory = seed_dir("calls")
    shutil.rmtree(directory, ignore_errors=True)
    for program in calls.SEED_PROGRAMS:
        write_input(directory, program)
    return len(calls.SEED_PROGRAMS)


if __name__ == "__main__":
    print(f"receive: {write_receive()} seeds")
    print(f"codecs: {write_codecs()} seeds")
    print(f"calls: {write_calls()} seeds")
