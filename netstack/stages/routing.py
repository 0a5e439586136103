"""The routing table of a host: which next hop (and MTU) to use for a destination.

A host still needs one (RFC 1122 §3.3.1): destinations on the attached subnet are reached
directly (the "connected" route, derived from the interface address), everything else through
a gateway. The lookup is longest-prefix match: the most specific route wins, so a static route
for 198.51.100.0/24 beats the default route 0.0.0.0/0.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

DEFAULT_NETWORK = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True, slots=True)
class Route:
    """`next_hop` None means the destination is on the link: ARP for it directly."""

    network: IPv4Network
    next_hop: IPv4Address | None = None
    mtu: int | None = None  # None: the interface MTU
    origin: str = "static"  # "connected", "default" or "static", for `route` listings

    def next_hop_for(self, dst: IPv4Address) -> IPv4Address:
        return self.next_hop if self.next_hop is not None else dst


class RoutingTable:
    """Routes by network; `lookup(dst)` returns the longest matching prefix or None.

    Routes are grouped by prefix length. Lookup tries the lengths present, longest first, and
    masks the destination for each: one dict probe per distinct length (a host has two or
    three), no trie to explain.
    """

    def __init__(self) -> None:
        self._by_prefix_len: dict[int, dict[int, Route]] = {}
        self._prefix_lens: list[int] = []  # the keys above, longest first

    @classmethod
    def for_interface(
        cls,
        address: IPv4Interface,
        gateway: IPv4Address | None = None,
        routes: Iterable[tuple] = (),
    ) -> RoutingTable:
        """The connected route, the default route via `gateway`, then the static `routes`.

        Each static route is `(network, next_hop_or_None)` or `(network, next_hop, mtu)`.
        """
        table = cls()
        table.add(address.network, None, origin="connected")
        if gateway is not None:
            table.add(DEFAULT_NETWORK, gateway, origin="default")
        for entry in routes:
            network, next_hop, *rest = entry
            table.add(IPv4Network(network), next_hop, mtu=rest[0] if rest else None)
        return table

    def add(
        self,
        network: IPv4Network,
        next_hop: IPv4Address | None = None,
        mtu: int | None = None,
        origin: str = "static",
    ) -> Route:
        """Add or replace the route for `network`."""
        network = IPv4Network(network)
        hop = IPv4Address(next_hop) if next_hop is not None else None
        route = Route(network, hop, mtu, origin)
        self._by_prefix_len.setdefault(network.prefixlen, {})[int(network.network_address)] = route
        self._prefix_lens = sorted(self._by_prefix_len, reverse=True)
        return route

    def remove(self, network: IPv4Network) -> bool:
        network = IPv4Network(network)
        routes = self._by_prefix_len.get(network.prefixlen, {})
        if routes.pop(int(network.network_address), None) is None:
            return False
        if not routes:
            del self._by_prefix_len[network.prefixlen]
            self._prefix_lens = sorted(self._by_prefix_len, reverse=True)
        return True

    def lookup(self, dst: IPv4Address) -> Route | None:
        dst_int = int(dst)
        for prefix_len in self._prefix_lens:
            mask = (0xFFFFFFFF << (32 - prefix_len)) & 0xFFFFFFFF
            route = self._by_prefix_len[prefix_len].get(dst_int & mask)
            if route is not None:
                return route
        return None

    def routes(self) -> list[Route]:
        """A snapshot, most specific first, for tools such as `netstack route`."""
        return [
            route
            for prefix_len in self._prefix_lens
            for _, route in sorted(self._by_prefix_len[prefix_len].items())
        ]

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes())

    def __len__(self) -> int:
        return sum(len(routes) for routes in self._by_prefix_len.values())
