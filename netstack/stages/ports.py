"""Who owns which local (address, port): bindings, conflicts and ephemeral ports.

Each transport protocol (UDP, TCP) keeps one `PortTable`. A binding is a local address
(or the wildcard 0.0.0.0) and a port. Two bindings on the same port *overlap* when their
addresses are equal or either is the wildcard; overlapping bindings conflict (EADDRINUSE)
unless every one of them asked for SO_REUSEADDR, which is Linux's rule for UDP. An endpoint
with `exclusive = True` (a TCP listener) never shares, SO_REUSEADDR or not.

Ephemeral ports follow RFC 6056 §3.3.1 (its Algorithm 1): start the search at a random
offset in the range and walk forward, so the next port is hard to guess from the last one.
The random generator belongs to the table (no globals) and comes from its owner: the stages
pass one from the stack's seeded source (netstack/seeding.py), so one seed reproduces the
choices.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Iterator
from ipaddress import IPv4Address
from typing import Generic, Protocol, TypeVar

WILDCARD = IPv4Address(0)
EPHEMERAL_FIRST = 49152  # RFC 6335 §6: the dynamic/private range, 49152-65535
EPHEMERAL_LAST = 65535


class Bindable(Protocol):
    """What the table keeps: anything with a local binding and a reuse flag."""

    local: tuple[IPv4Address, int] | None
    reuse_addr: bool


EndpointT = TypeVar("EndpointT", bound=Bindable)


def os_error(code: int, detail: str = "") -> OSError:
    """An OSError with `code` from the errno module; Python picks the subclass from it
    (ConnectionRefusedError for ECONNREFUSED, BlockingIOError for EAGAIN...)."""
    message = os.strerror(code) + (f": {detail}" if detail else "")
    return OSError(code, message)


class PortTable(Generic[EndpointT]):
    def __init__(
        self,
        first: int = EPHEMERAL_FIRST,
        last: int = EPHEMERAL_LAST,
        seed: int | bytes | random.Random | None = None,
    ) -> None:
        if not 1 <= first <= last <= 0xFFFF:
            raise ValueError(f"bad ephemeral port range {first}-{last}")
        self.ephemeral_first = first
        self.ephemeral_last = last
        self._random = seed if isinstance(seed, random.Random) else random.Random(seed)
        # port -> address -> endpoints bound there, oldest first
        self._by_port: dict[int, dict[IPv4Address, list[EndpointT]]] = {}

    def add(self, endpoint: EndpointT, address: IPv4Address, port: int) -> tuple[IPv4Address, int]:
        """Bind `endpoint` to (address, port); port 0 picks an ephemeral port.

        Returns the binding. Raises OSError(EADDRINUSE) on a conflict, OSError(EAGAIN) when
        every ephemeral port is taken (what Linux returns for UDP).
        """
        if port == 0:
            port = self._free_ephemeral_port()
        elif self._conflicts(address, port, endpoint.reuse_addr):
            raise os_error(errno.EADDRINUSE, f"{address}:{port}")
        self._by_port.setdefault(port, {}).setdefault(address, []).append(endpoint)
        endpoint.local = (address, port)
        return address, port

    def remove(self, endpoint: EndpointT) -> None:
        if endpoint.local is None:
            return
        address, port = endpoint.local
        by_address = self._by_port.get(port, {})
        bound = by_address.get(address, [])
        if endpoint in bound:
            bound.remove(endpoint)
            if not bound:
                del by_address[address]
            if not by_address:
                self._by_port.pop(port, None)

    def rebind(self, endpoint: EndpointT, address: IPv4Address) -> None:
        """Move an endpoint to another address on its port (a wildcard bind that connect()
        narrows to the source address). Like Linux, this does not check for conflicts."""
        assert endpoint.local is not None
        port = endpoint.local[1]
        self.remove(endpoint)
        self._by_port.setdefault(port, {}).setdefault(address, []).append(endpoint)
        endpoint.local = (address, port)

    def bound_at(self, address: IPv4Address, port: int) -> list[EndpointT]:
        """Endpoints bound to exactly (address, port), oldest first (do not modify)."""
        return self._by_port.get(port, {}).get(address, [])

    def on_port(self, port: int) -> Iterator[tuple[IPv4Address, list[EndpointT]]]:
        return iter(self._by_port.get(port, {}).items())

    def all(self) -> list[EndpointT]:
        return [ep for by_address in self._by_port.values() for eps in by_address.values()
                for ep in eps]

    def _conflicts(self, address: IPv4Address, port: int, reuse_addr: bool) -> bool:
        for other_address, endpoints in self._by_port.get(port, {}).items():
            overlap = address == other_address or WILDCARD in (address, other_address)
            shared_ok = reuse_addr and all(
                ep.reuse_addr and not getattr(ep, "exclusive", False) for ep in endpoints
            )
            if overlap and not shared_ok:
                return True
        return False

    def _free_ephemeral_port(self) -> int:
        size = self.ephemeral_last - self.ephemeral_first + 1
        offset = self._random.randrange(size)
        for step in range(size):
            port = self.ephemeral_first + (offset + step) % size
            if port not in self._by_port:  # an ephemeral port is never shared
                return port
        raise os_error(errno.EAGAIN, "no free ephemeral port")
