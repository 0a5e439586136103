"""The TAP port: a virtual Ethernet card whose other end is the Linux kernel.

Opening /dev/net/tun and asking for a TAP device (TUNSETIFF with IFF_TAP | IFF_NO_PI)
creates a netdev, say `ns0`. Every frame the kernel sends out of `ns0` becomes one read()
on our file descriptor, and every write() we do arrives at the kernel as if `ns0` had
received it. So the kernel, configured with `ip addr add 192.0.2.1/24 dev ns0`, is our peer.

A device we create is not persistent: the kernel removes it when our descriptor closes, even
if the process is killed. An existing persistent device (`ip tuntap add ns0 mode tap`) is
attached to and left in place.

`tap:NAME,offload` turns on the kernel's offloads (IFF_VNET_HDR, TUNSETOFFLOAD with
TUN_F_CSUM | TUN_F_TSO4): each read and write starts with a virtio-net header (vnet.py),
the kernel hands us TCP segments of up to 64 KB whose checksums it did not finish, and cuts
the 64 KB segments we write into MTU-sized ones itself. It is a separate mode (it needs the
big buffers of mbuf.OFFLOAD_BUFFER_SIZE and `configure_stack`), benchmarked on its own.
"""

import errno
import fcntl
import os
import struct

from netstack.engine import vnet
from netstack.engine.ports.base import FdPort
from netstack.errors import ConfigError, MalformedPacket
from netstack.mbuf import HEADROOM, OFFLOAD_BUFFER_SIZE

TUN_DEVICE = "/dev/net/tun"
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000  # no 4-byte packet-information prefix: reads and writes are bare frames
IFF_VNET_HDR = 0x4000  # every read and write starts with a virtio-net header (vnet.py)
IFNAMSIZ = 16
ETHERNET_HEADER_LEN = 14
TUNSETOFFLOAD = 0x400454D0  # _IOW('T', 208, unsigned int)
TUNSETVNETHDRSZ = 0x400454D8  # _IOW('T', 216, int)
TUN_F_CSUM = 0x01  # we accept frames whose transport checksum is left partial
TUN_F_TSO4 = 0x02  # ...and IPv4 TCP segments larger than the MTU
OFFLOAD_OPTION = "offload"
MAX_DATAGRAM = 65535  # IPv4 total length is 16 bits: no GSO frame is longer than this
MAX_TCP_HEADER = 60


def parse_tap_argument(argument: str, spec: str) -> tuple[str, bool]:
    """"ns0" or "ns0,offload" -> (interface name, offload on)."""
    name, *options = argument.split(",")
    for option in options:
        if option != OFFLOAD_OPTION:
            raise ConfigError(f"{spec}: unknown TAP option {option!r} (the only one is {OFFLOAD_OPTION})")
    return name, bool(options)


def is_offload_spec(spec: str) -> bool:
    """Does this port spec ask for a TAP with offloads (which needs big mbufs)?"""
    kind, _, argument = spec.partition("?")[0].partition(":")
    return kind == "tap" and OFFLOAD_OPTION in argument.split(",")[1:]


def interface_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def validate_interface_name(spec: str, name: str) -> None:
    if not name or len(name) >= IFNAMSIZ or "/" in name or name in (".", ".."):
        raise ConfigError(f"{spec}: bad interface name {name!r} (1 to {IFNAMSIZ - 1} characters)")


def open_tap(name: str, spec: str, offload: bool = False) -> tuple[int, bool]:
    """Open (creating if needed) the TAP device `name`. Returns (fd, created_by_us)."""
    validate_interface_name(spec, name)
    existed = interface_exists(name)
    try:
        fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{spec}: {TUN_DEVICE} does not exist (is the tun module loaded?)") from None
    except PermissionError:
        raise ConfigError(f"{spec}: permission denied opening {TUN_DEVICE} (are you root?)") from None
    flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if offload else 0)
    ifreq = struct.pack("16sH", name.encode(), flags)
    try:
        fcntl.ioctl(fd, TUNSETIFF, ifreq)
    except OSError as e:
        os.close(fd)
        if e.errno == errno.EPERM:
            raise ConfigError(f"{spec}: permission denied creating TAP device {name} (are you root?)") from None
        if e.errno in (errno.EINVAL, errno.EBUSY) and existed:
            raise ConfigError(f"{spec}: {name} exists and is not a free TAP device") from None
        raise ConfigError(f"{spec}: cannot create TAP device {name}: {e.strerror}") from None
    if offload:
        try:
            fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", vnet.HEADER_LEN))
            fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4)
        except OSError as e:
            os.close(fd)
            raise ConfigError(f"{spec}: the kernel refused the TAP offloads: {e.strerror}") from None
    return fd, not existed


def configure_link(name: str, spec: str, *, up: bool = True, mtu: int | None = None,
                   mac: bytes | None = None) -> None:
    """Set the netdev's MAC, MTU and state through netlink (pyroute2)."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    settings: dict = {}
    if mac is not None:
        settings["address"] = ":".join(f"{b:02x}" for b in mac)
    if mtu is not None:
        settings["mtu"] = mtu
    with IPRoute() as ipr:
        try:
            (index,) = ipr.link_lookup(ifname=name)
            if settings:
                ipr.link("set", index=index, **settings)
            if up:
                ipr.link("set", index=index, state="up")
        except (NetlinkError, ValueError) as e:
            raise ConfigError(f"{spec}: cannot configure {name}: {e}") from None


def read_mac(name: str) -> bytes | None:
    try:
        with open(f"/sys/class/net/{name}/address") as f:
            return bytes.fromhex(f.read().strip().replace(":", ""))
    except (OSError, ValueError):
        return None


class TapPort(FdPort):
    """`tap:NAME`. `mac` is None: the TAP netdev's address is the kernel's, not ours."""

    def __init__(self, ifname: str, *, mtu: int = 1500, device_mac: bytes | None = None,
                 offload: bool = False, **kwargs) -> None:
        spec = f"tap:{ifname}" + (f",{OFFLOAD_OPTION}" if offload else "")
        pool = kwargs.get("pool")
        if offload and pool is not None and len(pool) and len(pool.mbufs[0].buf) < OFFLOAD_BUFFER_SIZE:
            # Every 64 KB frame would be a port.drop.too_big, and TCP would stall on them.
            raise ConfigError(f"{spec}: needs 64 KB buffers: MbufPool(count, "
                              f"OFFLOAD_BUFFER_SIZE) and --engine python")
        fd, self.created = open_tap(ifname, spec, offload)
        super().__init__(spec, fd, **kwargs)
        self.ifname = ifname
        self.mtu = mtu
        self.offload = offload
        self._vnet_in = memoryview(bytearray(vnet.HEADER_LEN))  # one reused header buffer
        try:
            configure_link(ifname, spec, mtu=mtu if self.created else None, mac=device_mac)
        except ConfigError:
            self.close()
            raise

    def configure_stack(self, stack) -> None:
        """Tell the stack what this port does for it; call once, before the engine runs.
        With offloads: accept frames up to a whole IPv4 datagram, and let TCP send segments
        that large (as many MSS as fit in an mbuf) without IPv4 fragmenting them."""
        if not self.offload:
            return
        stack.ethernet.max_payload = MAX_DATAGRAM
        stack.ipv4.tso_max = MAX_DATAGRAM
        room = len(stack.pool.mbufs[0].buf) - HEADROOM - MAX_TCP_HEADER if len(stack.pool) else 0
        stack.tcp.tso_max = max(min(MAX_DATAGRAM - 20 - MAX_TCP_HEADER, room), 0)

    # --- the virtio-net header in front of every frame (offload mode only) -----------------

    def _read_frame(self, views: list[memoryview]) -> int | None:
        if not self.offload:
            return super()._read_frame(views)
        while True:
            try:
                length = os.readv(self._fd, [self._vnet_in, *views]) - vnet.HEADER_LEN
            except BlockingIOError:
                return None
            if length < 0:
                self.counters.bump("port.drop.vnet_truncated")
                continue
            header = vnet.parse(self._vnet_in)
            if header.is_gso:
                self.counters.bump("port.rx.gso_frames")
            if not header.needs_csum or length > len(views[0]):
                return length  # (too long: rx_burst counts the drop)
            try:
                # The kernel left the TCP/UDP checksum to "the hardware": we are it. Finishing
                # it here keeps every stage (and every capture) seeing complete frames.
                vnet.complete_checksum(header, views[0][:length])
            except MalformedPacket as exc:
                self.counters.bump(f"port.drop.{exc.reason}")
                continue
            self.counters.bump("port.rx.csum_completed")
            return length

    def _write_frame(self, frame: memoryview) -> None:
        if not self.offload:
            super()._write_frame(frame)
            return
        header = vnet.PLAIN_BYTES
        if len(frame) > ETHERNET_HEADER_LEN + self.mtu:
            tso = vnet.tso_header(frame, self.mtu)
            if tso is not None:
                header = vnet.build(tso)
                self.counters.bump("port.tx.tso_frames")
        os.writev(self._fd, [header, frame])

    def close(self) -> None:
        # Closing the descriptor is what removes a device we created; nothing else to undo.
        super().close()
