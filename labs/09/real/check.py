"""Lab 9's real-tool step (root): a megabyte from your congestion control to the Linux
kernel through 2% loss, with cwnd traced and plotted.

The stack runs `netstack run --service tcp-chargen:19 --trace cwnd` with your unit
(LAB_IMPL_ARGS): chargen sends RFC 864's pattern to whoever connects, and the trace prints
one line per cwnd or ssthresh change. In the kernel's namespace nftables drops 2% of the
segments arriving from the stack, at random (`numgen random mod 100 < 2`); client.py reads
exactly 1 MB and hashes it. The evidence: the capture, the stack's output (the trace),
cwnd.csv (the transfer's cwnd events) and cwnd.png (cwnd and ssthresh over time, the
reductions marked). verify.py re-reads the trace and the capture offline.
"""

from __future__ import annotations

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from verify import REDUCTIONS, check_trace, cwnd_events, stack_streams, write_cwnd_csv  # noqa: E402

from labs.kit.real import Evidence, RealBench  # noqa: E402
from netstack.services.tcp_chargen import chargen_bytes  # noqa: E402

MB = 1 << 20
PORT = 19
LOSS_PERCENT = 2
TABLE = "lab9loss"
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "client.py")


def loss_rules(stack_ip: str) -> str:
    """Drop LOSS_PERCENT% of the TCP segments arriving from the stack, and count them."""
    return f"""
table inet {TABLE} {{
    chain from_stack {{
        type filter hook input priority 0; policy accept;
        ip saddr {stack_ip} meta l4proto tcp numgen random mod 100 < {LOSS_PERCENT} counter drop
    }}
}}
"""


def plot(events, path: str, title: str) -> None:
    """cwnd and ssthresh in kB over time, the reductions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = events[0].time
    times = [e.time - start for e in events]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.step(times, [e.cwnd / 1000 for e in events], where="post", label="cwnd")
    ceiling = max(e.cwnd for e in events) * 1.5
    ax.step(times, [min(e.ssthresh, ceiling) / 1000 for e in events], where="post",
            linestyle="--", label="ssthresh (clipped)")
    for reason, marker in (("fast_retransmit", "v"), ("rto", "x")):
        marked = [(t, e.cwnd / 1000) for t, e in zip(times, events, strict=True)
                  if e.reason == reason]
        if marked:
            ax.plot(*zip(*marked, strict=True), marker, linestyle="none", label=reason)
    ax.set_xlabel("seconds since the first event")
    ax.set_ylabel("kB")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_report(text: str) -> dict[str, str]:
    for line in text.splitlines():
        if line.startswith("result "):
            return dict(part.split("=", 1) for part in line.split()[1:])
    return {}


def main() -> int:
    evidence = Evidence(lab=9)
    evidence.extra.update(port=PORT, bytes=MB, loss_percent=LOSS_PERCENT)
    expected = hashlib.sha256(chargen_bytes(MB)).hexdigest()
    evidence.extra["expected_sha"] = expected
    with RealBench(evidence, "--service", f"tcp-chargen:{PORT}", "--trace", "cwnd") as bench:
        rules = bench.run("nft", "-f", "-", input=loss_rules(bench.stack_ip), timeout=10)
        evidence.check(f"nftables drops {LOSS_PERCENT}% of the stack's segments",
                       rules.returncode == 0, rules.stdout + rules.stderr)
        client = bench.run(sys.executable, CLIENT, bench.stack_ip, str(PORT), str(MB),
                           timeout=45)
        evidence.write_text("client.txt", client.stdout + client.stderr)
        counted = bench.run("nft", "list", "table", "inet", TABLE, timeout=10)
        evidence.write_text("nft.txt", counted.stdout + counted.stderr)
        report = parse_report(client.stdout)
        evidence.extra.update(client_port=int(report.get("port", -1)),
                              received_sha=report.get("sha256"), seconds=report.get("seconds"))
        evidence.check(f"1 MB arrived with chargen's sha256 ({report.get('seconds', '?')} s)",
                       client.returncode == 0 and report.get("received") == str(MB)
                       and report.get("sha256") == expected, client.stdout + client.stderr)
        counters = bench.stop()
        evidence.write_text("counters.txt", "".join(f"{k} {v}\n" for k, v in
                                                    sorted(counters.items())))
    with open(evidence.path("stack-output.txt"), encoding="utf-8") as f:
        events = cwnd_events(f.read(), PORT, evidence.extra["client_port"])
    write_cwnd_csv(evidence.path("cwnd.csv"), events)
    reductions = sum(e.reason in REDUCTIONS for e in events)
    problems = check_trace(events)
    evidence.check(f"the trace has {len(events)} cwnd events, {reductions} of them reductions",
                   not problems, "\n".join(problems))
    if events:
        plot(events, evidence.path("cwnd.png"),
             f"1 MB to the Linux kernel at {LOSS_PERCENT}% loss ({evidence.impl})")
    evidence.check("cwnd.png plotted", os.path.exists(evidence.path("cwnd.png")))
    stream = stack_streams(evidence.path("stack.pcap"), PORT).get(evidence.extra["client_port"])
    resent = stream.retransmissions if stream is not None else 0
    evidence.check(f"the capture shows {resent} retransmissions", resent > 0)
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
