"""The Linux side of the TCP benchmarks and interop tests: programs, loss, a veth reference.

`netstack bench --only tcp` and the tests in tests/interop/test_tcp_*.py share all of this.

Programs are small Python scripts run by a namespace's Python, so their sockets are the
Linux kernel's.

Clients print exactly one `result key=value ...` line when they succeed (`parse_result` reads
it); on failure they exit non-zero with the reason. Servers print `listening` once they accept
connections, then serve until they are killed. They use only the standard library.

    ECHO_CLIENT HOST PORT NBYTES SEED   send NBYTES of known bytes on one thread, read the echo
                                        until EOF on another; sha256 of both
    SEND_CLIENT HOST PORT NBYTES SEED   send NBYTES, shut down writing, wait for the peer's
                                        close: `seconds` covers delivering the last byte
    RECV_CLIENT HOST PORT NBYTES        read NBYTES (from a chargen, say), then close
    BULK_SEND_CLIENT HOST PORT NBYTES   SEND_CLIENT without the checksum: a 256 KB block over
                                        and over (fast enough for Linux's 15+ Gbit/s)
    ECHO_RTT_CLIENT HOST PORT SECONDS SIZE
                                        one connection, one SIZE-byte message in flight:
                                        echo round trips per second
    CYCLE_CLIENT HOST PORT COUNT        COUNT times: connect, echo 32 bytes, close
    SINK_SERVER ADDR PORT [COUNT]       accept COUNT connections one at a time, read each to EOF,
                                        print its byte count and sha256
    ECHO_SERVER / DISCARD_SERVER / CHARGEN_SERVER ADDR PORT
                                        the services, one thread per connection (Linux's side
                                        of the kernel-to-kernel reference runs)
"""

from __future__ import annotations

import json
import subprocess

from netstack.netns import Namespace, NamespaceError, unique_name

KERNEL_CIDR = "192.0.2.1/24"  # the kernel peer, where clients and the loss rules live
FAR_CIDR = "192.0.2.2/24"  # the stack's address; in a KernelPair, the far kernel's
FAR_IP = "192.0.2.2"
LOSS_TABLE = "loss"

PRELUDE = """
import hashlib, random, socket, sys, threading, time
def known_bytes(n, seed):
    return random.Random(seed).randbytes(n)
def report(**fields):
    print("result " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)
BULK_CHUNK = 1 << 18
"""

ECHO_CLIENT = PRELUDE + """
host, port, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = known_bytes(n, seed)
s = socket.create_connection((host, port), timeout=60)
started = time.monotonic()
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
# Sending and receiving at once: a client that wrote everything first would deadlock as soon
# as both directions' buffers are full.
sender = threading.Thread(target=send, daemon=True)
sender.start()
received = hashlib.sha256()
count = 0
while True:
    chunk = s.recv(1 << 16)
    if not chunk:
        break
    received.update(chunk)
    count += len(chunk)
sender.join(60)
report(sent=n, sent_sha=hashlib.sha256(data).hexdigest(), received=count,
       received_sha=received.hexdigest(), seconds=f"{time.monotonic() - started:.3f}")
"""

SEND_CLIENT = PRELUDE + """
host, port, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
data = known_bytes(n, seed)
s = socket.create_connection((host, port), timeout=60)
started = time.monotonic()
s.sendall(data)
s.shutdown(socket.SHUT_WR)
answered = 0
while True:
    chunk = s.recv(1 << 16)
    if not chunk:
        break
    answered += len(chunk)
report(sent=n, sent_sha=hashlib.sha256(data).hexdigest(), answered=answered,
       seconds=f"{time.monotonic() - started:.3f}")
"""

RECV_CLIENT = PRELUDE + """
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=60)
started = time.monotonic()
count = 0
buffer = bytearray(BULK_CHUNK)  # large reads: Python's per-call cost must not be the limit
while count < n:
    got = s.recv_into(buffer, min(BULK_CHUNK, n - count))
    if not got:
        sys.exit(f"the server closed after {count} of {n} bytes")
    count += got
elapsed = time.monotonic() - started
s.close()
report(received=count, seconds=f"{elapsed:.6f}")
"""

BULK_SEND_CLIENT = PRELUDE + """
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = known_bytes(BULK_CHUNK, 1)  # the same 256 KB over and over: no n-byte buffer to build
s = socket.create_connection((host, port), timeout=60)
started = time.monotonic()
view = memoryview(block)
left = n
while left:
    step = min(left, BULK_CHUNK)
    s.sendall(view[:step])
    left -= step
s.shutdown(socket.SHUT_WR)
while s.recv(BULK_CHUNK):  # the server's close: every byte was delivered
    pass
report(sent=n, seconds=f"{time.monotonic() - started:.6f}")
"""

ECHO_RTT_CLIENT = PRELUDE + """
host, port, seconds, size = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
message = known_bytes(size, 7)
count = 0
started = time.monotonic()
deadline = started + seconds
while time.monotonic() < deadline:
    s.sendall(message)  # one message in flight: each round trip waits for its echo
    echoed = b""
    while len(echoed) < size:
        chunk = s.recv(size - len(echoed))
        if not chunk:
            sys.exit(f"the server closed after {count} round trips")
        echoed += chunk
    if echoed != message:
        sys.exit(f"round trip {count}: echoed {echoed!r}")
    count += 1
elapsed = time.monotonic() - started
s.close()
report(round_trips=count, seconds=f"{elapsed:.3f}", per_second=f"{count / elapsed:.1f}")
"""

CYCLE_CLIENT = PRELUDE + """
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
started = time.monotonic()
for i in range(count):
    message = b"cycle %08d ....................." % i
    try:
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(message)
            echoed = b""
            while len(echoed) < len(message):
                chunk = s.recv(len(message) - len(echoed))
                if not chunk:
                    break
                echoed += chunk
    except OSError as exc:
        sys.exit(f"cycle {i}: {exc!r}")
    if echoed != message:
        sys.exit(f"cycle {i}: echoed {echoed!r}, sent {message!r}")
elapsed = time.monotonic() - started
report(cycles=count, seconds=f"{elapsed:.3f}", per_second=f"{count / elapsed:.1f}")
"""

SINK_SERVER = PRELUDE + """
address, port = sys.argv[1], int(sys.argv[2])
count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
server = socket.create_server((address, port))
print("listening", flush=True)
for _ in range(count):
    conn, peer = server.accept()
    conn.settimeout(120)
    started = time.monotonic()
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
    conn.close()
    report(peer=f"{peer[0]}:{peer[1]}", received=total, received_sha=digest.hexdigest(),
           seconds=f"{time.monotonic() - started:.3f}")
"""

_THREADED_SERVER = PRELUDE + """
def serve(handle):
    address, port = sys.argv[1], int(sys.argv[2])
    server = socket.create_server((address, port), backlog=128)
    print("listening", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=guarded, args=(handle, conn), daemon=True).start()
def guarded(handle, conn):
    with conn:
        try:
            handle(conn)
        except OSError:
            pass
"""

ECHO_SERVER = _THREADED_SERVER + """
def echo(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while chunk := conn.recv(1 << 16):
        conn.sendall(chunk)
serve(echo)
"""

DISCARD_SERVER = _THREADED_SERVER + """
def discard(conn):
    buffer = bytearray(BULK_CHUNK)
    while conn.recv_into(buffer):
        pass
serve(discard)
"""

# RFC 864's rotating lines of 72 printable characters, sent until the client goes away.
CHARGEN_SERVER = _THREADED_SERVER + """
printable = bytes(range(32, 127))
lines = b"".join((printable * 2)[i:i + 72] + b"\\r\\n" for i in range(95))
block = lines * (BULK_CHUNK // len(lines) + 1)
def chargen(conn):
    while True:
        conn.sendall(block)
serve(chargen)
"""


def parse_result(output: str) -> dict[str, str]:
    """The `result key=value ...` line a client printed, as a dict; KeyError when none."""
    for line in output.splitlines():
        if line.startswith("result "):
            return dict(word.partition("=")[::2] for word in line.split()[1:])
    raise KeyError(f"no result line in: {output.strip()[-500:]!r}")


# --- loss -----------------------------------------------------------------------------------
# There is no `tc netem` on this kernel: nftables drops a random share of segments instead.


def drop_tcp(ns: Namespace, percent: int, far_ip: str = FAR_IP) -> None:
    """In `ns`, drop `percent`% of the TCP segments sent to `far_ip` (output hook) and of those
    received from it (input hook), each chosen at random and counted. The table lives in the
    namespace and goes with it."""
    if not 0 <= percent <= 100:
        raise ValueError(f"a loss rate is a percentage, not {percent}")
    rules = f"""
table inet {LOSS_TABLE} {{
    chain to_far {{
        type filter hook output priority 0; policy accept;
        ip daddr {far_ip} meta l4proto tcp numgen random mod 100 < {percent} counter drop
    }}
    chain from_far {{
        type filter hook input priority 0; policy accept;
        ip saddr {far_ip} meta l4proto tcp numgen random mod 100 < {percent} counter drop
    }}
}}
"""
    result = subprocess.run(["ip", "netns", "exec", ns.name, "nft", "-f", "-"], input=rules,
                            capture_output=True, text=True, check=False, timeout=10)
    if result.returncode != 0:
        raise NamespaceError(f"nft could not install the loss rules: {result.stderr.strip()}")


def one_segment_per_packet(ns: Namespace, dev: str) -> None:
    """Make the kernel hand `dev` one MSS-sized segment per packet. Linux's TCP otherwise
    builds "super-segments" of up to 64 KB (GSO) that are cut up only after netfilter has
    seen them, so a rule dropping "5% of packets" would drop 5% of bursts of 40 segments."""
    ns.run(["ip", "link", "set", "dev", dev, "gso_max_segs", "1", "gso_max_size", "1500"])


def dropped_segments(ns: Namespace) -> dict[str, int]:
    """What the loss rules in `ns` dropped so far: {"to_far": n, "from_far": m}."""
    listing = json.loads(ns.run(["nft", "-j", "list", "table", "inet", LOSS_TABLE]).stdout)
    dropped = {"to_far": 0, "from_far": 0}
    for item in listing["nftables"]:
        rule = item.get("rule")
        for expr in rule["expr"] if rule else ():
            if "counter" in expr:
                dropped[rule["chain"]] += expr["counter"]["packets"]
    return dropped


# --- the kernel-to-kernel reference ---------------------------------------------------------


class KernelPair:
    """Two namespaces joined by a veth cable: `near` is 192.0.2.1 (clients and loss rules, like
    the stack's kernel peer), `far` is 192.0.2.2 (servers, in the stack's place). Linux on both
    ends: the reference for every TCP workload. Leaving the block deletes both.

    With `one_segment` (the default, what the loss workloads and tests need) both ends send
    one segment per packet, as the kernel does to a TAP (which has no segment offload): the
    same wire, and the same meaning for "drop 5% of segments". Without it the veth keeps
    Linux's normal offloads (GSO/GRO/TSO): Linux at its best, the bulk reference."""

    def __init__(self, one_segment: bool = True) -> None:
        self.near = Namespace("kpn")
        self.far = Namespace("kpf")
        self.one_segment = one_segment

    def __enter__(self) -> KernelPair:
        try:
            self.near.__enter__()
            self.far.__enter__()
            near_dev, far_dev = unique_name("vn"), unique_name("vf")
            self.near.run(["ip", "link", "add", near_dev, "type", "veth", "peer", "name", far_dev,
                           "netns", self.far.name])
            for ns, dev, cidr in ((self.near, near_dev, KERNEL_CIDR), (self.far, far_dev, FAR_CIDR)):
                ns.add_address(dev, cidr)
                if self.one_segment:
                    one_segment_per_packet(ns, dev)
                ns.link_up(dev)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        self.near.close()
        self.far.close()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
