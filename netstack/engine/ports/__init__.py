"""Ports: the engine's network cards (TAP, AF_PACKET, pcap replay, in-memory cable, DPDK).

`open_port` lives here, above the concrete ports, so base.py (the interface) imports none of
them: each concrete port imports base.py, never the other way round.
"""

from netstack.counters import Counters
from netstack.engine.ports.base import BasePort, Port
from netstack.errors import ConfigError
from netstack.mbuf import MbufPool


def open_port(
    spec: str,
    *,
    mac: bytes | None = None,
    mtu: int = 1500,
    pool: MbufPool | None = None,
    counters: Counters | None = None,
    clock=None,
) -> BasePort:
    """Open the port a spec names. Bad specs and missing devices raise ConfigError."""
    spec, _, emulation = spec.partition("?")
    kind, sep, argument = spec.partition(":")
    if not sep or not argument:
        raise ConfigError(f"bad port spec {spec!r}: expected KIND:ARGUMENT, e.g. tap:ns0")
    common = {"pool": pool, "counters": counters}
    port: BasePort
    if kind == "tap":
        from netstack.engine.ports.tap import TapPort, parse_tap_argument

        ifname, offload = parse_tap_argument(argument, spec)
        port = TapPort(ifname, mtu=mtu, offload=offload, **common)
    elif kind == "afpacket":
        from netstack.engine.ports.afpacket import AfPacketPort

        port = AfPacketPort(argument, mac=mac, **common)
    elif kind == "pcap":
        from netstack.engine.ports.pcap import PcapPort

        input_path, _, output_path = argument.partition(",")
        port = PcapPort(input_path, output_path or None, **common)
    elif kind == "memory":
        from netstack.engine.ports.memory import MemoryPort

        port = MemoryPort(argument, **common)
    elif kind == "dpdk":
        # The EAL and its mempool come first (dpdk_engine.DpdkRuntime): `pool` must be it.
        from netstack.engine.ports.dpdk import DpdkPort

        port = DpdkPort(argument, mtu=mtu, **common)
    else:
        raise ConfigError(
            f"unknown port kind {kind!r} in {spec!r} (use tap:, afpacket:, pcap:, memory: or dpdk:)"
        )
    if emulation:
        from netstack.engine.ports.linkemu import LinkEmulator, parse_conditions

        try:
            conditions = parse_conditions(emulation)
        except ConfigError:
            port.close()
            raise
        return LinkEmulator(port, conditions, clock=clock)
    return port


__all__ = ["BasePort", "Port", "open_port"]
