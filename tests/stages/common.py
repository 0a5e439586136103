"""Shared addresses and a stack factory for the stage tests (the test network of DESIGN.md).

Stacks are made with the units `--impl` names (tests/conftest.py fills GRADED_IMPL once per
session), so these tests grade any implementation of the units they exercise."""

from ipaddress import IPv4Address, IPv4Interface

from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig
from netstack.testing import Harness

OUR_MAC = bytes.fromhex("020000000002")
OUR_IP = IPv4Address("192.0.2.2")
PEER_MAC = bytes.fromhex("020000000001")
PEER_IP = IPv4Address("192.0.2.1")  # the kernel peer, also our gateway
OTHER_MAC = bytes.fromhex("020000000003")
OTHER_IP = IPv4Address("192.0.2.3")
FAR_IP = IPv4Address("198.51.100.7")  # off-link: reached through the gateway

# unit name -> "package.module:Attr", from --impl; empty: the reference units
GRADED_IMPL: dict[str, str] = {}

OUR_MAC_STR = "02:00:00:00:00:02"
PEER_MAC_STR = "02:00:00:00:00:01"


def make_stack(pool_size: int = 256, **overrides) -> Stack:
    settings = {
        "mac": OUR_MAC,
        "address": IPv4Interface("192.0.2.2/24"),
        "gateway": PEER_IP,
    }
    settings.update(overrides)
    settings["impl"] = {**GRADED_IMPL, **dict(overrides.get("impl", {}))}
    return Stack(StackConfig(**settings), MbufPool(pool_size))


def make_harness(now: float = 0.0, peer_known: bool = False, **overrides) -> Harness:
    """A harness around a fresh stack; `peer_known` pre-loads a static ARP entry for the peer."""
    if peer_known:
        overrides.setdefault("static_arp", {PEER_IP: PEER_MAC})
    return Harness(make_stack(**overrides), now)
