"""The pcap port: replay a capture file as received frames, and record what the stack sends.

`pcap:in.pcap,out.pcap` feeds the frames of in.pcap to the stack, one burst per engine pass,
as fast as the stack takes them, and writes every frame the stack sends to out.pcap. It needs
no privileges and no network, which makes it the easiest way to test a stage against a
capture taken from a real network, and to get a reply capture to open in Wireshark.

Sent frames are stamped with the timestamp of the last frame replayed, so the same input
always gives a byte-identical output file.
"""

from collections.abc import Iterator

from netstack.engine.pcapfile import PcapWriter, read_pcap
from netstack.engine.ports.base import BasePort
from netstack.mbuf import Mbuf, MbufPool


class PcapPort(BasePort):
    def __init__(self, input_path: str, output_path: str | None = None, **kwargs) -> None:
        name = f"pcap:{input_path}" + (f",{output_path}" if output_path else "")
        super().__init__(name, **kwargs)
        self._frames: Iterator[tuple[float, bytes]] = read_pcap(input_path)
        self._next = next(self._frames, None)  # read ahead: also checks the file now
        self._last_timestamp = self._next[0] if self._next else 0.0
        self._writer = PcapWriter(output_path) if output_path else None

    @property
    def finished(self) -> bool:
        """True once every frame of the input has been handed to the engine."""
        return self._next is None

    def next_deadline(self) -> float | None:
        # No fd to wake the engine: while frames remain, ask to be visited immediately.
        return None if self.finished else 0.0

    def rx_burst(self, pool: MbufPool, max_n: int) -> list[Mbuf]:
        received: list[Mbuf] = []
        while self._next is not None and len(received) < max_n:
            timestamp, frame = self._next
            m = pool.alloc()
            if m is None:
                break  # replay is lossless: try again on the next pass
            self._next = next(self._frames, None)
            self._last_timestamp = timestamp
            if len(frame) > m.tailroom:
                pool.free(m)
                self.counters.bump("port.drop.too_big")
                continue
            m.set_data(frame)
            received.append(m)
        return received

    def tx_burst(self, mbufs: list[Mbuf]) -> int:
        for m in mbufs:
            if self._writer is not None:
                self._writer.write(m.data(), self._last_timestamp)
            self.free(m)
        return len(mbufs)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
