"""The listening socket every stream service starts from (tcp_hold, stream_runner,
loop_streams): SO_REUSEADDR (a restarted service may bind while old connections sit in
TIME-WAIT), bound to every address, listening, non-blocking (an epoll says when to accept)."""

from __future__ import annotations

from typing import Any

from netstack import api

ANY_ADDRESS = "0.0.0.0"


def open_listener(host: Any, port: int, backlog: int, owner: str | None = None) -> Any:
    """A non-blocking TCP socket of `host` listening on `port`; closed again if that fails
    (a port in use raises OSError EADDRINUSE). `owner` names the service (`ss -e`)."""
    sock = host.socket(api.AF_INET, api.SOCK_STREAM)
    if owner is not None:
        sock.owner = owner
    try:
        sock.setsockopt(api.SOL_SOCKET, api.SO_REUSEADDR, 1)
        sock.bind((ANY_ADDRESS, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
