"""Lab 0's stack-side application, run by check.py inside the namespace (root).

A netstack Host on tap:NAME at 192.0.2.2 (every frame captured; units from LAB_IMPL_ARGS,
none for lab 0) that prints "ready", then for each stdin line "get HOST PORT PATH OUTFILE"
calls the student's webget.get(host, HOST, PATH, PORT), writes the body to OUTFILE and
prints "reply: got N bytes sha256 HEX" (or "reply-error: Name: message [status S]").
SIGINT or EOF: it prints the stack's counters, one "name value" a line, and exits.

    python app.py TAPNAME CAPTURE
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys

from labs.kit import student_module
from labs.kit.real import STACK_CIDR, STACK_MAC
from netstack import api
from netstack.units import parse_impl_argument

TIMEOUT = 20.0  # seconds each socket call may block (a stuck fetch fails, not hangs)


class Sockets:
    """host.socket with a timeout on every socket, so no call blocks forever."""

    def __init__(self, host: api.Host) -> None:
        self.host = host

    def socket(self, family: int = api.AF_INET, type: int = api.SOCK_STREAM, proto: int = 0):
        sock = self.host.socket(family, type, proto)
        sock.settimeout(TIMEOUT)
        return sock


def main() -> int:
    tap, capture = sys.argv[1], sys.argv[2]
    webget = student_module("webget", reference="labs.reference.webget")
    words = shlex.split(os.environ.get("LAB_IMPL_ARGS", ""))
    impl = dict(parse_impl_argument(w) for w in words if w != "--impl")
    host = api.Host.open(f"tap:{tap}", STACK_CIDR, mac=STACK_MAC, capture=capture, impl=impl)
    try:
        print("ready", flush=True)
        loaded = f"webget: {webget.__file__}"
        with open(os.path.join(os.path.dirname(capture), "loaded.txt"), "w") as f:
            f.write(loaded + "\n")  # what ran, for the evidence
        for line in sys.stdin:
            parts = line.split()
            if len(parts) != 5 or parts[0] != "get":
                continue
            _, server, port, path, out = parts
            try:
                body = webget.get(Sockets(host), server, path, int(port))
            except Exception as exc:  # noqa: BLE001 - the student's code; reported, not fatal
                status = getattr(exc, "status", None)
                print(f"reply-error: {type(exc).__name__}: {exc}"
                      + (f" [status {status}]" if status is not None else ""), flush=True)
                continue
            with open(out, "wb") as f:
                f.write(body)
            print(f"reply: got {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()}",
                  flush=True)
    except KeyboardInterrupt:
        pass  # check.py stops us with SIGINT
    finally:
        counters = host.stack.counters.matching("")
        host.close()
        for name, value in sorted(counters.items()):
            print(f"{name} {value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
