"""KNI: hand the kernel the frames the stack does not handle, and send what it answers.

DPDK's Kernel NIC Interface lets a userspace stack own the NIC while the kernel still serves
the protocols the stack leaves alone (SSH, IPv6, DHCP...). We do the same with a second TAP
device that carries *the stack's own MAC*: to the kernel it looks like the real interface.

    port -> stack: "not mine" -> stack.to_kni -> write to the KNI TAP -> kernel
    kernel replies -> read from the KNI TAP -> out ring -> port

Give the KNI device the stack's IP address on the kernel side (e.g. `ip addr add
192.0.2.2/24 dev kni0`) so the kernel answers as the same host.
"""

from netstack.counters import Counters
from netstack.engine.ports.tap import TapPort
from netstack.errors import ConfigError
from netstack.mbuf import Mbuf, MbufPool


class Kni:
    def __init__(self, spec: str, *, mac: bytes, mtu: int = 1500,
                 counters: Counters | None = None) -> None:
        kind, sep, ifname = spec.partition(":")
        if kind != "tap" or not sep or not ifname:
            raise ConfigError(f"bad KNI spec {spec!r}: expected tap:NAME, e.g. tap:kni0")
        self.spec = spec
        self.mac = mac
        self._tap = TapPort(ifname, mtu=mtu, device_mac=mac,
                            counters=counters if counters is not None else Counters())

    @property
    def counters(self) -> Counters:
        return self._tap.counters

    @counters.setter
    def counters(self, counters: Counters) -> None:
        self._tap.counters = counters

    @property
    def ifname(self) -> str:
        return self._tap.ifname

    def fileno(self) -> int | None:
        return self._tap.fileno()

    def to_kernel(self, frame: bytes | bytearray | memoryview) -> None:
        # The stack already counted kni.to_kernel when it queued the frame; only a failed
        # write is news here.
        if not self._tap.send_bytes(frame):
            self.counters.bump("kni.drop.write_failed")

    def from_kernel(self, pool: MbufPool, max_n: int) -> list[Mbuf]:
        mbufs = self._tap.rx_burst(pool, max_n)
        for m in mbufs:
            m.port = 1  # see Mbuf.port: 1 marks frames that came from the KNI device
        if mbufs:
            self.counters.bump("kni.from_kernel", len(mbufs))
        return mbufs

    def close(self) -> None:
        self._tap.close()
