"""The TAP port: a virtual Ethernet card whose other end is the Linux kernel.

Opening /dev/net/tun and asking for a TAP device (TUNSETIFF with IFF_TAP | IFF_NO_PI)
creates a netdev, say `ns0`. Every frame the kernel sends out of `ns0` becomes one read()
on our file descriptor, and every write() we do arrives at the kernel as if `ns0` had
received it. So the kernel, configured with `ip addr add 192.0.2.1/24 dev ns0`, is our peer.

A device we create is not persistent: the kernel removes it when our descriptor closes, even
if the process is killed. An existing persistent device (`ip tuntap add ns0 mode tap`) is
attached to and left in place.
"""

import errno
import fcntl
import os
import struct

from netstack.engine.ports.base import FdPort
from netstack.errors import ConfigError

TUN_DEVICE = "/dev/net/tun"
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000  # no 4-byte packet-information prefix: reads and writes are bare frames
IFNAMSIZ = 16


def interface_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def validate_interface_name(spec: str, name: str) -> None:
    if not name or len(name) >= IFNAMSIZ or "/" in name or name in (".", ".."):
        raise ConfigError(f"{spec}: bad interface name {name!r} (1 to {IFNAMSIZ - 1} characters)")


def open_tap(name: str, spec: str) -> tuple[int, bool]:
    """Open (creating if needed) the TAP device `name`. Returns (fd, created_by_us)."""
    validate_interface_name(spec, name)
    existed = interface_exists(name)
    try:
        fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(f"{spec}: {TUN_DEVICE} does not exist (is the tun module loaded?)") from None
    except PermissionError:
        raise ConfigError(f"{spec}: permission denied opening {TUN_DEVICE} (are you root?)") from None
    ifreq = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
    try:
        fcntl.ioctl(fd, TUNSETIFF, ifreq)
    except OSError as e:
        os.close(fd)
        if e.errno == errno.EPERM:
            raise ConfigError(f"{spec}: permission denied creating TAP device {name} (are you root?)") from None
        if e.errno in (errno.EINVAL, errno.EBUSY) and existed:
            raise ConfigError(f"{spec}: {name} exists and is not a free TAP device") from None
        raise ConfigError(f"{spec}: cannot create TAP device {name}: {e.strerror}") from None
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
                 **kwargs) -> None:
        spec = f"tap:{ifname}"
        fd, self.created = open_tap(ifname, spec)
        super().__init__(spec, fd, **kwargs)
        self.ifname = ifname
        try:
            configure_link(ifname, spec, mtu=mtu if self.created else None, mac=device_mac)
        except ConfigError:
            self.close()
            raise

    def close(self) -> None:
        # Closing the descriptor is what removes a device we created; nothing else to undo.
        super().close()
