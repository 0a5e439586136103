"""Packet capture (`--capture FILE`): what the stack received and sent, as a pcap file.

The engine records at the "port" point: every frame rx_burst returned and every frame handed
to tx_burst, so the file shows exactly what crossed the wire, like tcpdump on the interface.

Other capture points can be attached by name (say "kni" or a stage such as "ipv4.rx"). A
classic pcap record has no room for a label, so each extra point gets its own file next to
the main one: run.pcap, run-kni.pcap, run-ipv4.rx.pcap. Files open on first use.

Timestamps: the engine passes its clock's `now`; the capture shifts it to wall-clock time
once (at `anchor`), so real runs show real dates and virtual-clock runs keep their exact
virtual spacing. With `wall_clock=False` it keeps the clock's own readings (from 1970-01-01
in the file), so two runs of one seeded virtual-time scenario write identical files.
"""

import os
import time

from netstack.engine.pcapfile import PcapWriter

MAIN_POINT = "port"


class Capture:
    def __init__(self, path: str, wall_clock: bool = True) -> None:
        self.path = path
        self._writers: dict[str, PcapWriter] = {MAIN_POINT: PcapWriter(path)}  # fail early
        self.wall_clock = wall_clock
        self._wall_offset = time.time() - time.monotonic() if wall_clock else 0.0

    def anchor(self, clock_now: float) -> None:
        """Map this clock reading to the current wall-clock time (unless wall_clock=False)."""
        if self.wall_clock:
            self._wall_offset = time.time() - clock_now

    def path_for(self, point: str) -> str:
        if point == MAIN_POINT:
            return self.path
        stem, ext = os.path.splitext(self.path)
        return f"{stem}-{point}{ext or '.pcap'}"

    def record(self, frame: bytes | bytearray | memoryview, now: float, point: str = MAIN_POINT) -> None:
        writer = self._writers.get(point)
        if writer is None:
            writer = self._writers[point] = PcapWriter(self.path_for(point))
        writer.write(frame, now + self._wall_offset)

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
