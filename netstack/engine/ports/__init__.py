"""Ports: the engine's network cards (TAP, AF_PACKET, pcap replay, in-memory cable)."""

from netstack.engine.ports.base import BasePort, Port, open_port

__all__ = ["BasePort", "Port", "open_port"]
