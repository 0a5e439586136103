"""What lab 10's tests are written with: two whole stacks on one emulated cable, in virtual
time (netstack/testing/lockstep.py), each of them either **yours** (every unit the grader
names: with `--impl all-student`, every unit of every lab whose files are in your folder) or
**the reference** (no unit replaced).

    pair = Pair(variant, left="yours", right="reference", loss=0.02)
    digest = pair.transfer(pair.left, pair.right, 1 << 20)   # a TCP transfer, sha256 back

Each call into the stacks is one step of a numbered transcript (labs.kit.checks.Checks),
with the CPU it may take, the output your code printed during it, and the variant and the
command that reruns the test when it fails. Addresses and MACs are the variant's: your
stack is `our_ip`/`our_mac`, the other one `peer_ip`/`peer_mac` (both yours when the
pairing is yours <-> yours).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import os
import traceback
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from labs.kit import Variant, graded_impl
from labs.kit.checks import Checks
from labs.kit.stack import StepOverBudget, captured_output, limit_cpu
from netstack.clock import VirtualClock
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp.config import TcpConfig
from netstack.stages.tcp.state import TcpState
from netstack.testing.lockstep import Lockstep

MB = 1 << 20
TRANSFER_CPU_SECONDS = 30.0  # a megabyte through two Python stacks: about 2 s with the reference
_cables = itertools.count()


def payload(size: int, salt: int) -> bytes:
    """`size` bytes no two transfers share (so a stream mixed up with another shows)."""
    block = hashlib.sha256(b"lab10/%d" % salt).digest() * 64  # 2 KB
    return (block * (size // len(block) + 1))[:size]


class _EngineErrors(logging.Handler):
    """The exceptions an engine caught and logged during a step (the first one in full)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.first: str | None = None
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()
            if record.exc_info:
                self.first += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()


class Node:
    """One stack on the cable: its engine, its addresses, and whose units it runs."""

    def __init__(self, name: str, whose: str, engine: Engine, ip: IPv4Address) -> None:
        self.name, self.whose, self.engine, self.ip = name, whose, engine, ip

    @property
    def stack(self) -> Stack:
        return self.engine.stack

    def __str__(self) -> str:
        return f"{self.whose} stack {self.ip}"


class Pair(Checks):
    """Two stacks, `left` at the variant's our_ip and `right` at its peer_ip, on a memory
    cable that loses `loss` of the frames each way (at random, from the variant's seed) and
    delays each by `delay` seconds."""

    def __init__(self, variant: Variant, left: str = "yours", right: str = "reference",
                 loss: float = 0.0, delay: float = 0.002, tcp: dict[str, Any] | None = None
                 ) -> None:
        super().__init__(f"{left} <-> {right}, {loss:.0%} loss each way", variant)
        self.clock = VirtualClock()
        cable = f"lab10-{os.getpid()}-{next(_cables)}"
        link = f"delay={delay}" + (f"&loss={loss}" if loss else "")
        nodes = []
        for name, whose, mac, ip, seed in (
                ("left", left, variant.our_mac, variant.our_ip, variant.stack_seed),
                ("right", right, variant.peer_mac, variant.peer_ip, variant.stack_seed + 1)):
            impl = graded_impl() if whose == "yours" else {}
            config = StackConfig(mac=mac, address=IPv4Interface(f"{ip}/{variant.prefix}"),
                                 random_seed=seed,
                                 tcp=TcpConfig(**(tcp or {})), impl=impl)
            pool = MbufPool(1024)
            stack = self.run(f"make {whose} stack at {ip}", lambda c=config, p=pool: Stack(c, p))
            port = open_port(f"memory:{cable}?{link}", mac=mac, pool=pool,
                             counters=stack.counters)
            nodes.append(Node(name, whose, Engine(stack, port, pool, clock=self.clock), ip))
        self.left, self.right = nodes
        self.net = Lockstep([n.engine for n in nodes], self.clock)
        self.log(f"{self.left} and {self.right} on one cable ({link})")

    # --- steps ----------------------------------------------------------------------------
    def step(self, description: str, action: Callable[[], Any],
             budget: float = TRANSFER_CPU_SECONDS) -> Any:
        """One step that may run both stacks for a while: a crash, a loop or a stuck
        network fails it, with the transcript so far."""
        output = io.StringIO()
        caught = _EngineErrors()
        engine_log = logging.getLogger("netstack.engine")
        engine_log.addHandler(caught)
        try:
            with captured_output(output), limit_cpu(budget):
                value = action()
        except StepOverBudget:
            self.fail(f"{description}: took more than {budget:g} s of CPU: an infinite loop?",
                      output.getvalue())
        except Exception as exc:
            self.fail(f"{description}: your code raised {type(exc).__name__}: {exc}\n"
                      + traceback.format_exc().rstrip(), output.getvalue())
        finally:
            engine_log.removeHandler(caught)
        if caught.first is not None:
            # An exception inside a stack's pass: the engine logs it and goes on (a real
            # stack must not die of one bad frame), so the test would only see data missing.
            self.fail(f"{description}: an engine pass raised (the first of "
                      f"{caught.count}):\n{caught.first}", output.getvalue())
        self._printed = output.getvalue()
        self.now = self.clock.now()
        return value

    def call(self, node: Node, description: str, fn: Callable[[Stack, float], Any]) -> Any:
        return self.step(f"{node.whose}: {description}", lambda: self.net.call(node.engine, fn))

    def run_for(self, seconds: float) -> None:
        self.step(f"run {seconds:g} s", lambda: self.net.run_for(seconds))
        self.log(f"ran {seconds:g} s", self._printed)

    def close(self) -> None:
        self.net.close()

    # --- what the tests do ------------------------------------------------------------------
    def ping(self, src: Node, dst: Node, count: int, size: int = 56, identifier: int = 0x4C41
             ) -> list[int]:
        """`count` echo requests of `size` data bytes, 200 ms apart; the sequences answered."""
        answered: list[int] = []
        data = payload(size, identifier)
        self.call(src, f"listen for echo replies id {identifier}",
                  lambda stack, now: stack.icmp.add_echo_listener(
                      identifier, lambda s, seq, got, now: answered.append(seq)
                      if bytes(got) == data else None))
        for seq in range(1, count + 1):
            self.call(src, f"ping {dst.ip} seq {seq}", lambda stack, now, seq=seq:
                      stack.icmp.send_echo(dst.ip, identifier, seq, data, now))
            self.step("run 0.2 s", lambda: self.net.run_for(0.2))
        self.log(f"{src} pinged {dst.ip} {count} times, {size} bytes each: "
                 f"replies to {sorted(answered)}", self._printed)
        return answered

    def udp_echo(self, client: Node, server: Node, count: int, port: int = 7) -> list[bytes]:
        """`server` echoes every datagram on `port`; `client` sends `count` of them, 100 ms
        apart, and collects what comes back."""
        ep = self.call(server, f"bind UDP port {port}",
                       lambda stack, now: stack.udp.bind(None, port))

        def echo(now: float) -> None:  # the server's application, in each of its passes
            while ep.queue:
                data, source = ep.take()
                server.stack.udp.send(ep, data, source, now)

        server.engine.add_pass_hook(echo)
        mine = self.call(client, "bind an ephemeral UDP port",
                         lambda stack, now: stack.udp.bind(None, 0))
        sent = [payload(100 + 37 * n, 1000 + n) for n in range(count)]
        for n, data in enumerate(sent):
            self.call(client, f"send datagram {n} ({len(data)} bytes) to {server.ip}:{port}",
                      lambda stack, now, data=data: stack.udp.send(mine, data,
                                                                   (server.ip, port), now))
            self.step("run 0.1 s", lambda: self.net.run_for(0.1))
        back = [bytes(data) for data, _ in mine.queue]
        self.log(f"{client} sent {count} datagrams to {server}'s echo: {len(back)} came back",
                 self._printed)
        return back

    def transfer(self, sender: Node, receiver: Node, size: int, port: int = 5001,
                 limit: float = 300.0) -> tuple[str, str]:
        """`sender` connects to `receiver` and writes `size` bytes, then closes; `receiver`
        reads until the end. (sha256 sent, sha256 received) once both sides closed."""
        data = payload(size, port)
        listener = self.call(receiver, f"listen on TCP port {port}",
                             lambda stack, now: stack.tcp.listen(None, port, 4))
        client = self.call(sender, f"connect to {receiver.ip}:{port}",
                           lambda stack, now: stack.tcp.connect(None, 0, receiver.ip, port, now))
        sent, received, server = 0, bytearray(), []

        def writer(now: float) -> None:
            nonlocal sent
            if client.state not in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT) or client.app_closed:
                return
            if sent < size and client.writable:
                sent += client.write_app(memoryview(data)[sent:sent + client.writable])
                client.app_did_write(now)
            if sent == size:
                client.close(now)

        def reader(now: float) -> None:
            if not server and listener.accept_queue:
                server.append(listener.accept_queue.popleft())
            if server and not server[0].app_closed:
                if server[0].readable:
                    received.extend(server[0].read_app(1 << 20))
                    server[0].app_did_read(now)
                if server[0].at_eof:
                    server[0].close(now)

        sender.engine.add_pass_hook(writer)
        receiver.engine.add_pass_hook(reader)
        started = self.clock.now()
        done = self.step(f"{sender.whose} sends {size} bytes to {receiver.whose}, then closes",
                         lambda: self.net.run_for(limit, stop=lambda: bool(server)
                                                  and server[0].app_closed))
        self.step("run 1 s more (the last FIN and ACK)", lambda: self.net.run_for(1.0))
        took = self.clock.now() - 1.0 - started
        expected = hashlib.sha256(data).hexdigest()
        got = hashlib.sha256(received).hexdigest()
        if not done:
            self.fail(f"after {limit:g} s of virtual time the receiver has {len(received)} of "
                      f"{size} bytes and has not seen the end (sender {client.state.name}, "
                      f"{sent} bytes written)", self._printed)
        self.log(f"{len(received)} bytes in {took:.3f} s virtual, sha256 {got[:16]}... "
                 f"(sent {expected[:16]}...)", self._printed)
        return expected, got
