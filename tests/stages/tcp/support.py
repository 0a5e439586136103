"""Helpers for the TCP stage tests: a stack with TCP attached, a peer, two linked stacks."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from types import SimpleNamespace

from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp import TcpConfig, TcpStage
from netstack.testing import Harness, TcpPeer
from netstack.units import resolve_units
from netstack.wire.ipv4 import PROTO_TCP

from .. import common
from ..common import OUR_MAC, PEER_IP, PEER_MAC

STACK_PORT = 80
PEER_PORT = 40000

# How harnesses and links built here drive their stacks: "immediate" or "pass" (as the
# engine does). conftest.py's `harness_mode` fixture sets it for each test.
HARNESS_MODE = "immediate"
ENGINE_BURST = 32  # frames per pass: Engine(burst=32), engine/loop.py


def graded_impl() -> dict:
    """The units under test, as StackConfig(impl=...) takes them: what `--impl` named
    (tests/conftest.py fills tests/stages/common.py's GRADED_IMPL), {} for the references."""
    return dict(common.GRADED_IMPL)


def units_under_test() -> SimpleNamespace:
    """Every unit's implementation under test (`.tcp_sender`, `.tcp_rto`...)."""
    return resolve_units(graded_impl())


def attach_tcp(stack: Stack, config: TcpConfig | None = None,
               secret: bytes = b"test secret") -> TcpStage:
    """A TCP stage with this test's config, and a fixed ISN secret in place of the stack's."""
    stack.tcp = TcpStage(stack, secret=secret, config=config)  # type: ignore[attr-defined]
    stack.ipv4.register_protocol(PROTO_TCP, stack.tcp)  # type: ignore[attr-defined]
    return stack.tcp  # type: ignore[attr-defined]


def make_tcp_stack(config: TcpConfig | None = None, pool_size: int = 512, **overrides) -> Stack:
    settings = {
        "mac": OUR_MAC,
        "address": IPv4Interface("192.0.2.2/24"),
        "gateway": PEER_IP,
        "static_arp": {PEER_IP: PEER_MAC},
        "impl": graded_impl(),
    }
    settings.update(overrides)
    stack = Stack(StackConfig(**settings), MbufPool(pool_size))
    attach_tcp(stack, config)
    return stack


def make_peer(config: TcpConfig | None = None, isn: int | None = 1000, port: int = STACK_PORT,
              **overrides) -> tuple[Harness, TcpPeer, TcpStage]:
    """A harness around a TCP stack, a TcpPeer talking to `port`, and the stage. With
    `isn`, every connection of the stack starts there (so transcripts are predictable)."""
    stack = make_tcp_stack(config, **overrides)
    tcp: TcpStage = stack.tcp  # type: ignore[attr-defined]
    if isn is not None:
        fixed = isn
        tcp.isn_hook = lambda *_: fixed
    harness = Harness(stack, mode=HARNESS_MODE)
    return harness, TcpPeer(harness, stack_port=port, port=PEER_PORT), tcp


def isn_hook(value: int) -> Callable[..., int]:
    return lambda *_: value


A_IP = IPv4Address("192.0.2.2")
B_IP = IPv4Address("192.0.2.1")
A_MAC = OUR_MAC
B_MAC = PEER_MAC


def two_stacks(config: TcpConfig | None = None, pool_size: int = 2048) -> tuple[Stack, Stack]:
    """Stack A (192.0.2.2) and stack B (192.0.2.1), each knowing the other's MAC."""
    a = Stack(StackConfig(mac=A_MAC, address=IPv4Interface("192.0.2.2/24"),
                          static_arp={B_IP: B_MAC}, impl=graded_impl()), MbufPool(pool_size))
    b = Stack(StackConfig(mac=B_MAC, address=IPv4Interface("192.0.2.1/24"),
                          static_arp={A_IP: A_MAC}, impl=graded_impl()), MbufPool(pool_size))
    attach_tcp(a, config, secret=b"a")
    attach_tcp(b, config, secret=b"b")
    return a, b


def take_frames(stack: Stack) -> list[bytes]:
    frames = []
    while stack.outgoing:
        mbuf = stack.outgoing.popleft()
        frames.append(mbuf.tobytes())
        stack.pool.free(mbuf)
    return frames


class Link:
    """A perfect link between two stacks with a fixed one-way delay, driven by a virtual
    clock: `run(until)` moves frames and fires timers in time order."""

    def __init__(self, a: Stack, b: Stack, delay: float = 0.005,
                 jitter: Callable[[], float] | None = None, mode: str | None = None) -> None:
        self.a, self.b = a, b
        self.delay = delay
        self.jitter = jitter  # extra delay per frame: frames overtake each other
        self.now = 0.0
        self.in_flight: list[tuple[float, int, Stack, bytes]] = []
        self._seq = 0
        self.filter: Callable[[Stack, bytes], list[bytes]] | None = None  # loss, duplication
        self.mode = mode or HARNESS_MODE  # "pass": each stack runs engine passes
        if self.mode == "pass":
            a.end_pass(self.now)  # running engines: each has ended passes before (TcpStage)
            b.end_pass(self.now)

    def collect(self) -> None:
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            for frame in take_frames(src):
                copies = [frame] if self.filter is None else self.filter(src, frame)
                for copy in copies:
                    self._seq += 1
                    delay = self.delay + (self.jitter() if self.jitter is not None else 0.0)
                    self.in_flight.append((self.now + delay, self._seq, dst, copy))
        self.in_flight.sort(key=lambda item: (item[0], item[1]))

    def step(self, limit: float) -> bool:
        """Advance to the next event at or before `limit`; False if there is none."""
        self.collect()
        candidates = [t for t in (self.a.next_deadline(), self.b.next_deadline()) if t is not None]
        if self.in_flight:
            candidates.append(self.in_flight[0][0])
        if not candidates or min(candidates) > limit:
            return False
        self.now = max(self.now, min(candidates))
        if self.mode == "pass":
            self._one_pass_each()
            return True
        while self.in_flight and self.in_flight[0][0] <= self.now:
            _, _, dst, frame = self.in_flight.pop(0)
            dst.receive(frame, self.now)
            self.collect()
        self.a.advance(self.now)
        self.b.advance(self.now)
        self.collect()
        return True

    def _one_pass_each(self) -> None:
        """Each stack's engine runs a pass (engine/loop.py, Engine._one_pass) for each burst
        of the frames due now: the burst, the timers, end_pass; then the outputs leave."""
        due: dict[int, list[bytes]] = {id(self.a): [], id(self.b): []}
        while self.in_flight and self.in_flight[0][0] <= self.now:
            _, _, dst, frame = self.in_flight.pop(0)
            due[id(dst)].append(frame)
        for stack in (self.a, self.b):
            frames = due[id(stack)]
            # A pass takes at most one burst (the engine's default, 32); the rest wait for
            # the next passes, at the same instant here.
            for start in range(0, max(len(frames), 1), ENGINE_BURST):
                burst = frames[start : start + ENGINE_BURST]
                if burst:
                    stack.begin_burst()
                    for frame in burst:
                        stack.receive(frame, self.now)
                    stack.end_burst(self.now)
                stack.advance(self.now)
                stack.end_pass(self.now)
        self.collect()

    def run(self, seconds: float) -> None:
        limit = self.now + seconds
        while self.step(limit):
            pass
        self.now = max(self.now, limit)
        if self.mode == "pass":
            self._one_pass_each()
            return
        self.a.advance(self.now)
        self.b.advance(self.now)
        self.collect()

    def run_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        limit = self.now + timeout
        while not condition():
            if not self.step(limit):
                raise AssertionError(f"condition not reached within {timeout} s")
