"""StackConfig validation and Stack composition."""

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from netstack.errors import ConfigError
from netstack.mbuf import MbufPool
from netstack.stack import Stack, StackConfig

MAC = bytes.fromhex("020000000002")
ADDR = IPv4Interface("192.0.2.2/24")


@pytest.mark.parametrize(
    "overrides",
    [
        {"mtu": 67},
        {"mtu": 9001},
        {"mac": b"\x02\x00"},
        {"mac": bytes.fromhex("010000000002")},  # multicast
        {"mac": "not a mac"},
        {"gateway": IPv4Address("198.51.100.1")},  # not on our subnet
        {"address": "banana"},
        {"routes": ((IPv4Network("10.0.0.0/8"),),)},
        {"static_arp": {IPv4Address("192.0.2.1"): b"\x01"}},
        {"kni_tcp_ports": {0}},
        {"arp_retries": 0},
        {"reassembly_timeout": 0},
        {"default_ttl": 256},
        {"arp_retry_jitter": -0.1},
        {"random_seed": "7"},
    ],
)
def test_bad_configs_raise_config_error(overrides):
    settings = {"mac": MAC, "address": ADDR, **overrides}
    with pytest.raises(ConfigError):
        StackConfig(**settings)


def test_config_normalises_its_inputs():
    config = StackConfig(
        mac="02:00:00:00:00:02",
        address="192.0.2.2/24",
        gateway="192.0.2.1",
        routes=(("198.51.100.0/24", "192.0.2.254"),),
        static_arp={"192.0.2.1": bytearray(6)},
        kni_udp_ports={5353},
    )
    assert config.mac == MAC and config.address == ADDR
    assert config.gateway == IPv4Address("192.0.2.1")
    assert config.routes == ((IPv4Network("198.51.100.0/24"), IPv4Address("192.0.2.254")),)
    assert config.static_arp == {IPv4Address("192.0.2.1"): bytes(6)}
    assert config.kni_udp_ports == frozenset({5353})


def test_stack_public_surface():
    stack = Stack(StackConfig(mac=MAC, address=ADDR, gateway="192.0.2.1"), MbufPool(8))
    assert stack.next_deadline() is None
    stack.start(100.0)
    assert len(stack.outgoing) == 1 and not stack.to_kni
    assert [r.origin for r in stack.routes.routes()] == ["connected", "default"]
    assert stack.arp.entries() == []
    stack.arp.add_static(IPv4Address("192.0.2.1"), bytes.fromhex("020000000001"))
    assert stack.arp.lookup(IPv4Address("192.0.2.1")) == bytes.fromhex("020000000001")
    stack.advance(200.0)
    assert stack.counters.snapshot()["arp.tx.gratuitous"] == 1
