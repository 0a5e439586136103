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

The registry (registry.py) imports nothing heavy, so `netstack.config` can check names
against it.
"""

from __future__ import annotations

from typing import Any

from netstack.services.registry import SERVICES, ServiceInfo, make_handler, make_handlers


def __getattr__(name: str) -> Any:
    # ServiceRunner needs netstack.api; importing it only when asked keeps the registry light.
    if name == "serve_datagrams":
        import netstack.services.runner

        return getattr(netstack.services.runner, name)
    if name in ("ServiceRunner", "serve_streams"):  # ServiceRunner runs both kinds
        import netstack.services.stream_runner

        return getattr(netstack.services.stream_runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SERVICES", "ServiceInfo", "ServiceRunner", "make_handler", "make_handlers",
           "serve_datagrams", "serve_streams"]
