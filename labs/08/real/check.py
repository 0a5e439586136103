"""Lab 8's real-tool step (root): your connection against the Linux kernel's TCP.

The stack runs with your units (LAB_IMPL_ARGS) and two services: `http:80` and
`tcp-echo:7`, tracing every state change (`--trace state`).

1. `curl` fetches /bytes/N 100 times in a row, each on its own connection (`Connection:
   close`): 100 handshakes, 100 responses, 100 closes. No connection may leak: at the
   stack's exit, by the state trace, every connection ended CLOSED or sits in TIME-WAIT (the
   state the side that closed first waits in); none is left ESTABLISHED, CLOSE-WAIT,
   LAST-ACK... and no RST was sent or received.
2. `nc -N` sends 20000 bytes to the echo service, then shuts its write side (a FIN) while
   still reading: the half-close. nc must receive the whole echo after its FIN, and only
   then the stack's FIN.

Evidence: stack.pcap (every frame at the stack), curl.txt, nc.txt, counters.txt,
stack-output.txt (the state trace). `verify.py` re-reads the pcap offline.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from verify import final_states  # noqa: E402

from labs.kit.real import Evidence, RealBench  # noqa: E402

FETCHES = 100
BODY = 1000  # bytes per response: /bytes/1000
ECHO_BYTES = 20000
HTTP_PORT, ECHO_PORT = 80, 7
SEED = 8  # nc's bytes: random.Random(SEED).randbytes(ECHO_BYTES)
LEAKED = {"ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSING",
          "SYN_RECEIVED", "SYN_SENT"}


def main() -> int:
    evidence = Evidence(lab=8)
    evidence.extra.update({"fetches": FETCHES, "body_bytes": BODY, "echo_bytes": ECHO_BYTES})
    with RealBench(evidence, "--service", f"http:{HTTP_PORT}", "--service",
                   f"tcp-echo:{ECHO_PORT}", "--trace", "state") as bench:
        url = f"http://{bench.stack_ip}/bytes/{BODY}"
        # One curl, FETCHES URLs, each with its own -o; "Connection: close" makes each
        # fetch a connection of its own, one after the other.
        outputs = [arg for _ in range(FETCHES) for arg in ("-o", "/dev/null", url)]
        curl = bench.run("curl", "-s", "-H", "Connection: close", "--max-time", "30",
                         "-w", "%{http_code} %{size_download}\\n", *outputs, timeout=45)
        evidence.write_text("curl.txt", curl.stdout + curl.stderr)
        lines = curl.stdout.split()
        good = sum(1 for code, size in zip(lines[::2], lines[1::2], strict=False)
                   if code == "200" and size == str(BODY))
        evidence.extra["curl_ok"] = good
        evidence.check(f"{FETCHES} sequential curl fetches all returned 200 with {BODY} "
                       f"bytes ({good})", curl.returncode == 0 and good == FETCHES,
                       curl.stdout[-300:] + curl.stderr[-300:])

        data = random.Random(SEED).randbytes(ECHO_BYTES)
        sent_file = evidence.path("nc-sent.bin")
        with open(sent_file, "wb") as f:
            f.write(data)
        nc = bench.run("sh", "-c", f"nc -N {bench.stack_ip} {ECHO_PORT} < {sent_file} "
                       f"> {evidence.path('nc-received.bin')}", timeout=20)
        try:
            with open(evidence.path("nc-received.bin"), "rb") as f:
                echoed = f.read()
        except OSError:
            echoed = b""
        evidence.write_text("nc.txt", f"exit {nc.returncode}\nsent {len(data)} bytes sha256 "
                            f"{hashlib.sha256(data).hexdigest()}\nreceived {len(echoed)} "
                            f"bytes sha256 {hashlib.sha256(echoed).hexdigest()}\n{nc.stderr}")
        evidence.extra["nc_sent_sha256"] = hashlib.sha256(data).hexdigest()
        evidence.extra["nc_received_sha256"] = hashlib.sha256(echoed).hexdigest()
        evidence.check(f"nc -N: sent {ECHO_BYTES} bytes, shut its write side, and still "
                       f"received the whole echo ({len(echoed)} bytes, sha256 equal)",
                       nc.returncode == 0 and echoed == data, nc.stderr[-300:])

        counters = bench.stop()
        evidence.write_text("counters.txt", "".join(f"{k} {v}\n" for k, v in
                                                    sorted(counters.items())))
        established = counters.get("tcp.conn.established", 0)
        evidence.check(f"the stack established {FETCHES + 1} connections ({established})",
                       established == FETCHES + 1, "tcp.conn.established in counters.txt")
        resets = counters.get("tcp.rx.rst", 0) + counters.get("tcp.tx.rst", 0)
        evidence.check(f"no RST sent or received ({resets})", resets == 0,
                       "tcp.rx.rst / tcp.tx.rst in counters.txt")
        states = final_states("\n".join(bench.lines))
        leaked = {conn: s for conn, s in states.items() if s in LEAKED}
        evidence.extra["final_states"] = sorted(set(states.values()))
        evidence.check(f"no leaked connection: each of the {len(states)} traced connections "
                       "ended CLOSED or in TIME-WAIT",
                       len(states) >= FETCHES + 1 and not leaked,
                       "; ".join(f"{c} {s}" for c, s in list(leaked.items())[:5]))
    return evidence.save()


if __name__ == "__main__":
    sys.exit(main())
