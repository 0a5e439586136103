"""The kernel's side of lab 7's real step: read N bytes from the stack's chargen service,
hash them, close. With --blackout-at B --blackout S: after B bytes, drop every segment from
the stack for S seconds (an nftables table of our own), so the stack's retransmission timer
has to fire, and back off, before the path comes back.

Prints one line: `result port=P received=N sha256=HEX seconds=T`."""

from __future__ import annotations

import argparse
import hashlib
import socket
import subprocess
import time

parser = argparse.ArgumentParser()
parser.add_argument("host")
parser.add_argument("port", type=int)
parser.add_argument("n", type=int)
parser.add_argument("--blackout-at", type=int, default=-1)
parser.add_argument("--blackout", type=float, default=0.0)
args = parser.parse_args()

BLACKOUT = f"""
table inet lab7blackout {{
    chain from_stack {{
        type filter hook input priority -10; policy accept;
        ip saddr {args.host} meta l4proto tcp counter drop
    }}
}}
"""

sock = socket.create_connection((args.host, args.port), timeout=30)
started = time.monotonic()
digest, count = hashlib.sha256(), 0
blackout_done = args.blackout_at < 0
while count < args.n:
    want = args.n - count
    if not blackout_done:
        want = min(want, args.blackout_at - count)
    chunk = sock.recv(min(want, 1 << 16))
    if not chunk:
        raise SystemExit(f"the stack closed after {count} of {args.n} bytes")
    digest.update(chunk)
    count += len(chunk)
    if not blackout_done and count >= args.blackout_at:
        blackout_done = True
        subprocess.run(["nft", "-f", "-"], input=BLACKOUT, text=True, check=True, timeout=10)
        print(f"blackout from {time.monotonic() - started:.3f} s for {args.blackout} s",
              flush=True)
        time.sleep(args.blackout)
        subprocess.run(["nft", "delete", "table", "inet", "lab7blackout"], check=True,
                       timeout=10)
port = sock.getsockname()[1]
sock.close()
print(f"result port={port} received={count} sha256={digest.hexdigest()} "
      f"seconds={time.monotonic() - started:.3f}", flush=True)
