"""The services by name: default port, the modules of their UDP and TCP parts, a summary.

It imports nothing heavy (handlers are imported when made), so `netstack.config` can check
names against it, and the runners can make handlers without importing the package back.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    default_port: int
    module: str | None  # the UDP part, under netstack.services: `Handler` and `serve`
    summary: str
    tcp_module: str | None = None  # the TCP part: a stream `Handler` and `serve`


SERVICES: dict[str, ServiceInfo] = {
    info.name: info for info in (
        ServiceInfo("udp-echo", 7, "udp_echo", "return every datagram to its sender"),
        ServiceInfo("udp-discard", 9, "udp_discard", "read and drop every datagram"),
        ServiceInfo("daytime", 13, "daytime", "the date and time, over UDP and TCP",
                    "tcp_daytime"),
        ServiceInfo("tcp-echo", 7, None, "return every byte to its sender", "tcp_echo"),
        ServiceInfo("tcp-discard", 9, None, "read and drop every byte", "tcp_discard"),
        ServiceInfo("tcp-chargen", 19, None, "send the RFC 864 pattern until the client "
                    "closes", "tcp_chargen"),
        ServiceInfo("http", 80, None, "HTTP/1.1: /, /bytes/N, POST /echo", "http"),
        ServiceInfo("tcp-hold", 7, None, "echo, holding thousands of idle connections on "
                    "one thread", "tcp_hold"),
        ServiceInfo("iperf3", 5201, None, "iperf3's server: TCP and UDP tests, -R, -P "
                    "(the real iperf3 client accepts it)", "iperf3.server"),
    )
}


def service_of(handler: Any) -> str:
    """The service a handler belongs to (`netstack ss -e` names a socket's owner by it)."""
    module = type(handler).__module__
    for info in SERVICES.values():
        if any(part and module.endswith("." + part) for part in (info.module, info.tcp_module)):
            return info.name
    return type(handler).__name__


def make_handlers(name: str) -> list[Any]:
    """Fresh handlers for the service `name` (a key of SERVICES): UDP part first."""
    info = SERVICES[name]
    return [importlib.import_module(f"netstack.services.{module}").Handler()
            for module in (info.module, info.tcp_module) if module is not None]


def make_handler(name: str) -> Any:
    """A fresh handler for the service `name`: its UDP part if it has one."""
    return make_handlers(name)[0]
