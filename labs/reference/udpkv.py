"""udpkv: a tiny key-value service over UDP (lab 5's small service).

One request per datagram, one reply per request, to the request's sender. ASCII text,
no line ending:

    SET key value    -> OK                (value: the rest of the datagram, spaces and all)
    GET key          -> VALUE value  or  NOTFOUND
    DEL key          -> DELETED      or  NOTFOUND
    anything else    -> ERROR <reason>    (unknown command, missing key, key too long...)

A key is 1..MAX_KEY bytes without spaces; a value at most MAX_VALUE bytes. Commands are
upper case. Nothing is remembered between requests but the store.

`serve(sock)` answers on a bound UDP socket, `query(sock, server, request)` asks one
question. Both take any socket with recvfrom/sendto: a netstack `api.Host` socket, or
Python's own (the real step runs this very module on the kernel's UDP as the server the
stack's client asks).

    python udpkv.py serve --bind 192.0.2.1 --port 7007 --set answer=42     (kernel sockets)
    python udpkv.py query 192.0.2.1 7007 "GET answer"
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

MAX_KEY = 64
MAX_VALUE = 1024
MAX_DATAGRAM = 2048  # the largest request read: longer ones are cut, then refused


def handle(request: bytes, store: dict[bytes, bytes]) -> bytes:
    """The reply to one request, changing `store` as SET and DEL say."""
    # BEGIN SOLUTION: split "COMMAND key [value]"; check the key; SET/GET/DEL; else ERROR
    command, _, rest = request.partition(b" ")
    if command not in (b"SET", b"GET", b"DEL"):
        return b"ERROR unknown command"
    key, _, value = rest.partition(b" ")
    if not key:
        return b"ERROR missing key"
    if len(key) > MAX_KEY:
        return b"ERROR key too long"
    if command == b"SET":
        if len(value) > MAX_VALUE:
            return b"ERROR value too long"
        store[key] = value
        return b"OK"
    if value:
        return b"ERROR unexpected argument"
    if key not in store:
        return b"NOTFOUND"
    if command == b"GET":
        return b"VALUE " + store[key]
    del store[key]
    return b"DELETED"
    # END SOLUTION


def serve(sock: Any, store: dict[bytes, bytes] | None = None, count: int | None = None) -> None:
    """Answer requests on the bound `sock` (forever, or `count` of them)."""
    # BEGIN SOLUTION: recvfrom, handle, sendto the sender; `count` times (None: forever)
    store = {} if store is None else store
    answered = 0
    while count is None or answered < count:
        request, sender = sock.recvfrom(MAX_DATAGRAM)
        sock.sendto(handle(request, store), sender)
        answered += 1
    # END SOLUTION


def query(sock: Any, server: tuple[str, int], request: bytes) -> bytes:
    """Send `request` to `server`; the first reply that comes from `server` (datagrams
    from anyone else are not the answer, and are dropped)."""
    # BEGIN SOLUTION: sendto the server, then recvfrom until the sender is the server
    sock.sendto(request, server)
    while True:
        reply, sender = sock.recvfrom(MAX_DATAGRAM)
        if (str(sender[0]), int(sender[1])) == (str(server[0]), int(server[1])):
            return reply
    # END SOLUTION


def main(argv: list[str] | None = None) -> int:
    import socket

    parser = argparse.ArgumentParser(description="A tiny UDP key-value service (kernel sockets).")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--port", type=int, default=7007)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--count", type=int, help="stop after this many requests")
    q = sub.add_parser("query")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("request")
    q.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        if args.command == "serve":
            store = {k.encode(): v.encode() for k, _, v in (x.partition("=") for x in args.set)}
            sock.bind((args.bind, args.port))
            print(f"ready: udpkv on {args.bind}:{args.port}", flush=True)
            serve(sock, store, args.count)
            return 0
        sock.settimeout(args.timeout)
        reply = query(sock, (args.host, args.port), args.request.encode())
        print(reply.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
