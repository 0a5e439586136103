"""The kernel's side of lab 10's real step.

    client.py read HOST PORT N     read N bytes from the stack (chargen), hash them
    client.py echo HOST PORT N     send N bytes of pattern() to the stack's echo service
                                   while reading them back, hash what came back

Prints one line: `result port=P received=N sha256=HEX seconds=T`."""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
import time


def pattern(n: int) -> bytes:
    """What `echo` sends: n bytes no protocol would produce by accident."""
    block = b"".join(hashlib.sha256(b"lab10-echo/%d" % i).digest() for i in range(128))
    return (block * (n // len(block) + 1))[:n]


def main() -> int:
    mode, host, port, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sock = socket.create_connection((host, port), timeout=30)
    started = time.monotonic()
    if mode == "echo":
        data = pattern(size)
        threading.Thread(target=sock.sendall, args=(data,), daemon=True).start()
    digest, count = hashlib.sha256(), 0
    while count < size:
        chunk = sock.recv(min(size - count, 1 << 16))
        if not chunk:
            print(f"the stack closed after {count} of {size} bytes", flush=True)
            break
        digest.update(chunk)
        count += len(chunk)
    local_port = sock.getsockname()[1]
    sock.close()
    print(f"result port={local_port} received={count} sha256={digest.hexdigest()} "
          f"seconds={time.monotonic() - started:.3f}", flush=True)
    return 0 if count == size else 1


if __name__ == "__main__":
    sys.exit(main())
