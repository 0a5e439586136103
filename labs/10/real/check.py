"""Lab 10's real-tool step (root): your whole stack and the Linux kernel, a megabyte each way.

The stack is `netstack run --service tcp-chargen:19 --service tcp-echo:7` built with every
unit you wrote (LAB_IMPL_ARGS, from `netstack lab real 10 --impl all-student`). In the
kernel's namespace, client.py:
- reads 1 MB from chargen (yours -> kernel) and checks chargen's sha256;
- sends 1 MB to the echo service while reading it back (kernel -> yours -> kernel): what
  comes back must have the sha256 of what was sent.
Each is done on a clean path and through 2% nftables loss each way (`numgen random mod 100
< 2`, on the segments from the stack and on those to it). evidence.json lists the runs
(direction, seconds, sha256 values, retransmissions seen in the capture) and
measurements.md is the table your measure.py makes of them (the reference's if your
folder has none), for your writeup. verify.py re-reads every stream from the capture.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from client import pattern  # noqa: E402
from verify import streams  # noqa: E402

from labs.kit.real import Evidence, RealBench, parse_report  # noqa: E402
from netstack.services.tcp_chargen import chargen_bytes  # noqa: E402

MB = 1 << 20
CHARGEN, ECHO = 19, 7
TABLE = "lab10loss"
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client.py")


def loss_rules(stack_ip: str, percent: int) -> str:
    return f"""
table inet {TABLE} {{
    chain from_stack {{
        type filter hook input priority 0; policy accept;
        ip saddr {stack_ip} meta l4proto tcp numgen random mod 100 < {percent} counter drop
    }}
    chain to_stack {{
        type filter hook output priority 0; policy accept;
        ip daddr {stack_ip} meta l4proto tcp numgen random mod 100 < {percent} counter drop
    }}
}}
"""


def one_run(bench: RealBench, evidence: Evidence, service: str, loss: int) -> dict:
    port = CHARGEN if service == "chargen" else ECHO
    direction = "yours -> kernel" if service == "chargen" else "kernel -> yours -> kernel"
    name = f"{direction}, 1 MB at {loss}% loss"
    bench.run("nft", "delete", "table", "inet", TABLE, timeout=10)  # the previous rules
    rules = bench.run("nft", "-f", "-", input=loss_rules(bench.stack_ip, loss), timeout=10)
    mode = "read" if service == "chargen" else "echo"
    client = bench.run(sys.executable, CLIENT, mode, bench.stack_ip, str(port), str(MB),
                       timeout=45)
    slug = f"{service}-{loss}"
    evidence.write_text(f"client-{slug}.txt", client.stdout + client.stderr)
    report = parse_report(client.stdout)
    expected = hashlib.sha256(chargen_bytes(MB) if service == "chargen" else pattern(MB)).hexdigest()
    run = {"name": name, "direction": direction, "service": service, "service_port": port,
           "loss_percent": loss, "bytes": MB, "client_port": int(report.get("port", -1)),
           "seconds": float(report.get("seconds", 0) or 0), "expected_sha": expected,
           "received_sha": report.get("sha256")}
    evidence.check(f"{name}: sha256 equal ({report.get('seconds', '?')} s)",
                   rules.returncode == 0 and client.returncode == 0
                   and report.get("received") == str(MB) and report.get("sha256") == expected,
                   client.stdout + client.stderr + rules.stderr)
    return run


def measurement_table(evidence: dict) -> str:
    """measure.py's table: the student's module if the folder has one, else the reference."""
    try:
        module = importlib.import_module("measure")
    except ImportError:
        module = importlib.import_module("labs.reference.capstone_measure")
    try:
        return f"<!-- made by {module.__file__} -->\n{module.table(evidence)}\n"
    except Exception as exc:  # the student's module: its failure goes in the evidence
        return f"measure.py failed: {type(exc).__name__}: {exc}\n"


def main() -> int:
    evidence = Evidence(lab=10)
    runs = []
    with RealBench(evidence, "--service", f"tcp-chargen:{CHARGEN}",
                   "--service", f"tcp-echo:{ECHO}") as bench:
        for loss in (0, 2):
            for service in ("chargen", "echo"):
                runs.append(one_run(bench, evidence, service, loss))
        counters = bench.stop()
        evidence.write_text("counters.txt", "".join(f"{k} {v}\n" for k, v in
                                                    sorted(counters.items())))
    resent: dict = {}
    streams(evidence.path("stack.pcap"), resent)
    for run in runs:
        stack_side = (bench.stack_ip, run["service_port"], run["client_port"])
        kernel_side = (bench.kernel_ip, run["client_port"], run["service_port"])
        run["retransmissions"] = resent.get(stack_side, 0) + resent.get(kernel_side, 0)
    evidence.extra["runs"] = runs
    lossy = [r for r in runs if r["loss_percent"] > 0]
    evidence.check("the lossy runs show retransmissions in the capture",
                   all(r["retransmissions"] > 0 for r in lossy),
                   ", ".join(f"{r['name']}: {r['retransmissions']}" for r in lossy))
    evidence.write_text("measurements.md", measurement_table({"runs": runs}))
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
