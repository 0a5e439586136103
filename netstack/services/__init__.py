"""Services written only against the public socket API (netstack.api): they show how to use it.

    udp-echo     port 7    every datagram goes back to its sender, byte for byte (RFC 862)
    udp-discard  port 9    every datagram is read and thrown away (RFC 863)
    daytime      port 13   any datagram is answered with the date and time as text (RFC 867)

Each service module has a handler class and `serve(host, port, stop)`, which serves until the
`threading.Event` `stop` is set. `netstack run --service udp-echo:7 --service daytime:13`
runs them all from one thread and one epoll loop (`ServiceRunner`, in runner.py).

This registry imports nothing heavy, so `netstack.config` can check names against it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    default_port: int
    module: str  # under netstack.services; it defines `Handler` and `serve`
    summary: str


SERVICES: dict[str, ServiceInfo] = {
    info.name: info for info in (
        ServiceInfo("udp-echo", 7, "udp_echo", "return every datagram to its sender"),
        ServiceInfo("udp-discard", 9, "udp_discard", "read and drop every datagram"),
        ServiceInfo("daytime", 13, "daytime", "answer any datagram with the date and time"),
    )
}


def make_handler(name: str) -> Any:
    """A fresh handler for the service `name` (a key of SERVICES)."""
    module = importlib.import_module(f"netstack.services.{SERVICES[name].module}")
    return module.Handler()


def __getattr__(name: str) -> Any:
    # ServiceRunner needs netstack.api; importing it only when asked keeps the registry light.
    if name in ("ServiceRunner", "serve_datagrams"):
        from netstack.services import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SERVICES", "ServiceInfo", "ServiceRunner", "make_handler", "serve_datagrams"]
