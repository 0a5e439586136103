"""The AF_PACKET port: raw Ethernet frames on an interface the kernel already has.

Bind a SOCK_RAW packet socket to, say, one end of a veth pair, and we see every frame that
arrives on it and can send frames out of it. The kernel still owns the interface, so it also
processes those frames: give the interface no IP address of its own.

Two details make it behave like a NIC of our own:
- The socket also sees frames *we* send (pkttype PACKET_OUTGOING); those are skipped.
- If our MAC differs from the interface's, the interface goes promiscuous so frames
  addressed to us are not filtered out. The membership ends when the socket closes.

Note: a veth peer may hand over frames with checksum offload pending (the TCP/UDP checksum
not yet filled in). Turn offload off on the peer (`ethtool -K PEER tx off`) for such links.
"""

import errno
import socket
import struct

from netstack.engine.ports.base import BasePort
from netstack.engine.ports.tap import read_mac, validate_interface_name
from netstack.errors import ConfigError

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+; we also check pkttype in case it is missing
PACKET_OUTGOING = 4


class AfPacketPort(BasePort):
    """`afpacket:IFNAME`. `mac` is the interface's own address."""

    def __init__(self, ifname: str, *, mac: bytes | None = None, **kwargs) -> None:
        spec = f"afpacket:{ifname}"
        validate_interface_name(spec, ifname)
        super().__init__(spec, **kwargs)
        self.ifname = ifname
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise ConfigError(f"{spec}: permission denied opening a packet socket (are you root?)") from None
        try:
            self._sock.bind((ifname, ETH_P_ALL))
        except OSError as e:
            self._sock.close()
            if e.errno == errno.ENODEV:
                raise ConfigError(f"{spec}: no interface named {ifname}") from None
            raise ConfigError(f"{spec}: cannot bind to {ifname}: {e.strerror}") from None
        self._sock.setblocking(False)
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            pass
        self.mac = read_mac(ifname)
        if mac is not None and mac != self.mac:
            ifindex = socket.if_nametoindex(ifname)
            membership = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
            self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, membership)

    def fileno(self) -> int | None:
        return self._sock.fileno()

    def _read_frame(self, views: list[memoryview]) -> int | None:
        while True:
            try:
                length, _ancillary, _flags, address = self._sock.recvmsg_into(views)
            except BlockingIOError:
                return None
            # address = (ifname, protocol, pkttype, hatype, hwaddr)
            if address[2] != PACKET_OUTGOING:
                return length

    def _write_frame(self, frame: memoryview) -> None:
        self._sock.send(frame)

    def close(self) -> None:
        self._sock.close()
