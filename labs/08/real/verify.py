"""Re-check lab 8's evidence offline (no root, no network): read stack.pcap again.

From the capture alone:
- the HTTP port saw as many connections as fetches; each has the whole three-way handshake
  (SYN, SYN-ACK, ACK), a FIN from each side, each FIN acknowledged, and no RST;
- the echo connection is a half-close: the kernel's FIN comes after its 20000 bytes, the
  stack acknowledges it, the stack's FIN comes only after the stack sent back as many bytes,
  and the echoed stream (rebuilt by sequence number) has the sha256 nc reported receiving;
- stack-output.txt's state trace leaves no connection ESTABLISHED, CLOSE-WAIT or the like.
"""

from __future__ import annotations

import hashlib
import os
from ipaddress import IPv4Address

from labs.kit.real import STACK_IP, load_evidence
from netstack.engine.pcapfile import read_pcap
from netstack.testing.tcp import decode_tcp
from netstack.wire.tcp import FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN

MOD = 2**32
SETTLED = {"CLOSED", "TIME_WAIT"}


def final_states(trace: str) -> dict[str, str]:
    """The last state of each connection in a `--trace state` output ("... tcp CONN state
    OLD->NEW"): connection description -> state name."""
    states: dict[str, str] = {}
    for line in trace.splitlines():
        parts = line.split()
        if "state" not in parts or "tcp" not in parts:
            continue
        i, j = parts.index("tcp"), parts.index("state")
        if j + 1 >= len(parts) or "->" not in parts[j + 1]:
            continue
        new = parts[j + 1].split("->", 1)[1]
        states[" ".join(parts[i + 1:j])] = new.upper().replace("-", "_")
    return states


class Side:
    """One direction of a connection, as the capture shows it. (Plain classes, not
    dataclasses: the grader loads this file without registering it as a module.)"""

    def __init__(self) -> None:
        self.isn: int | None = None
        self.fin_seq: int | None = None  # sequence number of its FIN
        self.fin_at: int | None = None  # frame index of its first FIN
        self.fin_acked_at: int | None = None  # frame index of the other side's ACK of it
        self.synack = False
        self.rst = False
        self.data: dict[int, bytes] = {}  # stream offset -> bytes

    def offset(self, seq: int) -> int:
        assert self.isn is not None
        return (seq - self.isn - 1) % MOD

    def stream(self) -> bytes:
        out = bytearray()
        for start in sorted(self.data):
            chunk = self.data[start]
            if start <= len(out):
                out += chunk[len(out) - start:]
        return bytes(out)


class Conn:
    def __init__(self) -> None:
        self.client = Side()  # the kernel's side
        self.stack = Side()
        self.handshake_acked = False


def connections(path: str, port: int) -> dict[int, Conn]:
    """The connections to the stack's `port`, by the kernel's port (the last one wins if a
    port was used twice)."""
    conns: dict[int, Conn] = {}
    stack_ip = IPv4Address(STACK_IP)
    for index, (_, frame) in enumerate(read_pcap(path)):
        seg = decode_tcp(frame)
        if seg is None:
            continue
        if seg.dst == stack_ip and seg.dst_port == port:
            peer_port, mine, other = seg.src_port, "client", "stack"
        elif seg.src == stack_ip and seg.src_port == port:
            peer_port, mine, other = seg.dst_port, "stack", "client"
        else:
            continue
        flags = seg.flags
        if mine == "client" and flags & FLAG_SYN and not flags & FLAG_ACK:
            if peer_port not in conns or conns[peer_port].client.isn != seg.seq:
                conns[peer_port] = Conn()
        conn = conns.get(peer_port)
        if conn is None:
            continue
        side, far = getattr(conn, mine), getattr(conn, other)
        if flags & FLAG_RST:
            side.rst = True
            continue
        if flags & FLAG_SYN:
            side.isn = seg.seq
            side.synack = bool(flags & FLAG_ACK)
            continue
        if side.isn is None:
            continue
        if (mine == "client" and flags & FLAG_ACK and conn.stack.isn is not None
                and seg.ack == (conn.stack.isn + 1) % MOD):
            conn.handshake_acked = True
        if seg.payload:
            side.data.setdefault(side.offset(seg.seq), seg.payload)
        if flags & FLAG_FIN and side.fin_at is None:
            side.fin_at = index
            side.fin_seq = (seg.seq + len(seg.payload)) % MOD
        if (flags & FLAG_ACK and far.fin_seq is not None and far.fin_acked_at is None
                and seg.ack == (far.fin_seq + 1) % MOD):
            far.fin_acked_at = index
    return conns


def check_http(conns: dict[int, Conn], fetches: int) -> list[str]:
    problems = []
    if len(conns) != fetches:
        problems.append(f"the capture has {len(conns)} connections to port 80, not {fetches}")
    for port, c in sorted(conns.items()):
        where = f"port 80 connection from {port}"
        if c.stack.isn is None or not c.stack.synack or not c.handshake_acked:
            problems.append(f"{where}: no complete three-way handshake")
        elif c.client.fin_at is None or c.stack.fin_at is None:
            problems.append(f"{where}: a FIN is missing (kernel {c.client.fin_at is not None},"
                            f" stack {c.stack.fin_at is not None})")
        elif c.client.fin_acked_at is None or c.stack.fin_acked_at is None:
            problems.append(f"{where}: a FIN was never acknowledged")
        if c.client.rst or c.stack.rst:
            problems.append(f"{where}: a RST was sent")
        if len(problems) > 10:
            problems.append("...")
            break
    return problems


def check_half_close(conns: dict[int, Conn], size: int, received_sha: str) -> list[str]:
    if len(conns) != 1:
        return [f"the capture has {len(conns)} connections to the echo port, not 1"]
    (c,) = conns.values()
    kernel, stack = c.client, c.stack
    if kernel.fin_at is None or stack.fin_at is None or stack.isn is None:
        return ["the echo connection lacks a FIN from one side"]
    problems = []
    if kernel.offset(kernel.fin_seq) != size:
        problems.append(f"nc's FIN is at stream offset {kernel.offset(kernel.fin_seq)}, not "
                        f"after its {size} bytes")
    if not kernel.fin_at < stack.fin_at:
        problems.append("the stack's FIN came before nc's: that is not nc's half-close")
    if kernel.fin_acked_at is None or kernel.fin_acked_at > stack.fin_at:
        problems.append("the stack did not acknowledge nc's FIN before sending its own")
    if stack.offset(stack.fin_seq) != size:
        problems.append(f"the stack's FIN is at offset {stack.offset(stack.fin_seq)}: it did "
                        f"not send all {size} bytes back first")
    echoed = stack.stream()
    if hashlib.sha256(echoed).hexdigest() != received_sha:
        problems.append("the echo in the capture does not have the sha256 nc received")
    if c.client.rst or c.stack.rst:
        problems.append("the echo connection saw a RST")
    return problems


def verify(folder: str) -> list[str]:
    record, problems = load_evidence(folder)
    if not record:
        return problems
    pcap = os.path.join(folder, "stack.pcap")
    if not os.path.exists(pcap):
        return problems + ["stack.pcap is missing"]
    problems += check_http(connections(pcap, 80), int(record.get("fetches", 100)))
    if record.get("nc_sent_sha256") != record.get("nc_received_sha256"):
        problems.append("nc's sent and received sha256 differ")
    problems += check_half_close(connections(pcap, 7), int(record.get("echo_bytes", 0)),
                                 str(record.get("nc_received_sha256")))
    try:
        with open(os.path.join(folder, "stack-output.txt"), encoding="utf-8") as f:
            states = final_states(f.read())
    except OSError:
        states = {}
    left = {conn: s for conn, s in states.items() if s not in SETTLED}
    if not states:
        problems.append("stack-output.txt has no state trace")
    for conn, state in list(left.items())[:5]:
        problems.append(f"the state trace leaves {conn} in {state}")
    return problems


if __name__ == "__main__":
    import sys

    found = verify(sys.argv[1] if len(sys.argv) > 1 else "evidence")
    print("\n".join(found) or "evidence verified")
    sys.exit(1 if found else 0)
