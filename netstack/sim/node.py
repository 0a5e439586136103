"""Hosts and switches of a simulated network.

A `SimHost` is a real `Stack` (the same stages that talk to Linux) with no port and no
dispatch loop: the simulator calls it when a frame arrives and when its next timer falls
due, and hands what it sent to the link behind its interface. Around it, `host` is an
ordinary `netstack.api.Host`, so applications open the same sockets as on a TAP port.

`SimEngine` is the little of an engine that Host and the sockets use (`call`,
`call_soon_threadsafe`, pass hooks): everything runs on the simulator's single thread, so a
call runs at once, at the simulator's `now`, and a queued callback becomes an event at `now`.

A `Switch` is an L2 learning switch: it forwards at once (the links model time), learns the
source MAC of every frame, and floods broadcasts and unknown destinations.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Interface
from typing import Any

from netstack.api.host import Host
from netstack.mbuf import MbufPool
from netstack.sim.events import Simulator
from netstack.sim.packet import Packet
from netstack.stack import Stack, StackConfig
from netstack.wire.ethernet import mac_from_ip

POOL_SIZE = 2048  # mbufs per host: frames leave the stack as soon as a pass ends


class SimPort:
    """The name a Host prints for its port."""

    def __init__(self, name: str) -> None:
        self.name = name


class SimEngine:
    """What `Host` and the sockets need of an engine, on the simulator's one thread."""

    def __init__(self, node: SimHost) -> None:
        self.node = node
        self.stack = node.stack
        self.port = SimPort(f"sim:{node.name}")
        self._pass_hooks: list[Callable[[float], None]] = []
        self._stop_hooks: list[Callable[[], None]] = []
        self._control: list[Callable[[Any, float], Any]] = []

    def call(self, fn: Callable[[Any, float], Any], timeout: float | None = None) -> Any:
        """Run fn(stack, now) now and send what it produced."""
        node = self.node
        try:
            return fn(node.stack, node.sim.now)
        finally:
            node.end_pass()

    def call_soon_threadsafe(self, fn: Callable[[Any, float], Any]) -> None:
        """Run fn(stack, now) in an event at the current instant."""
        if not self._control:
            self.node.sim.at(self.node.sim.now, self._run_control)
        self._control.append(fn)

    def _run_control(self) -> None:
        node = self.node
        calls, self._control = self._control, []
        for fn in calls:
            fn(node.stack, node.sim.now)
        node.end_pass()

    def add_pass_hook(self, fn: Callable[[float], None]) -> None:
        self._pass_hooks.append(fn)

    def add_stop_hook(self, fn: Callable[[], None]) -> None:
        self._stop_hooks.append(fn)

    def stop(self) -> None:
        for hook in self._stop_hooks:
            hook()

    close = stop


class SimHost:
    """A netstack Stack with one interface, driven by the simulator."""

    def __init__(self, sim: Simulator, name: str, address: str | IPv4Interface,
                 seed: int, **stack_options: Any) -> None:
        self.sim = sim
        self.name = name
        address = IPv4Interface(address)
        config = StackConfig(mac=mac_from_ip(address.ip), address=address,
                             random_seed=seed, **stack_options)
        self.pool = MbufPool(POOL_SIZE)
        self.stack = Stack(config, self.pool)
        self.stack.flush = self._send_outgoing  # mid-pass, when a pass fills the pool
        self.mac = config.mac
        self.address = address
        self.engine = SimEngine(self)
        self.host = Host(self.engine)
        self.transmit: Callable[[Packet], None] | None = None  # set when a link is attached
        self.taps: list[Callable[[Packet, bool], None]] = []  # (packet, outgoing) observers
        self._timer_event = None
        self._pass_hooks = self.engine._pass_hooks

    def start(self) -> None:
        self.stack.start(self.sim.now)
        self.end_pass()

    def receive(self, packet: Packet) -> None:
        """A frame arrives from the link: one engine pass for it."""
        now = self.sim.now
        for tap in self.taps:
            tap(packet, False)
        stack = self.stack
        stack.begin_burst(coalesce=False)  # one frame per pass: nothing to merge it with
        stack.receive(packet.data, now)
        stack.end_burst(now)
        self.end_pass()

    def _on_timer(self) -> None:
        self._timer_event = None
        self.stack.advance(self.sim.now)
        self.end_pass()

    def end_pass(self) -> None:
        """What the engine does after dispatching: owed ACKs, transmit, wake sockets, and
        ask to be called again when the next timer is due."""
        now = self.sim.now
        stack = self.stack
        stack.end_pass(now)
        if stack.outgoing:
            self._send_outgoing()
        for hook in self._pass_hooks:
            hook(now)
        deadline = stack.next_deadline()
        if deadline is not None:
            event = self._timer_event
            if event is None or deadline < event.time:
                if event is not None:
                    event.cancel()
                self._timer_event = self.sim.at(max(deadline, now), self._on_timer)

    def _send_outgoing(self) -> None:
        outgoing, free, now = self.stack.outgoing, self.pool.free, self.sim.now
        transmit, taps = self.transmit, self.taps
        while outgoing:
            m = outgoing.popleft()
            packet = Packet(bytes(m.data()), now)
            free(m)
            for tap in taps:
                tap(packet, True)
            if transmit is not None:
                transmit(packet)


class Switch:
    """An L2 learning switch: forwards each frame at once on the port its destination MAC
    was last seen on; floods broadcasts and unknown destinations."""

    def __init__(self, sim: Simulator, name: str) -> None:
        self.sim = sim
        self.name = name
        self.ports: list[Callable[[Packet], None]] = []  # port number -> transmit
        self.table: dict[bytes, int] = {}  # MAC -> port number
        self.flooded = 0

    def add_port(self, transmit: Callable[[Packet], None]) -> Callable[[Packet], None]:
        """Attach a link's sending side; returns the receive function for that port."""
        number = len(self.ports)
        self.ports.append(transmit)
        return lambda packet: self.receive(packet, number)

    def receive(self, packet: Packet, in_port: int) -> None:
        data = packet.data
        self.table[data[6:12]] = in_port
        out = self.table.get(data[0:6])
        if out is not None:
            if out != in_port:
                self.ports[out](packet)
            return
        self.flooded += 1
        for number, transmit in enumerate(self.ports):
            if number != in_port:
                transmit(packet.copy())
