"""Test doubles for the engine: tiny "stacks" with the Stack's engine-facing surface.

The engine only needs start, receive, advance, next_deadline, outgoing, to_kni and counters,
so these stand-ins let the engine be tested without any protocol code.
"""

from collections import deque

from netstack.counters import Counters
from netstack.mbuf import MbufPool

BROADCAST = b"\xff" * 6
ETHERTYPE_EXPERIMENTAL = b"\x88\xb5"  # IEEE 802 local experimental ethertype


def frame(dst: bytes, src: bytes, payload: bytes) -> bytes:
    return dst + src + ETHERTYPE_EXPERIMENTAL + payload


class EchoStack:
    """Sends `hello` frames on start, echoes every frame whose payload starts with b"ping"
    (turning it into b"pong..."), and remembers everything it received."""

    def __init__(self, pool: MbufPool, mac: bytes, hello: list[bytes] = (), to_kni: bool = False):
        self.pool = pool
        self.mac = mac
        self.hello = list(hello)
        self.forward_to_kni = to_kni
        self.counters = Counters()
        self.outgoing: deque = deque()
        self.to_kni: deque = deque()
        self.received: list[bytes] = []
        self.started_at: float | None = None
        self.deadline: float | None = None

    def send(self, data: bytes) -> None:
        m = self.pool.alloc()
        assert m is not None, "test pool exhausted"
        m.set_data(data)
        self.outgoing.append(m)

    def start(self, now: float) -> None:
        self.started_at = now
        for payload in self.hello:
            self.send(frame(BROADCAST, self.mac, payload))

    def receive(self, data, now: float) -> None:
        data = bytes(data)  # the engine reuses the buffer after we return
        self.received.append(data)
        payload = data[14:]
        if payload.startswith(b"ping"):
            self.send(frame(data[6:12], self.mac, b"pong" + payload[4:]))
        elif self.forward_to_kni:
            self.to_kni.append(data)

    def advance(self, now: float) -> None:
        if self.deadline is not None and now >= self.deadline:
            self.deadline = None
            self.send(frame(BROADCAST, self.mac, b"timer"))

    def next_deadline(self) -> float | None:
        return self.deadline
