"""asyncio on netstack: a SelectorEventLoop whose selector sees netstack sockets too.

Everything asyncio does with sockets (start_server, open_connection, datagram endpoints,
sock_* calls, wait_for) goes through `socket.socket` and the selector, so with the socket
module patched and `MixedSelector` underneath, it runs unmodified. Two things differ:

- `getaddrinfo` is answered by netstack's resolver on the loop, not in a thread pool:
  numeric addresses and /etc/hosts answer at once. A DNS question (`--dns`) then blocks the
  loop for its round trip, at most 2 s; a thread would only add a second path to the stack.
- `NetstackEventLoopPolicy` makes every new loop (`asyncio.run`) one of these.
"""

from __future__ import annotations

import asyncio
from typing import Any

from netstack.compat import resolver
from netstack.compat.selector import MixedSelector


class NetstackEventLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__(MixedSelector())

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> list[tuple]:
        active = resolver.current or resolver.Resolver()
        return active.getaddrinfo(host, port, family, type, proto, flags)

    async def getnameinfo(self, sockaddr: tuple, flags: int = 0) -> tuple[str, str]:
        address, port = sockaddr[:2]
        active = resolver.current or resolver.Resolver()
        return active.name_of(address) or address, str(port)


class NetstackEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = NetstackEventLoop
