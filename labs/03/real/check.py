"""Lab 3's real-tool step (root): the kernel pings the stack, and hears a port unreachable.

In one namespace whose kernel is 192.0.2.1 on the stack's TAP (labs.kit.real.RealBench),
the stack (with the student's ipv4 and icmp units) at 192.0.2.2:

1. `ping -c 200 -i 0.01 -W 2 192.0.2.2`: 200 echo requests in two seconds; every one must
   be answered (0% packet loss): the student's IPv4 input, ICMP echo, IPv4 output.
2. a UDP socket of the kernel's (Python, in the namespace) connects to 192.0.2.2 port 9,
   where nobody listens, sends, and waits for an answer: the kernel turns the stack's ICMP
   port unreachable into ECONNREFUSED on the socket (ConnectionRefusedError), which only
   happens if the error is well-formed and quotes the datagram the socket sent.

Evidence: stack.pcap, ping.txt, udp.txt, the stack's counters; real/verify.py re-reads the
capture offline.
"""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)

PINGS = 200
CLOSED_PORT = 9

# Run by the kernel's Python inside the namespace: one datagram to a closed port.
UDP_PROBE = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3.0)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"lab 3: is anyone listening?")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("ConnectionRefusedError")
except socket.timeout:
    print("timeout")
"""


def main() -> int:
    from labs.kit.real import Evidence, RealBench

    evidence = Evidence(lab=3)
    with RealBench(evidence, "--gateway", "192.0.2.1") as bench:
        ping = bench.run("ping", "-c", str(PINGS), "-i", "0.01", "-W", "2", bench.stack_ip,
                         timeout=60)
        evidence.write_text("ping.txt", ping.stdout + ping.stderr)
        evidence.check(f"kernel -> stack: ping -c {PINGS} -i 0.01, 0% packet loss",
                       ping.returncode == 0 and " 0% packet loss" in ping.stdout,
                       ping.stdout.strip().splitlines()[-2] if ping.stdout.strip() else
                       ping.stderr.strip())

        udp = bench.run(sys.executable, "-c", UDP_PROBE, bench.stack_ip, str(CLOSED_PORT),
                        timeout=15)
        evidence.write_text("udp.txt", udp.stdout + udp.stderr)
        evidence.check(f"kernel UDP socket to port {CLOSED_PORT}: ConnectionRefusedError "
                       "(the kernel accepted the stack's port unreachable)",
                       udp.stdout.strip() == "ConnectionRefusedError",
                       (udp.stdout + udp.stderr).strip())

        counters = bench.stop()
        evidence.extra["counters"] = {k: v for k, v in counters.items()
                                      if k.startswith(("ipv4.", "icmp."))}
        evidence.check("the stack's counters show the echo replies and the unreachable",
                       counters.get("icmp.tx.echo_reply", 0) >= PINGS
                       and counters.get("icmp.tx.dest_unreachable", 0) >= 1,
                       json.dumps(evidence.extra["counters"]))
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
