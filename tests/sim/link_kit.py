"""A link direction on its own, driven by hand: numbered packets in, what came out recorded."""

from __future__ import annotations

from netstack.sim.events import Simulator
from netstack.sim.link.direction import LinkDirection
from netstack.sim.link.observer import EventLog
from netstack.sim.link.spec import LinkSpec, QueueSpec, RateSpec
from netstack.sim.packet import Packet
from netstack.sim.record import LinkRecord


def numbered(number: int, size: int, born: float = 0.0) -> Packet:
    """A packet of `size` bytes whose first four bytes carry `number`."""
    return Packet(number.to_bytes(4, "big") + bytes(size - 4), born)


def number_of(packet: Packet) -> int:
    return int.from_bytes(packet.data[:4], "big")


def constant(bps: float, **queue) -> LinkSpec:
    return LinkSpec(rate=RateSpec(kind="constant", bps=bps), queue=QueueSpec(**queue))


class LinkUnderTest:
    def __init__(self, spec: LinkSpec, seed: int = 1, name: str = "test.up",
                 crn: bool = False) -> None:
        self.sim = Simulator(seed)
        self.record = LinkRecord(name)
        self.log = EventLog()
        self.received: list[tuple[float, Packet]] = []
        self.dropped: list[tuple[Packet, str]] = []
        self.link = LinkDirection(self.sim, spec, name, self._deliver, observer=self.log,
                                  crn=crn, record=self.record,
                                  on_drop=lambda p, why: self.dropped.append((p, why)))
        self.sent = 0
        self.number_by_born: dict[float, int] = {}  # identifies corrupted packets too

    def _deliver(self, packet: Packet) -> None:
        self.received.append((self.sim.now, packet))

    def send_at(self, t: float, size: int) -> int:
        """Schedule the next numbered packet to reach the link at t; returns its number."""
        number = self.sent
        self.sent += 1
        self.number_by_born[t] = number
        self.sim.at(t, lambda: self.link.send(numbered(number, size, t)))
        return number

    def send_now(self, size: int) -> int:
        number = self.sent
        self.sent += 1
        self.link.send(numbered(number, size, self.sim.now))
        return number

    def run(self, until: float) -> None:
        self.sim.run_until(until)
        self.link.finish(until)

    def arrivals(self) -> dict[int, float]:
        """Packet number -> when it reached the far end (the first copy)."""
        out: dict[int, float] = {}
        for t, packet in self.received:
            out.setdefault(number_of(packet), t)
        return out

    def departures(self) -> list[float]:
        return [e[0] for e in self.log.of("departure")]

    def lost_numbers(self) -> list[int]:
        return [number_of(p) for p, why in self.dropped if why == "loss"]
