"""Lab 6's real-tool step (root): 1 MB from the Linux kernel to your receiver, through 5%
loss, and back unchanged.

The stack runs `netstack run --service tcp-echo:7` with your units (LAB_IMPL_ARGS). The
client is a second namespace, 198.51.100.2, behind the bench's kernel namespace, which
routes between it (a veth pair, 198.51.100.1) and the stack (the TAP, 192.0.2.1): the loss
must happen on the path, where the sending kernel cannot see it. (A packet its own output
hook drops, Linux's TCP knows was never sent and sends again at once: no hole ever reaches
the receiver.) So in the router, nftables drops 5% of the TCP segments forwarded to the
stack, chosen at random (`numgen random mod 100 < 5`); the client's kernel sends one MSS per
packet, so "5%" means 5% of segments. The client sends 1 MB of known bytes to the echo
service and reads the echo to the end. Your receiver had to put the
kernel's stream back together around the holes; the echo (sent by the reference sender)
carries what it delivered back to the kernel, and the two sha256 values must be equal.

Evidence: stack.pcap (every frame at the stack), client.txt (the client's report),
nft.txt (the drop counter), counters.txt... `verify.py` re-reads the pcap offline.
"""

from __future__ import annotations

import json
import subprocess
import sys

from labs.kit.real import Evidence, RealBench
from netstack.bench.tcp_kernel import ECHO_CLIENT, one_segment_per_packet
from netstack.netns import Namespace, unique_name

MB = 1 << 20
PORT = 7
LOSS_PERCENT = 5
SEED = 6  # the client's bytes: random.Random(SEED).randbytes(MB)
TABLE = "lab6loss"
ROUTER_IP, CLIENT_IP = "198.51.100.1", "198.51.100.2"


def drop_rules(stack_ip: str, percent: int) -> str:
    """Drop `percent`% of the TCP segments the kernel sends to the stack (and count them)."""
    return f"""
table inet {TABLE} {{
    chain to_stack {{
        type filter hook forward priority 0; policy accept;
        ip daddr {stack_ip} meta l4proto tcp numgen random mod 100 < {percent} counter drop
    }}
}}
"""


def dropped(listing: str) -> int:
    total = 0
    for item in json.loads(listing).get("nftables", []):
        for expr in (item.get("rule") or {}).get("expr", []):
            if "counter" in expr:
                total += expr["counter"]["packets"]
    return total


def attach_client(bench: RealBench, client: Namespace) -> str:
    """A veth pair from the bench's namespace (the router) to the client's; routes both ways."""
    outer, inner = unique_name("lr"), unique_name("lc")
    subprocess.run(["ip", "-n", bench.ns.name, "link", "add", outer, "type", "veth", "peer",
                    "name", inner, "netns", client.name], check=True, timeout=10,
                   capture_output=True)
    bench.ns.add_address(outer, f"{ROUTER_IP}/24")
    bench.ns.link_up(outer)
    bench.ns.sysctl("net.ipv4.ip_forward", "1")
    client.add_address(inner, f"{CLIENT_IP}/24")
    client.link_up(inner)
    client.run(["ip", "route", "add", "default", "via", ROUTER_IP])
    one_segment_per_packet(client, inner)
    return inner


def parse_report(text: str) -> dict[str, str]:
    for line in text.splitlines():
        if line.startswith("result "):
            return dict(part.split("=", 1) for part in line.split()[1:])
    return {}


def _run_in(ns: Namespace, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """A command in `ns`; a timeout is a failed check, never an exception."""
    try:
        return subprocess.run(["ip", "netns", "exec", ns.name, *cmd], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:g} s")


def main() -> int:
    evidence = Evidence(lab=6)
    evidence.extra.update({"transfer_bytes": MB, "loss_percent": LOSS_PERCENT, "port": PORT})
    with RealBench(evidence, "--service", f"tcp-echo:{PORT}", "--gateway",
                   "192.0.2.1") as bench, Namespace("nsl6c") as client_ns:
        attach_client(bench, client_ns)
        rules = bench.run("nft", "-f", "-", input=drop_rules(bench.stack_ip, LOSS_PERCENT),
                          timeout=10)
        evidence.check("nftables drops 5% of the segments forwarded to the stack",
                       rules.returncode == 0, rules.stderr)
        client = _run_in(client_ns, [sys.executable, "-c", ECHO_CLIENT, bench.stack_ip,
                                     str(PORT), str(MB), str(SEED)], timeout=50)
        evidence.write_text("client.txt", client.stdout + client.stderr)
        report = parse_report(client.stdout)
        evidence.extra["client"] = report
        evidence.check("the client sent 1 MB and read the echo to its end",
                       client.returncode == 0 and report.get("received") == str(MB),
                       client.stdout + client.stderr)
        evidence.check("sha256 of the echo equals sha256 of what was sent",
                       bool(report) and report.get("sent_sha") == report.get("received_sha"),
                       f"sent {report.get('sent_sha')} received {report.get('received_sha')}")
        listing = bench.run("nft", "-j", "list", "table", "inet", TABLE, timeout=10)
        evidence.write_text("nft.txt", listing.stdout + listing.stderr)
        count = dropped(listing.stdout) if listing.returncode == 0 else 0
        evidence.extra["dropped_segments"] = count
        evidence.check(f"nftables dropped segments on the way ({count})", count > 0,
                       listing.stdout[-500:])
        counters = bench.stop()
        evidence.write_text("counters.txt", "".join(f"{k} {v}\n" for k, v in
                                                    sorted(counters.items())))
        out_of_order = counters.get("tcp.rx.out_of_order", 0)
        evidence.check(f"the receiver held out-of-order segments ({out_of_order})",
                       out_of_order > 0, "tcp.rx.out_of_order in counters.txt")
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
