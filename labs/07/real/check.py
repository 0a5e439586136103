"""Lab 7's real-tool step (root): 1 MB from your sender to the Linux kernel at 0%, 2% and
10% loss, and a blackout that makes the retransmission timer back off.

The stack runs `netstack run --service tcp-chargen:19` with your units (LAB_IMPL_ARGS): it
sends RFC 864's pattern to whoever connects. A client in the kernel's namespace
(client.py) reads exactly 1 MB, hashes it and closes; the sha256 must be that of the
pattern's first megabyte. The loss is on the way in: nftables in the kernel's namespace
drops that share of the segments arriving from the stack, at random (`numgen random mod
100 < P`), so your sender must notice and resend them. Last, a 256 KB transfer in which the
client, after 64 KB, drops everything from the stack for 3.5 s: no ACK can come, so the
same segment goes out again at RTO, 2 RTO, 4 RTO... (RFC 6298 §5.5), which the capture
shows and verify.py finds again offline.
"""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from verify import transfers  # noqa: E402

from labs.kit.real import Evidence, RealBench, parse_report  # noqa: E402
from netstack.services.tcp_chargen import chargen_bytes  # noqa: E402

MB = 1 << 20
PORT = 19
TABLE = "lab7loss"
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client.py")


def loss_rules(stack_ip: str, percent: int) -> str:
    """Drop `percent`% of the TCP segments arriving from the stack (and count them)."""
    return f"""
table inet {TABLE} {{
    chain from_stack {{
        type filter hook input priority 0; policy accept;
        ip saddr {stack_ip} meta l4proto tcp numgen random mod 100 < {percent} counter drop
    }}
}}
"""


def transfer(bench: RealBench, evidence: Evidence, name: str, size: int, loss: int,
             blackout: bool = False) -> dict:
    bench.run("nft", "delete", "table", "inet", TABLE, timeout=10)  # the previous rules
    rules = bench.run("nft", "-f", "-", input=loss_rules(bench.stack_ip, loss), timeout=10)
    extra = ["--blackout-at", str(64 * 1024), "--blackout", "3.5"] if blackout else []
    client = bench.run(sys.executable, CLIENT, bench.stack_ip, str(PORT), str(size), *extra,
                       timeout=40)
    evidence.write_text(f"client-{name}.txt", client.stdout + client.stderr)
    report = parse_report(client.stdout)
    expected = hashlib.sha256(chargen_bytes(size)).hexdigest()
    run = {"name": name, "bytes": size, "loss_percent": loss, "blackout": blackout,
           "client_port": int(report.get("port", -1)), "expected_sha": expected,
           "received_sha": report.get("sha256"), "seconds": report.get("seconds")}
    evidence.check(f"{name}: {size} bytes arrived with chargen's sha256"
                   f" ({report.get('seconds', '?')} s)",
                   rules.returncode == 0 and client.returncode == 0
                   and report.get("received") == str(size) and report.get("sha256") == expected,
                   client.stdout + client.stderr + rules.stderr)
    return run


def main() -> int:
    evidence = Evidence(lab=7)
    evidence.extra["port"] = PORT
    runs = []
    with RealBench(evidence, "--service", f"tcp-chargen:{PORT}") as bench:
        for loss in (0, 2, 10):
            runs.append(transfer(bench, evidence, f"1 MB at {loss}% loss", MB, loss))
        runs.append(transfer(bench, evidence, "256 KB with a 3.5 s blackout", 256 * 1024, 0,
                             blackout=True))
        counters = bench.stop()
        evidence.write_text("counters.txt", "".join(f"{k} {v}\n" for k, v in
                                                    sorted(counters.items())))
        evidence.check(f"the stack retransmitted ({counters.get('tcp.tx.retransmits', 0)} "
                       f"segments, {counters.get('tcp.tx.timeout', 0)} timeouts)",
                       counters.get("tcp.tx.timeout", 0) > 0, "counters.txt")
    evidence.extra["runs"] = runs
    found = transfers(evidence.path("stack.pcap"), PORT)
    blackout = found.get(runs[-1]["client_port"])
    backoff = blackout.backoff() if blackout is not None else None
    detail = ("" if backoff is None else
              f"offset {backoff[0]}: gaps " + ", ".join(f"{g:.3f} s" for g in backoff[1]))
    evidence.extra["backoff"] = detail
    evidence.check(f"the capture shows the RTO backing off ({detail or 'not found'})",
                   backoff is not None, detail)
    for run in runs[1:3]:
        lossy = found.get(run["client_port"])
        count = lossy.retransmissions if lossy is not None else 0
        evidence.check(f"{run['name']}: the capture shows {count} retransmissions",
                       count > 0, "")
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
