"""What travels on a simulated link: the frame's bytes plus what the experiment knows of it."""

from __future__ import annotations


class Packet:
    """One Ethernet frame in flight. `born` is when it left its sender's interface (for
    one-way delay); `flow` names the flow it belongs to (None: not a measured flow)."""

    __slots__ = ("data", "born", "flow")

    def __init__(self, data: bytes, born: float, flow: str | None = None) -> None:
        self.data = data
        self.born = born
        self.flow = flow

    @property
    def size(self) -> int:
        return len(self.data)

    def copy(self) -> Packet:
        return Packet(self.data, self.born, self.flow)
