"""The memory port: a virtual cable between two stacks in one process. No root, no kernel.

Open `memory:lab` twice and the two ports are the two ends of one cable: what one sends,
the other receives. Each end has a queue of frames (bytes) and an eventfd; the sender appends
to the peer's queue, then signals the peer's eventfd, so the peer's engine can sleep in
select() until a frame arrives instead of spinning.

Frames sent before the other end is plugged in are lost (and counted), as on a real cable.
For loss, delay, duplication and reordering, wrap a port in `linkemu.LinkEmulator` (or open
"memory:lab?loss=0.1").
"""

import os
import threading
from collections import deque

from netstack.engine.ports.base import BasePort
from netstack.errors import ConfigError
from netstack.mbuf import Mbuf, MbufPool

# name -> the ends currently open. Guarded by _cables_lock: engines open ports from any thread.
_cables: dict[str, list["MemoryPort"]] = {}
_cables_lock = threading.Lock()


class MemoryPort(BasePort):
    def __init__(self, cable: str, **kwargs) -> None:
        super().__init__(f"memory:{cable}", **kwargs)
        self.cable = cable
        self._queue: deque[bytes] = deque()  # frames waiting for us; append/popleft are atomic
        self._wakeup = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.peer: MemoryPort | None = None
        with _cables_lock:
            ends = _cables.setdefault(cable, [])
            if len(ends) == 2:
                os.close(self._wakeup)
                raise ConfigError(f"memory:{cable}: both ends of this cable are already open")
            ends.append(self)
            if len(ends) == 2:
                ends[0].peer, ends[1].peer = ends[1], ends[0]

    def fileno(self) -> int | None:
        return self._wakeup

    def rx_burst(self, pool: MbufPool, max_n: int) -> list[Mbuf]:
        # Clear the wakeup *before* looking at the queue: a frame that arrives after the clear
        # signals again, so we can never sleep with a frame waiting.
        try:
            os.eventfd_read(self._wakeup)
        except BlockingIOError:
            pass
        received: list[Mbuf] = []
        while self._queue and len(received) < max_n:
            m = pool.alloc()
            if m is None:
                self._queue.popleft()
                self.counters.bump("port.drop.no_mbuf")
                continue
            frame = self._queue.popleft()
            if len(frame) > m.tailroom:
                pool.free(m)
                self.counters.bump("port.drop.too_big")
                continue
            m.set_data(frame)
            received.append(m)
        if self._queue:
            os.eventfd_write(self._wakeup, 1)  # more than one burst waiting: come back soon
        return received

    def tx_burst(self, mbufs: list[Mbuf]) -> int:
        peer = self.peer
        for m in mbufs:
            if peer is None:
                self.counters.bump("port.drop.no_peer")
            else:
                peer.deliver(bytes(m.data()))
            self.free(m)
        if peer is None:
            return 0
        return len(mbufs)

    def deliver(self, frame: bytes) -> None:
        """Called by the peer (from its thread): queue a frame for us and wake our engine."""
        self._queue.append(frame)
        try:
            os.eventfd_write(self._wakeup, 1)
        except OSError:
            pass  # we are closed: the frame falls off the end of the cable

    # --- for a test or a notebook holding this end of the cable itself (no engine) --------
    @property
    def waiting(self) -> int:
        """Frames queued for this end, not yet received."""
        return len(self._queue)

    def take_frames(self) -> list[bytes]:
        """Every frame queued for this end, taken off the cable, oldest first."""
        frames = []
        while self._queue:
            frames.append(self._queue.popleft())
        return frames

    def close(self) -> None:
        with _cables_lock:
            ends = _cables.get(self.cable, [])
            if self in ends:
                ends.remove(self)
                for end in ends:
                    end.peer = None
                if not ends:
                    del _cables[self.cable]
        if self._wakeup >= 0:
            os.close(self._wakeup)
            self._wakeup = -1
