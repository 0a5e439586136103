"""A hostile TCP peer, written with scapy, run by the kernel namespace's Python.

    python tcp_attacker.py IFACE STACK_MAC CASE [ARGS...]

It writes frames straight into the TAP (sendp), so they reach the stack exactly as a broken or
malicious host would send them, and it sniffs the TAP for what the stack answers. The kernel
itself must stay out of these conversations: the test adds an nftables rule that drops the RSTs
Linux would send for the attacker's source ports (40000-40999 and 20000-29999), which it
knows nothing about. It prints one JSON object, the stack's answers, for the test to judge.

Cases:
    before_handshake             ACK+data and flagless data to a listening and a closed port
    every_flag                   a SYN with all eight flags set
    bad_offsets                  SYNs whose data offset is below 5 words or past the segment
    overlap                      a handshake, then overlapping segments carrying different
                                 bytes, in order and out of order; the echo is collected
    rst_flood PORT COUNT         COUNT RSTs with random sequence numbers at the connection
                                 from 192.0.2.1:PORT to port 7, and as many at the listener
    syn_flood COUNT              COUNT SYNs to port 7 from random source ports
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time

from scapy.all import IP, TCP, AsyncSniffer, Ether, Raw, get_if_hwaddr, sendp

KERNEL_IP, STACK_IP = "192.0.2.1", "192.0.2.2"
ECHO_PORT, CLOSED_PORT = 7, 9
BARRIER_PORT = 40999  # the source port of the barrier probe (see Attacker.barrier)


class Attacker:
    def __init__(self, iface: str, stack_mac: str) -> None:
        self.iface = iface
        self.ether = Ether(dst=stack_mac, src=get_if_hwaddr(iface))
        self.answers: list = []
        self.arrived = threading.Condition()
        started = threading.Event()
        self.sniffer = AsyncSniffer(iface=iface, store=False, prn=self._keep,
                                    started_callback=started.set,
                                    lfilter=lambda p: IP in p and TCP in p and p[IP].src == STACK_IP)
        self.sniffer.start()
        if not started.wait(5):
            raise SystemExit("the sniffer did not start within 5 s")
        self._barriers = 0

    def _keep(self, packet) -> None:
        with self.arrived:
            self.answers.append(packet[TCP])
            self.arrived.notify_all()

    def send(self, *segments) -> None:
        sendp([self.ether / IP(src=KERNEL_IP, dst=STACK_IP) / s for s in segments],
              iface=self.iface, verbose=False)

    def wait_for(self, predicate, timeout: float):
        """The first answer for which predicate(tcp) holds, waiting at most `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for tcp in self.answers:
                    if predicate(tcp):
                        return tcp
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.arrived.wait(remaining)

    def barrier(self) -> None:
        """Wait until the stack has handled everything sent so far.

        A SYN to the closed port must be answered with a RST; the stack handles frames in
        order, so once that RST is here, any answer to an earlier frame would be here too.
        This is how a case waits for answers that must *not* come without sleeping."""
        self._barriers += 1
        seq = 990000 + self._barriers
        self.send(TCP(sport=BARRIER_PORT, dport=CLOSED_PORT, flags="S", seq=seq))
        rst = self.wait_for(lambda t: t.dport == BARRIER_PORT and t.flags.R and t.ack == seq + 1, 10)
        if rst is None:
            raise SystemExit("the stack did not answer the barrier SYN to a closed port in 10 s")

    def answers_to(self, sport: int) -> list[dict]:
        with self.arrived:
            return [describe(t) for t in self.answers if t.dport == sport]

    def stop(self) -> None:
        self.sniffer.stop()


def data_of(tcp) -> bytes:
    """The segment's data. Not just bytes(tcp.payload): a short frame's Ethernet padding
    would come along with it; the IP total length says where the segment ends."""
    ip = tcp.underlayer
    length = ip.len - ip.ihl * 4 - tcp.dataofs * 4
    return bytes(tcp.payload)[:length]


def describe(tcp) -> dict:
    return {"sport": tcp.sport, "dport": tcp.dport, "flags": str(tcp.flags), "seq": tcp.seq,
            "ack": tcp.ack, "len": len(data_of(tcp))}


def before_handshake(a: Attacker) -> dict:
    a.send(TCP(sport=40001, dport=ECHO_PORT, flags="PA", seq=1000, ack=5000) / Raw(b"early data"),
           TCP(sport=40002, dport=ECHO_PORT, flags="", seq=2000) / Raw(b"no flags at all"),
           TCP(sport=40003, dport=CLOSED_PORT, flags="PA", seq=3000, ack=7000) / Raw(b"early data"),
           TCP(sport=40004, dport=CLOSED_PORT, flags="", seq=4000) / Raw(b"no flags"))
    a.barrier()
    return {str(p): a.answers_to(p) for p in (40001, 40002, 40003, 40004)}


def every_flag(a: Attacker) -> dict:
    a.send(TCP(sport=40010, dport=ECHO_PORT, flags="FSRPAUEC", seq=10000, ack=1) / Raw(b"x"))
    a.barrier()
    return {"40010": a.answers_to(40010)}


def bad_offsets(a: Attacker) -> dict:
    a.send(TCP(sport=40020, dport=ECHO_PORT, flags="S", seq=20000, dataofs=2),
           TCP(sport=40021, dport=ECHO_PORT, flags="S", seq=21000, dataofs=15) / Raw(b"abcd"))
    a.barrier()
    return {str(p): a.answers_to(p) for p in (40020, 40021)}


# Where each piece sits in the stream (offset from the first data byte) and what it says.
# The stack must keep, for every byte, the first copy it received:
#   A 0..9 in order; B 5..14 repeats 5..9 with other bytes; then a hole at 15..24:
#   D 30..39 arrives first, E 25..44 overlaps it, C 15..29 fills the hole and overlaps E.
OVERLAP_PIECES = [(0, b"AAAAAAAAAA"), (5, b"BBBBBBBBBB"), (30, b"DDDDDDDDDD"),
                  (25, b"EEEEEEEEEEEEEEEEEEEE"), (15, b"CCCCCCCCCCCCCCC"), (0, b"ZZZZZZZZZZ")]
OVERLAP_EXPECTED = b"AAAAAAAAAA" + b"BBBBB" + b"CCCCCCCCCC" + b"EEEEE" + b"DDDDDDDDDD" + b"EEEEE"


def overlap(a: Attacker) -> dict:
    sport, isn = 40030, 300000
    a.send(TCP(sport=sport, dport=ECHO_PORT, flags="S", seq=isn, window=65535))
    synack = a.wait_for(lambda t: t.dport == sport and t.flags.S and t.flags.A, 3.0)
    if synack is None:
        return {"error": "no SYN-ACK", "answers": a.answers_to(sport)}
    ours, theirs = isn + 1, synack.seq + 1
    a.send(TCP(sport=sport, dport=ECHO_PORT, flags="A", seq=ours, ack=theirs, window=65535))
    # One sendp: the frames enter the TAP, and reach the stack, in this order.
    a.send(*[TCP(sport=sport, dport=ECHO_PORT, flags="PA", seq=ours + offset, ack=theirs,
                 window=65535) / Raw(piece) for offset, piece in OVERLAP_PIECES])
    expected = len(OVERLAP_EXPECTED)

    def echoed_so_far() -> bytes:
        # Reassemble the echo by sequence number; retransmissions simply overwrite the same
        # bytes, which is what they must be.
        stream = bytearray()
        with a.arrived:
            segments = [t for t in a.answers if t.dport == sport and data_of(t)]
        for t in segments:
            start = (t.seq - theirs) % (1 << 32)
            data = data_of(t)
            if start > len(stream):
                continue
            stream[start:start + len(data)] = data
        return bytes(stream)

    deadline = time.monotonic() + 5.0
    while len(echoed_so_far()) < expected and time.monotonic() < deadline:
        a.wait_for(lambda t: False, 0.1)
    echoed = echoed_so_far()
    acks = [t.ack for t in a.answers if t.dport == sport and t.flags.A]
    # Leave cleanly and at once: a RST exactly at the stack's rcv_nxt.
    a.send(TCP(sport=sport, dport=ECHO_PORT, flags="R", seq=ours + expected))
    a.barrier()
    return {"echoed": echoed.decode("latin-1"), "highest_ack": max(acks, default=0) - ours,
            "answers": len(a.answers_to(sport))}


def rst_flood(a: Attacker, port: int, count: int) -> dict:
    rng = random.Random(5961)
    to_connection = [TCP(sport=port, dport=ECHO_PORT, flags="R", seq=rng.getrandbits(32))
                     for _ in range(count)]
    to_listener = [TCP(sport=rng.randrange(40100, 40999), dport=ECHO_PORT, flags="R",
                       seq=rng.getrandbits(32)) for _ in range(count)]
    a.send(*to_connection, *to_listener)
    a.barrier()
    answers = a.answers_to(port)
    return {"sent": 2 * count, "challenge_acks": sum(1 for t in answers if t["flags"] == "A"),
            "rsts_from_stack": sum(1 for t in a.answers if t.flags.R and t.dport != BARRIER_PORT)}


def syn_flood(a: Attacker, count: int) -> dict:
    rng = random.Random(4987)
    ports = rng.sample(range(20000, 30000), count)  # one half-open connection each
    a.send(*[TCP(sport=port, dport=ECHO_PORT, flags="S", seq=rng.getrandbits(32), window=65535)
             for port in ports])
    a.barrier()
    with a.arrived:
        # Counted by port: the first SYN-ACKs are retransmitted (after 1 s) while we still send.
        answered = {t.dport for t in a.answers if t.flags.S and t.flags.A}
    return {"sent": count, "answered_ports": len(answered)}


def main() -> None:
    iface, stack_mac, case, *args = sys.argv[1:]
    attacker = Attacker(iface, stack_mac)
    try:
        cases = {"before_handshake": before_handshake, "every_flag": every_flag,
                 "bad_offsets": bad_offsets, "overlap": overlap, "rst_flood": rst_flood,
                 "syn_flood": syn_flood}
        result = cases[case](attacker, *map(int, args))
    finally:
        attacker.stop()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
