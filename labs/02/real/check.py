"""Lab 2's real-tool step (root): your ARP against the Linux kernel's, and arping.

1. the kernel (192.0.2.1) pings the stack (192.0.2.2) three times: to send the first echo
   request the kernel must ARP for the stack, and to reply the stack must ARP for the
   kernel (or learn it from the kernel's request);
2. `ip neigh show dev TAP`: the kernel's neighbour table has the stack's MAC for 192.0.2.2;
3. `arping -c 3 -w 5 -I TAP 192.0.2.2`: three ARP requests, three replies;
4. the stack's counters (arp.rx.request, arp.tx.reply).
Every file written goes into the evidence folder with its sha256; verify.py re-reads
stack.pcap offline to confirm the replies came from the stack's MAC.
"""

from __future__ import annotations

import json
import re
import sys


def main() -> int:
    from labs.kit.real import Evidence
    from netstack.netns import NamespaceError

    evidence = Evidence(lab=2)
    try:
        return run(evidence)
    except NamespaceError as exc:
        # A stack that crashes before it is ready (the starter raises in `announce`, which
        # runs at start) fails this check with its traceback, instead of leaving no evidence.
        evidence.check("the stack started (it sends its gratuitous ARP at start)", False,
                       str(exc))
        return evidence.save()


def run(evidence) -> int:
    from labs.kit.real import RealBench

    with RealBench(evidence) as bench:
        ping = bench.run("ping", "-c", "3", "-i", "0.3", "-W", "3", bench.stack_ip, timeout=30)
        evidence.write_text("ping.txt", ping.stdout + ping.stderr)
        evidence.check("kernel -> stack: ping, 3 of 3 replies (ARP resolved both ways)",
                       ping.returncode == 0 and " 0% packet loss" in ping.stdout,
                       ping.stdout + ping.stderr)

        neigh = bench.run("ip", "neigh", "show", "dev", bench.tap, timeout=10)
        evidence.write_text("ip-neigh.txt", neigh.stdout + neigh.stderr)
        entry = re.search(rf"^{re.escape(bench.stack_ip)} lladdr (\S+)", neigh.stdout, re.M)
        evidence.check(f"ip neigh: the kernel has {bench.stack_ip} at the stack's MAC "
                       f"{bench.mac}", entry is not None and entry[1].lower() == bench.mac,
                       neigh.stdout + neigh.stderr)

        arping = bench.run("arping", "-c", "3", "-w", "5", "-I", bench.tap, bench.stack_ip,
                           timeout=20)
        evidence.write_text("arping.txt", arping.stdout + arping.stderr)
        replies = re.findall(r"^\d+ bytes from (\S+) \(" + re.escape(bench.stack_ip) + r"\)",
                             arping.stdout, re.M)
        evidence.check(f"arping -c 3 {bench.stack_ip}: 3 replies from {bench.mac}",
                       arping.returncode == 0 and len(replies) == 3
                       and all(mac.lower() == bench.mac for mac in replies),
                       arping.stdout + arping.stderr)

        counters = bench.stop()
        evidence.extra["counters"] = {k: v for k, v in counters.items() if k.startswith("arp.")}
        evidence.write_text("counters.json", json.dumps(evidence.extra["counters"], indent=2,
                                                        sort_keys=True) + "\n")
        evidence.check("the stack counted the ARP requests it received and its replies "
                       "(arp.rx.request >= 4, arp.tx.reply >= 4)",
                       counters.get("arp.rx.request", 0) >= 4
                       and counters.get("arp.tx.reply", 0) >= 4,
                       json.dumps(evidence.extra["counters"]))
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
