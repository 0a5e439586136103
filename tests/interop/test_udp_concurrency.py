"""50 stack sockets, one epoll loop, 10,000 datagrams from the kernel: every one comes back.

The stack side is the services' runner (netstack/services/runner.py): one thread, one
netstack.api.epoll, 50 echo sockets. The kernel side is a Python client in the namespace with
50 connected sockets and at most WINDOW datagrams in flight on each, so the test measures
correctness, not how fast a queue overflows. Each datagram names its socket and sequence
number, so the client can tell a lost one from a duplicate or a misdelivered one.
"""

from __future__ import annotations

import json
import sys

import pytest

from netstack.services import ServiceRunner
from netstack.services.udp_echo import Handler
from tests.interop.kernel_peer import requires_root
from tests.interop.stack_in_namespace import STACK_IP, StackInNamespace

pytestmark = requires_root
api = pytest.importorskip("netstack.api")

SOCKETS = 50
DATAGRAMS = 10_000
WINDOW = 4
FIRST_PORT = 20_000

CLIENT = """
import json, selectors, socket, sys, time
host, first_port, n, total, window = sys.argv[1], *map(int, sys.argv[2:6])
per_socket = total // n
def payload(i, seq):
    return f"{i}:{seq}:".encode().ljust(64, b".")
selector = selectors.DefaultSelector()
socks, next_seq, in_flight = [], [0] * n, [set() for _ in range(n)]
sent = received = unexpected = 0
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, first_port + i))
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ, i)
    socks.append(s)
def refill(i):
    global sent
    while len(in_flight[i]) < window and next_seq[i] < per_socket:
        socks[i].send(payload(i, next_seq[i]))
        in_flight[i].add(next_seq[i])
        next_seq[i] += 1
        sent += 1
for i in range(n):
    refill(i)
last_progress = time.monotonic()
while received < total and time.monotonic() - last_progress < 5:
    for key, _ in selector.select(1.0):
        i = key.data
        while True:
            try:
                data = socks[i].recv(2048)
            except BlockingIOError:
                break
            seq = int(data.split(b":")[1]) if data.count(b":") >= 2 else -1
            if seq in in_flight[i] and data == payload(i, seq):
                in_flight[i].discard(seq)
                received += 1
                last_progress = time.monotonic()
            else:
                unexpected += 1
        refill(i)
print(json.dumps({"sent": sent, "received": received, "unexpected": unexpected,
                  "lost": sum(len(f) for f in in_flight)}))
"""


def test_one_epoll_loop_serves_50_sockets_and_loses_nothing(tmp_path):
    handlers = [Handler() for _ in range(SOCKETS)]
    bindings = [(h, FIRST_PORT + i) for i, h in enumerate(handlers)]
    with StackInNamespace(tmp_path, min_frames=DATAGRAMS) as bench, ServiceRunner(bench.host, bindings):
        result = bench.ns.run([sys.executable, "-c", CLIENT, STACK_IP, str(FIRST_PORT),
                               str(SOCKETS), str(DATAGRAMS), str(WINDOW)], timeout=120)
        report = json.loads(result.stdout)
        counters = dict(bench.counters)
    assert report == {"sent": DATAGRAMS, "received": DATAGRAMS, "unexpected": 0, "lost": 0}, report
    assert [h.echoed for h in handlers] == [DATAGRAMS // SOCKETS] * SOCKETS
    assert counters.get("udp.rx.datagrams", 0) >= DATAGRAMS
    drops = {k: v for k, v in counters.items()
             if v and (k == "udp.drop.rcvbuf_full" or k.startswith(("ring.drop", "port.drop")))}
    assert not drops, drops
