"""Lab 5's stack-side application, run by check.py inside the namespace (root).

A netstack Host on tap:NAME (at 192.0.2.2, with the student's units from LAB_IMPL_ARGS,
capturing every frame) that serves, on threads over netstack's UDP sockets:
    port 7      echo (every datagram back to its sender)
    port 7007   the student's udpkv (labs.kit.student_module)
prints "ready", then for each line "query HOST PORT REQUEST" on stdin asks that server with
the student's udpkv.query from an ephemeral port and prints "reply: ...". At EOF or SIGINT
it prints the stack's counters, one "name value" a line, and exits.

    python app.py TAPNAME CAPTURE
"""

from __future__ import annotations

import os
import shlex
import sys
import threading

from labs.kit import student_module
from labs.kit.real import STACK_CIDR, STACK_MAC
from netstack import api
from netstack.units import parse_impl_argument

ECHO_PORT = 7
KV_PORT = 7007
QUERY_TIMEOUT = 5.0


def impl_from_environment(text: str) -> dict[str, str]:
    words = shlex.split(text)
    return dict(parse_impl_argument(w) for w in words if w != "--impl")


def echo(sock) -> None:
    while True:
        try:
            data, sender = sock.recvfrom(65535)
            sock.sendto(data, sender)
        except OSError:
            return


def kv(module, sock) -> None:
    try:
        module.serve(sock)
    except OSError:
        return


def main() -> int:
    tap, capture = sys.argv[1], sys.argv[2]
    udpkv = student_module("udpkv", reference="labs.reference.udpkv")
    impl = impl_from_environment(os.environ.get("LAB_IMPL_ARGS", ""))
    host = api.Host.open(f"tap:{tap}", STACK_CIDR, mac=STACK_MAC, capture=capture, impl=impl)
    try:
        services = []
        for port, target in ((ECHO_PORT, echo), (KV_PORT, lambda s: kv(udpkv, s))):
            sock = host.socket(api.AF_INET, api.SOCK_DGRAM)
            sock.bind(("0.0.0.0", port))
            services.append(sock)
            threading.Thread(target=target, args=(sock,), daemon=True).start()
        print("ready", flush=True)
        loaded = f"impl: {impl or 'reference'}; udpkv: {udpkv.__file__}"
        with open(os.path.join(os.path.dirname(capture), "loaded.txt"), "w") as f:
            f.write(loaded + "\n")  # what ran, for the evidence
        for line in sys.stdin:
            words = line.strip().split(maxsplit=3)
            if len(words) != 4 or words[0] != "query":
                continue
            with host.socket(api.AF_INET, api.SOCK_DGRAM) as client:
                client.settimeout(QUERY_TIMEOUT)
                try:
                    reply = udpkv.query(client, (words[1], int(words[2])), words[3].encode())
                    print(f"reply: {reply.decode(errors='replace')}", flush=True)
                except Exception as exc:  # noqa: BLE001 - the student's code; reported, not fatal
                    print(f"reply-error: {type(exc).__name__}: {exc}", flush=True)
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
