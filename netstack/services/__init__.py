"""Services written only against the public socket API (netstack.api): they show how to use it.

    udp-echo     port 7    every datagram goes back to its sender, byte for byte (RFC 862)
    udp-discard  port 9    every datagram is read and thrown away (RFC 863)
    daytime      port 13   the date and time as text (RFC 867), over UDP *and* TCP: any
                           datagram is answered, and a TCP client gets one line
    tcp-echo     port 7    every byte comes back (RFC 862)
    tcp-discard  port 9    every byte is read and dropped (RFC 863)
    tcp-chargen  port 19   the RFC 864 character pattern, until the client closes
    http         port 80   a small HTTP/1.1 server: /, /bytes/N, POST /echo
    tcp-hold     port 7    echo too, but event-driven: one thread and one epoll hold
                           thousands of idle connections (what `netstack bench` counts)

Each service module has a handler class and `serve(host, port, stop)`, which serves until the
`threading.Event` `stop` is set. `netstack run --service udp-echo:7 --service http:80` runs
the datagram services and the simple stream services (tcp-echo, daytime) on the engine's
loop thread (runner.py LoopServices, loop_streams.py), and the others (http) from an accept
loop with a thread per connection (stream_runner.py); `ServiceRunner` (stream_runner.py)
starts them all.

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
    )
}


def make_handlers(name: str) -> list[Any]:
    """Fresh handlers for the service `name` (a key of SERVICES): UDP part first."""
    info = SERVICES[name]
    return [importlib.import_module(f"netstack.services.{module}").Handler()
            for module in (info.module, info.tcp_module) if module is not None]


def make_handler(name: str) -> Any:
    """A fresh handler for the service `name`: its UDP part if it has one."""
    return make_handlers(name)[0]


def __getattr__(name: str) -> Any:
    # ServiceRunner needs netstack.api; importing it only when asked keeps the registry light.
    if name == "serve_datagrams":
        from netstack.services import runner

        return getattr(runner, name)
    if name in ("ServiceRunner", "serve_streams"):  # ServiceRunner runs both kinds
        from netstack.services import stream_runner

        return getattr(stream_runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SERVICES", "ServiceInfo", "ServiceRunner", "make_handler", "make_handlers",
           "serve_datagrams", "serve_streams"]
