"""The kernel's side of lab 9's real step: read N bytes from the stack's chargen service,
hash them, close. Prints one line: `result port=P received=N sha256=HEX seconds=T`."""

from __future__ import annotations

import hashlib
import socket
import sys
import time

host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sock = socket.create_connection((host, port), timeout=30)
started = time.monotonic()
digest, count = hashlib.sha256(), 0
while count < size:
    chunk = sock.recv(min(size - count, 1 << 16))
    if not chunk:
        raise SystemExit(f"the stack closed after {count} of {size} bytes")
    digest.update(chunk)
    count += len(chunk)
local_port = sock.getsockname()[1]
sock.close()
print(f"result port={local_port} received={count} sha256={digest.hexdigest()} "
      f"seconds={time.monotonic() - started:.3f}", flush=True)
