"""What a port is, and `open_port`, which turns a spec such as "tap:ns0" into one.

A port is the engine's network card. It moves whole Ethernet frames, in bursts, between the
outside world and mbufs, the way a DPDK poll-mode driver does:

    rx_burst(pool, max_n) -> list[Mbuf]   never blocks; [] when nothing is waiting
    tx_burst(mbufs) -> int                sends what it can, and frees every mbuf it was given
    fileno() -> int | None                something the engine can select() on, or None
    next_deadline() -> float | None       (optional) when a port with no fd needs a visit
    close()

Specs:
    tap:NAME          a Linux TAP device (created if missing); the kernel owns the other side
    tap:NAME,offload  the same with checksum and segmentation offloads: 64 KB TCP frames (tap.py)
    afpacket:IFNAME   a raw socket bound to an existing interface, e.g. one end of a veth pair
    pcap:IN[,OUT]     replay a capture file as received frames; write what we send to OUT
    memory:NAME       an in-process cable: the two ports opened with the same NAME are joined
    dpdk:VDEV-ARGS    a DPDK virtual device, e.g. dpdk:net_tap0,iface=dtap0 (ports/dpdk.py)

Any spec may end in "?key=value&..." to put a link emulator in front of the port, e.g.
"memory:lab?loss=0.1&delay=0.005&seed=7" (see `linkemu.py` for the keys).
"""

import errno
import os
from typing import Protocol, runtime_checkable

from netstack.counters import Counters
from netstack.mbuf import Mbuf, MbufPool

# Big enough for any frame a Linux interface hands us (64 KiB GSO frames included), so a read
# never truncates silently: if the frame spilled past the mbuf into here, it was too big.
OVERFLOW_SCRATCH_SIZE = 65536


@runtime_checkable
class Port(Protocol):
    name: str
    mac: bytes | None

    def fileno(self) -> int | None: ...

    def rx_burst(self, pool: MbufPool, max_n: int) -> list[Mbuf]: ...

    def tx_burst(self, mbufs: list[Mbuf]) -> int: ...

    def close(self) -> None: ...


class BasePort:
    """Shared plumbing: counters, the pool that sent mbufs go back to, and a read loop.

    Subclasses implement `_read_frame(views)` (fill the views with one frame, return its
    length, or None when nothing is waiting) and `_write_frame(frame)`.
    """

    def __init__(self, name: str, *, pool: MbufPool | None = None,
                 counters: Counters | None = None) -> None:
        self.name = name
        self.mac: bytes | None = None
        # Sent mbufs go back here. The engine sets it when it is None; mbufs made with
        # Mbuf.from_bytes (index -1) belong to no pool and are simply dropped.
        self.pool = pool
        self.counters = counters if counters is not None else Counters()
        # One view made once: a memoryview per read would be an object per frame for nothing.
        self._scratch = memoryview(bytearray(OVERFLOW_SCRATCH_SIZE))

    def fileno(self) -> int | None:
        return None

    def rx_burst(self, pool: MbufPool, max_n: int) -> list[Mbuf]:
        received: list[Mbuf] = []
        while len(received) < max_n:
            m = pool.alloc()
            if m is None:
                # Like a NIC with no free descriptors: read the frame away and count it, so the
                # fd does not stay readable and spin the loop while the pool is empty.
                if self._read_frame([self._scratch]) is None:
                    break
                self.counters.bump("port.drop.no_mbuf")
                continue
            room = memoryview(m.buf)[m.data_off :]
            length = self._read_frame([room, self._scratch])
            if length is None:
                pool.free(m)
                break
            if length > len(room):
                pool.free(m)
                self.counters.bump("port.drop.too_big")
                continue
            m.data_len = length
            received.append(m)
        return received

    def tx_burst(self, mbufs: list[Mbuf]) -> int:
        sent = 0
        for m in mbufs:
            try:
                self._write_frame(m.data())
                sent += 1
            except BlockingIOError:
                self.counters.bump("port.drop.tx_busy")
            except OSError as e:
                # EIO: the interface is down; ENOBUFS: the qdisc is full. Both are drops.
                self.counters.bump(f"port.drop.tx_{errno.errorcode.get(e.errno, 'error').lower()}")
            self.free(m)
        return sent

    def free(self, m: Mbuf) -> None:
        if self.pool is not None and m.index >= 0:
            self.pool.free(m)

    def close(self) -> None:
        pass

    def _read_frame(self, views: list[memoryview]) -> int | None:
        raise NotImplementedError

    def _write_frame(self, frame: memoryview) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FdPort(BasePort):
    """A port backed by one non-blocking file descriptor that reads and writes whole frames."""

    def __init__(self, name: str, fd: int, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self._fd = fd
        os.set_blocking(fd, False)

    def fileno(self) -> int | None:
        return self._fd

    def _read_frame(self, views: list[memoryview]) -> int | None:
        try:
            return os.readv(self._fd, views)
        except BlockingIOError:
            return None

    def _write_frame(self, frame: memoryview) -> None:
        os.write(self._fd, frame)

    def send_bytes(self, frame: bytes | bytearray | memoryview) -> bool:
        """Write one frame that is not in an mbuf (KNI uses this). False if it was dropped."""
        try:
            self._write_frame(memoryview(frame))
            return True
        except OSError:
            return False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

