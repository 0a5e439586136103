"""What a running stack answers: request type -> handler(server, args) -> JSON-able.

Each runs on the loop thread (server.py), reads the stack through netstack/ctl/views.py or
the tunables tree, and returns plain data; the tools (tools.py) print it. To add a tool, add
a handler here and a command there.
"""

from __future__ import annotations

import os
import time
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from netstack.ctl import live, perf, tunables, views
from netstack.ctl.segment import PROTOCOL_VERSION
from netstack.stack import MIN_MTU
from netstack.wire.ethernet import parse_mac


def hello(server, args: dict) -> dict[str, Any]:
    return {"version": PROTOCOL_VERSION, "name": server.name}


def info(server, args: dict) -> dict[str, Any]:
    """What `netstack ps` shows of one stack."""
    stack = server.stack
    return {"name": server.name, "pid": os.getpid(), "port": server.engine.port.name,
            "address": str(stack.config.address), "mac": stack.config.mac.hex(":"),
            "passes": getattr(server.engine, "passes", 0), "time": time.time()}


def counters(server, args: dict) -> dict[str, int]:
    """Every named counter, taken between two packets (`netstack stat`)."""
    return server.stack.counters.snapshot()


def sockets(server, args: dict) -> list[dict[str, Any]]:
    return views.sockets(server.stack, server.now, tcp=bool(args.get("tcp", True)),
                         udp=bool(args.get("udp", True)), info=bool(args.get("info", False)),
                         memory=bool(args.get("memory", False)),
                         owners=bool(args.get("owners", False)))


def ip(server, args: dict) -> list[dict[str, Any]]:
    what, ifname = args.get("object", "addr"), server.engine.port.name
    action = args.get("action", "show")
    if action != "show":
        _change(server.stack, what, action, args)
    if what == "addr":
        return views.ip_addr(server.stack, ifname)
    if what == "route":
        return views.ip_route(server.stack, ifname)
    if what == "neigh":
        return views.ip_neigh(server.stack, ifname, server.now)
    raise ValueError(f"ip {what}: expected addr, route or neigh")


def _change(stack, what: str, action: str, args: dict) -> None:
    """`ip route add|del`, `ip neigh add|del`: live, as Linux's; ValueError says what is wrong."""
    if what == "route" and action == "add":
        network = IPv4Network(args["dst"])
        via = IPv4Address(args["via"]) if args.get("via") else None
        if via is not None and via not in stack.config.address.network:
            raise ValueError(f"gateway {via} is not on {stack.config.address.network}")
        mtu = int(args["mtu"]) if args.get("mtu") else None
        if mtu is not None and not MIN_MTU <= mtu <= stack.config.mtu:
            raise ValueError(f"mtu {mtu} is outside {MIN_MTU}..{stack.config.mtu}")
        stack.routes.add(network, via, mtu=mtu)
    elif what == "route" and action == "del":
        if not stack.routes.remove(IPv4Network(args["dst"])):
            raise ValueError(f"no route to {args['dst']}")
    elif what == "neigh" and action == "add":
        stack.arp.add_static(IPv4Address(args["dst"]), parse_mac(args["lladdr"]))
    elif what == "neigh" and action == "del":
        if not stack.arp.remove(IPv4Address(args["dst"])):
            raise ValueError(f"no neighbour {args['dst']}")
    else:
        raise ValueError(f"ip {what} {action}: expected route or neigh, add or del")


def sysctl(server, args: dict) -> list[dict[str, Any]]:
    """Get every tunable (no name), one, or set one (`value`)."""
    stack, name = server.stack, args.get("name")
    chosen = [tunables.find(name)] if name else list(tunables.TUNABLES.values())
    if name and "value" in args:
        tunables.set_value(stack, chosen[0], args["value"])
    return [t.as_dict() | {"value": tunables.get_value(stack, t)} for t in chosen]


HANDLERS = {"hello": hello, "info": info, "counters": counters, "sockets": sockets, "ip": ip,
            "sysctl": sysctl}
HANDLERS.update(perf.HANDLERS)  # top, traffic, pool, rings
HANDLERS.update(live.HANDLERS)  # capture, events, kni
