"""`dpdk:VDEV-ARGS`: a DPDK ethdev port, driven with rte_eth_rx_burst / rte_eth_tx_burst.

    dpdk:net_tap0,iface=dtap0          DPDK's TAP PMD creates the TAP device dtap0 itself;
                                       the kernel on dtap0 is the peer, as with tap:NAME
    dpdk:net_af_packet0,iface=veth1    DPDK's AF_PACKET PMD on an existing interface

VDEV-ARGS is given to the EAL as `--vdev=VDEV-ARGS`; the part before the first comma
(`net_tap0`) is the device name, which is how the port is found once the EAL has created
it. The EAL and the mempool must exist first (dpdk_engine.DpdkRuntime opens both): the
PMD fills its receive descriptors from that mempool, so the frames `rx_burst` returns are
rte_mbufs of it, handed to the stack as the same `Mbuf` objects every port returns.

One rx queue and one tx queue, default settings, no offloads: checksums are the stack's.
Rx interrupts are asked for: with them (net_tap) `fileno()` is an fd the loop can sleep on,
without them (net_af_packet, net_ring) it is None and DpdkEngine polls with a backoff.
"""

import logging

from netstack.counters import Counters
from netstack.engine.dpdk_eal import (
    Eal,
    captured_output,
    explain_missing_port,
    ffi,
    lib,
    require_binding,
)
from netstack.engine.dpdk_pool import DpdkMbufPool
from netstack.errors import ConfigError
from netstack.mbuf import Mbuf

log = logging.getLogger(__name__)

MAX_BURST = 64
# One frame per mbuf (the stack reads a frame as one view): Ethernet + a VLAN tag + MTU must
# fit the 2048 bytes after the headroom.
MAX_MTU = 2048 - 18 - 4
RX_DESCRIPTORS = 1024
TX_DESCRIPTORS = 1024


class DpdkPort:
    copies_frames = False  # the NIC (or PMD) takes the mbuf itself: no copy to count
    """A started DPDK port. `mac` is None: the stack keeps its own address, as on tap:."""

    def __init__(self, vdev_args: str, *, pool: DpdkMbufPool, counters: Counters | None = None,
                 mtu: int = 1500, rx_descriptors: int = RX_DESCRIPTORS, tx_descriptors: int = TX_DESCRIPTORS) -> None:
        require_binding()
        self.name = f"dpdk:{vdev_args}"
        self.device = vdev_args.partition(",")[0]
        self.mac: bytes | None = None
        if not isinstance(pool, DpdkMbufPool):
            raise ConfigError(f"{self.name}: a DPDK port needs a DPDK mempool (see dpdk_engine.DpdkRuntime)")
        if Eal.current() is None:
            raise ConfigError(f"{self.name}: the DPDK EAL is not running")
        if mtu > MAX_MTU:
            raise ConfigError(f"{self.name}: MTU {mtu} does not fit one mbuf (at most {MAX_MTU})")
        self.pool = pool
        self.counters = counters if counters is not None else Counters()
        port_id = ffi.new("uint16_t *")
        if lib.ns_dpdk_port_by_name(self.device.encode(), port_id) != 0:
            raise ConfigError(explain_missing_port(vdev_args, Eal.current().output))
        self.port_id = port_id[0]
        rx_fd = ffi.new("int *")
        with captured_output() as said:
            error = lib.ns_dpdk_port_start(self.port_id, pool.handle, rx_descriptors,
                                           tx_descriptors, rx_fd)
        log.debug("%s start:\n%s", self.name, said())
        if error:
            raise ConfigError(f"{self.name}: cannot start the port: "
                              f"{ffi.string(lib.ns_dpdk_strerror(-error)).decode()}")
        self.started = True
        # The device's MTU is the stack's (net_tap: the kernel side of the TAP learns it).
        if lib.ns_dpdk_port_set_mtu(self.port_id, mtu) != 0:
            log.info("%s: cannot set MTU %d on the device", self.name, mtu)
        # The rx queue's interrupt event fd, when the PMD has one (net_tap: the TAP queue's
        # own fd): readable while frames wait, so the loop can sleep in poll() on it.
        self._rx_fd = rx_fd[0] if rx_fd[0] >= 0 else None
        # The stack's MAC is not the device's: accept every frame, as a TAP fd does.
        if lib.ns_dpdk_port_promiscuous(self.port_id) != 0:
            log.info("%s: promiscuous mode not supported", self.name)
        self.idle_polls = 0  # rx bursts in a row that found nothing (DpdkEngine's backoff)
        self._rx_mbufs = ffi.new("uintptr_t[]", MAX_BURST)
        self._rx_off = ffi.new("uint16_t[]", MAX_BURST)
        self._rx_len = ffi.new("uint16_t[]", MAX_BURST)
        self._chained = ffi.new("uint64_t *")
        self._tx_mbufs = ffi.new("uintptr_t[]", MAX_BURST)
        self._tx_off = ffi.new("uint16_t[]", MAX_BURST)
        self._tx_len = ffi.new("uint16_t[]", MAX_BURST)

    def fileno(self) -> int | None:
        """The rx interrupt fd, or None: a pure poll-mode port (DpdkEngine backs off)."""
        return self._rx_fd

    def link(self) -> tuple[bool, int, bool]:
        """(up, speed in Mbit/s, full duplex), without waiting for negotiation."""
        up, speed, duplex = ffi.new("int *"), ffi.new("uint32_t *"), ffi.new("int *")
        if lib.ns_dpdk_port_link(self.port_id, up, speed, duplex) != 0:
            return False, 0, False
        return bool(up[0]), speed[0], bool(duplex[0])

    def device_mac(self) -> bytes:
        mac = ffi.new("uint8_t[6]")
        lib.ns_dpdk_port_mac(self.port_id, mac)
        return bytes(mac)

    # ----------------------------------------------------------------- the bursts
    def rx_burst(self, pool, max_n: int) -> list[Mbuf]:
        """rte_eth_rx_burst: the received rte_mbufs, as the pool's Mbuf objects."""
        n = lib.ns_dpdk_rx_burst(self.port_id, self._rx_mbufs, self._rx_off, self._rx_len,
                                 min(max_n, MAX_BURST), self._chained)
        if self._chained[0]:
            self.counters.bump("port.drop.too_big", self._chained[0])
            self._chained[0] = 0
        if not n:
            self.idle_polls += 1
            return []
        self.idle_polls = 0
        get = self.pool.get
        received = []
        for address, data_off, data_len in zip(ffi.unpack(self._rx_mbufs, n),
                                               ffi.unpack(self._rx_off, n),
                                               ffi.unpack(self._rx_len, n), strict=True):
            m = get(address)
            m.data_off = data_off
            m.data_len = data_len
            m.port = 0
            received.append(m)
        return received

    def tx_burst(self, mbufs: list[Mbuf]) -> int:
        """rte_eth_tx_burst. The PMD frees what it sent; we free what it would not take."""
        sent = 0
        for start in range(0, len(mbufs), MAX_BURST):
            chunk = [self._own(m) for m in mbufs[start : start + MAX_BURST]]
            chunk = [m for m in chunk if m is not None]
            n = len(chunk)
            if not n:
                continue
            self._tx_mbufs[0:n] = [m.index for m in chunk]
            self._tx_off[0:n] = [m.data_off for m in chunk]
            self._tx_len[0:n] = [m.data_len for m in chunk]
            taken = lib.ns_dpdk_tx_burst(self.port_id, self._tx_mbufs, self._tx_off, self._tx_len, n)
            sent += taken
            for m in chunk[taken:]:
                self.counters.bump("port.drop.tx_busy")
                self.pool.free(m)
        if sent:
            self.idle_polls = 0
        return sent

    def _own(self, m: Mbuf) -> Mbuf | None:
        """`m` if it is one of our rte_mbufs; else a copy in one (an mbuf built outside the
        pool, e.g. Mbuf.from_bytes in a test), since a PMD can only send rte_mbufs."""
        if self.pool.owns(m):
            return m
        copy = self.pool.alloc()
        if copy is None:
            self.counters.bump("port.drop.no_mbuf")
            return None
        copy.set_data(m.data())
        self.counters.bump("port.tx_copied")
        return copy

    def close(self) -> None:
        """Stop and close the device (net_tap removes its TAP netdev here)."""
        if self.started and Eal.current() is not None:
            self.started = False
            with captured_output() as said:
                lib.ns_dpdk_port_stop(self.port_id)
                lib.ns_dpdk_port_close(self.port_id)
            log.debug("%s close:\n%s", self.name, said())

    def __repr__(self) -> str:
        return f"<DpdkPort {self.name} port {self.port_id}>"
