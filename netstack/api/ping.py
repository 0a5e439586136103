"""ping, as a function: send ICMP echo requests from a running stack and time the replies.

    result = ping(engine, "192.0.2.1", count=3)
    print(result)        # 3 sent, 3 received, 0% loss, rtt min/avg/max 0.21/0.25/0.30 ms

The caller's thread never touches the stack: sending and registering the reply listener are
handed to the engine's loop thread (engine.call), and replies come back through a
threading.Condition that the listener, running on the loop thread, notifies.
Round-trip times are measured on the engine's clock, so they are exact under a VirtualClock.
"""

import itertools
import threading
import time
import weakref
from dataclasses import dataclass, field
from ipaddress import IPv4Address

# Different identifiers keep concurrent ping() calls from seeing each other's replies. Each
# stack counts from a start drawn from its seed (Stack.random), so a seeded run repeats them.
_identifiers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # stack -> counter
_identifiers_lock = threading.Lock()  # loop threads of several stacks may ask at once


def next_identifier(stack) -> int:
    """The next echo identifier of `stack`."""
    with _identifiers_lock:
        counter = _identifiers.get(stack)
        if counter is None:
            start = stack.random.generator("icmp.echo_id").randrange(0x10000)
            counter = _identifiers[stack] = itertools.count(start)
        return next(counter) & 0xFFFF


@dataclass
class PingResult:
    destination: IPv4Address
    sent: int = 0
    received: int = 0
    rtts: list[float] = field(default_factory=list)  # seconds, in sequence order

    @property
    def loss(self) -> float:
        """Packet loss in percent."""
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 0.0

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.received} received, {self.loss:.0f}% loss"
        if self.rtts:
            ms = [r * 1000 for r in self.rtts]
            text += f", rtt min/avg/max {min(ms):.2f}/{sum(ms) / len(ms):.2f}/{max(ms):.2f} ms"
        return text


def echo_payload(size: int) -> bytes:
    """The bytes we send, a counting pattern like ping's, so a damaged reply is noticed."""
    return bytes(i & 0xFF for i in range(size))


def ping(engine, dst, count: int = 4, size: int = 56, interval: float = 1.0,
         timeout: float = 2.0, identifier: int | None = None) -> PingResult:
    """Send `count` echo requests of `size` payload bytes, `interval` seconds apart, then wait
    up to `timeout` seconds after the last one for the replies."""
    destination = IPv4Address(dst)
    if identifier is None:
        identifier = engine.call(lambda stack, now: next_identifier(stack))
    ident = identifier & 0xFFFF
    payload = echo_payload(size)
    replied = threading.Condition()
    sent_at: dict[int, float] = {}  # sequence -> engine time; written on the loop thread
    rtts: dict[int, float] = {}

    def on_reply(src, sequence: int, reply_payload, now: float) -> None:
        # Runs on the loop thread. Ignore strays, duplicates and damaged replies.
        if src != destination or sequence not in sent_at or sequence in rtts:
            return
        if bytes(reply_payload) != payload:
            return
        with replied:
            rtts[sequence] = now - sent_at[sequence]
            replied.notify_all()

    def send(sequence: int):
        def on_loop(stack, now: float) -> None:
            sent_at[sequence] = now
            stack.icmp.send_echo(destination, ident, sequence, payload, now)
        return on_loop

    engine.call(lambda stack, now: stack.icmp.add_echo_listener(ident, on_reply))
    try:
        for sequence in range(1, count + 1):  # ping numbers from 1, too
            engine.call(send(sequence))
            if sequence < count:
                time.sleep(interval)  # pacing, not waiting for a condition
        with replied:
            replied.wait_for(lambda: len(rtts) == count, timeout)
            answered = dict(rtts)
    finally:
        remove = getattr(engine.stack.icmp, "remove_echo_listener", None)
        if remove is not None:
            engine.call(lambda stack, now: remove(ident))
    return PingResult(
        destination=destination,
        sent=count,
        received=len(answered),
        rtts=[answered[s] for s in sorted(answered)],
    )
