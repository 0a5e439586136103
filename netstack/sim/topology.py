"""Networks of hosts, switches and links, built from a scenario's `topology` table.

    point-to-point   hosts a and b on one link, "path" (up: a -> b)
    dumbbell         senders s0..sN-1 and receivers r0..rN-1, each on an access link to a
                     switch ("left" or "right"); the switches joined by "bottleneck"
                     (up: left -> right, the senders' data direction)
    graph            any nodes (hosts or switches) and links the scenario lists

Every host is on 192.0.2.0/24 (one broadcast domain: switches are L2), so hosts find each
other with real ARP. Each link is two LinkDirections; `up` carries frames from its `a` end
to its `b` end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netstack.errors import ConfigError
from netstack.sim.events import Simulator, derive_seed
from netstack.sim.link.direction import LinkDirection
from netstack.sim.link.spec import LinkSpec
from netstack.sim.node import SimHost, Switch
from netstack.sim.packet import Packet
from netstack.sim.record import LinkRecord

SUBNET = "192.0.2"
PREFIX = 24


@dataclass
class Link:
    name: str
    a: str  # node names
    b: str
    up: LinkDirection  # a -> b
    down: LinkDirection  # b -> a


@dataclass
class Network:
    sim: Simulator
    hosts: dict[str, SimHost] = field(default_factory=dict)
    switches: dict[str, Switch] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    link_records: list[LinkRecord] = field(default_factory=list)

    def address_of(self, host: str) -> str:
        return str(self.hosts[host].address.ip)

    def start(self) -> None:
        for host in self.hosts.values():
            host.start()


# Called once per link end with (link name, node name, frames-out, frames-in); returns the
# pair of functions to use instead (a pcap writer wraps them, for instance).
EndHook = Callable[[str, str, Callable[[Packet], None], Callable[[Packet], None]],
                   tuple[Callable[[Packet], None], Callable[[Packet], None]]]


class NetworkBuilder:
    def __init__(self, sim: Simulator, host_options: dict[str, Any] | None = None,
                 crn: bool = False, observer_for: Callable[[str, LinkSpec], Any] | None = None,
                 end_hook: EndHook | None = None,
                 on_drop: Callable[[Packet, str], None] | None = None) -> None:
        self.net = Network(sim)
        self.host_options = host_options or {}
        self.crn = crn
        self.observer_for = observer_for or (lambda name, spec: None)
        self.end_hook = end_hook
        self.on_drop = on_drop  # every packet any link discards (a queue or a loss)

    def host(self, name: str, address: str) -> SimHost:
        if name in self.net.hosts or name in self.net.switches:
            raise ConfigError(f"topology: node {name!r} is defined twice")
        sim = self.net.sim
        host = SimHost(sim, name, address, derive_seed(sim.seed, f"host/{name}"),
                       **self.host_options)
        self.net.hosts[name] = host
        return host

    def switch(self, name: str) -> Switch:
        if name in self.net.hosts or name in self.net.switches:
            raise ConfigError(f"topology: node {name!r} is defined twice")
        switch = Switch(self.net.sim, name)
        self.net.switches[name] = switch
        return switch

    def link(self, name: str, a: str, b: str, up: LinkSpec, down: LinkSpec) -> Link:
        net = self.net
        for end in (a, b):
            if end not in net.hosts and end not in net.switches:
                raise ConfigError(f"links.{name}: no node named {end!r}")
        if name in net.links:
            raise ConfigError(f"links.{name}: defined twice")
        inbox: dict[str, Callable[[Packet], None]] = {}  # node -> what the link delivers to

        def direction(spec: LinkSpec, label: str, to: str) -> LinkDirection:
            record = LinkRecord(f"{name}.{label}")
            net.link_records.append(record)
            return LinkDirection(net.sim, spec, name=record.name,
                                 deliver=lambda packet: inbox[to](packet),
                                 observer=self.observer_for(record.name, spec), crn=self.crn,
                                 record=record, on_drop=self.on_drop)

        up_dir, down_dir = direction(up, "up", b), direction(down, "down", a)
        for node, out in ((a, up_dir), (b, down_dir)):
            send: Callable[[Packet], None] = out.send
            if node in net.hosts:
                receive: Callable[[Packet], None] = net.hosts[node].receive
            else:
                receive = net.switches[node].add_port(send)  # placeholder, fixed below
            if self.end_hook is not None:
                send, receive = self.end_hook(name, node, send, receive)
            if node in net.hosts:
                host = net.hosts[node]
                if host.transmit is not None:
                    raise ConfigError(f"links.{name}: host {node!r} already has a link "
                                      "(a host has one interface; join links with a switch)")
                host.transmit = send
            else:
                net.switches[node].ports[-1] = send
            inbox[node] = receive
        link = Link(name, a, b, up_dir, down_dir)
        net.links[name] = link
        return link


def point_to_point(builder: NetworkBuilder, specs: dict[str, tuple[LinkSpec, LinkSpec]]) -> Network:
    builder.host("a", f"{SUBNET}.1/{PREFIX}")
    builder.host("b", f"{SUBNET}.2/{PREFIX}")
    builder.link("path", "a", "b", *specs["path"])
    return builder.net


def dumbbell(builder: NetworkBuilder, pairs: int,
             specs: dict[str, tuple[LinkSpec, LinkSpec]]) -> Network:
    if not 1 <= pairs <= 100:
        raise ConfigError(f"topology.pairs: must be 1..100, got {pairs}")
    builder.switch("left")
    builder.switch("right")
    builder.link("bottleneck", "left", "right", *specs["bottleneck"])
    for i in range(pairs):
        builder.host(f"s{i}", f"{SUBNET}.{i + 1}/{PREFIX}")
        builder.host(f"r{i}", f"{SUBNET}.{i + 101}/{PREFIX}")
        builder.link(f"s{i}", f"s{i}", "left", *specs[f"s{i}"])
        builder.link(f"r{i}", "right", f"r{i}", *specs[f"r{i}"])
    return builder.net


def graph(builder: NetworkBuilder, nodes: dict[str, dict], links: list[tuple[str, str, str]],
          specs: dict[str, tuple[LinkSpec, LinkSpec]]) -> Network:
    """`nodes`: name -> {"kind": "host"|"switch", "address": "192.0.2.7/24"?};
    `links`: (name, a, b), with specs[name] = (up, down)."""
    number = 1
    for name, node in nodes.items():
        kind = node.get("kind", "host")
        if kind == "switch":
            builder.switch(name)
        elif kind == "host":
            builder.host(name, node.get("address") or f"{SUBNET}.{number}/{PREFIX}")
            number += 1
        else:
            raise ConfigError(f"topology.nodes.{name}.kind: 'host' or 'switch', got {kind!r}")
    for name, a, b in links:
        builder.link(name, a, b, *specs[name])
    return builder.net
