"""Re-check lab 0's evidence offline (no root, no network): read stack.pcap again.

From the capture alone (TCP checksums checked by the decoder): the connection from the
stack to the kernel's port 8000 carried a request "GET /lab0.bin HTTP/1.1" with a Host and
a "Connection: close" header, and the kernel's answer was a 200 whose body has the served
file's sha256; the second connection asked for /no-such-file and got a 404. fetched.bin,
what webget returned, has the served sha256 too.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from ipaddress import IPv4Address

from labs.kit.real import KERNEL_IP, STACK_IP, load_evidence, sha256_file
from netstack.engine.pcapfile import read_pcap
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import FLAG_SYN

MOD = 2**32


def connections(path: str, port: int) -> list[tuple[bytes, bytes]]:
    """(request stream, response stream) of each connection from the stack to the kernel's
    `port`, in the order they opened, rebuilt by sequence number."""
    stack, kernel = IPv4Address(STACK_IP), IPv4Address(KERNEL_IP)
    isn: dict[tuple, int] = {}
    data: dict[tuple, dict[int, bytes]] = defaultdict(dict)
    order: list[int] = []
    for _, frame in read_pcap(path):
        seg = decode_tcp(frame)
        if seg is None:
            continue
        if seg.src == stack and seg.dst == kernel and seg.dst_port == port:
            key = (seg.src_port, "request")
        elif seg.src == kernel and seg.dst == stack and seg.src_port == port:
            key = (seg.dst_port, "response")
        else:
            continue
        if seg.flags & FLAG_SYN:
            isn[key] = seg.seq
            if key[1] == "request" and key[0] not in order:
                order.append(key[0])
            continue
        if key in isn and seg.payload:
            data[key].setdefault((seg.seq - isn[key] - 1) % MOD, seg.payload)
    return [(_join(data[(p, "request")]), _join(data[(p, "response")])) for p in order]


def _join(pieces: dict[int, bytes]) -> bytes:
    out = bytearray()
    for offset in sorted(pieces):
        piece = pieces[offset]
        if offset > len(out):
            break  # a hole: what follows is not part of what we can rebuild
        out[offset:offset + len(piece)] = piece
    return bytes(out)


def verify(folder: str) -> list[str]:
    """Problems found re-reading the evidence folder (sha256 values, then the capture)."""
    record, problems = load_evidence(folder)
    return problems + check_capture(folder, record) if record else problems


def check_capture(folder: str, record: dict) -> list[str]:
    problems: list[str] = []
    digest, path, port = record.get("served_sha256"), record.get("path"), record.get("port")
    if not digest or not path or not port:
        return ["evidence.json has no served_sha256/path/port"]
    fetched = os.path.join(folder, "fetched.bin")
    if not os.path.exists(fetched) or sha256_file(fetched) != digest:
        problems.append("fetched.bin is missing or not the served file")
    pcap = os.path.join(folder, "stack.pcap")
    if not os.path.exists(pcap):
        return problems + ["stack.pcap is missing"]
    exchanges = connections(pcap, int(port))
    if len(exchanges) < 2:
        return problems + [f"expected 2 connections to port {port} in the capture, found "
                           f"{len(exchanges)}"]
    (request, answer), (request_404, answer_404) = exchanges[:2]
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    if head[0] != f"GET {path} HTTP/1.1".encode():
        problems.append(f"the first request line is {head[0]!r}")
    names = {line.split(b":", 1)[0].strip().lower(): line.split(b":", 1)[1].strip().lower()
             for line in head[1:] if b":" in line}
    if b"host" not in names:
        problems.append("the request has no Host header")
    if names.get(b"connection") != b"close":
        problems.append("the request does not say Connection: close")
    status, _, body = answer.partition(b"\r\n\r\n")
    if not status.startswith(b"HTTP/1.") or b" 200 " not in status.split(b"\r\n")[0] + b" ":
        problems.append(f"the first response is not a 200: {status[:40]!r}")
    if hashlib.sha256(body).hexdigest() != digest:
        problems.append("the body the kernel sent (rebuilt from the capture) is not the "
                        "served file")
    if not request_404.startswith(b"GET /no-such-file HTTP/1.1\r\n"):
        problems.append(f"the second request is {request_404[:40]!r}")
    if b" 404 " not in answer_404.split(b"\r\n", 1)[0] + b" ":
        problems.append(f"the second response is not a 404: {answer_404[:40]!r}")
    return problems
