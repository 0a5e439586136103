"""One direction of a link: queue -> serializer -> propagation -> impairments -> deliver.

    d = LinkDirection(sim, spec, "bottleneck.up", deliver=far_end.receive)
    d.send(packet)          # the packet reaches the link's input at sim.now
    ...
    d.finish(end)           # at the end of the run: report what is left, fill the record

A packet entering at sim.now goes into the queue (which may drop it, or others); the
serializer takes it when its turn comes (rate.py) and, when its last byte has left,
propagation and impairments (impair.py) decide when, and whether, `deliver(packet)` is
called at the far end.

Order. Every arrival first brings the serializer up to date, so whatever the link does at
time t happens before a packet arriving at t is queued (mahimahi's order), and the
observer and the record are told everything in time order, with exact times.

Events. A link schedules one delivery event per packet it carries, plus at most one event
of its own at a time to wake its serializer. That wakeup comes not at the next departure
but `delay` after it. Handling a departure late changes nothing: no arrival came in
between (it would have brought the serializer up to date), and the packet's delivery, at
departure + delay or later, is still in the future. A busy link thus handles a whole
propagation delay's worth of departures in one wakeup. The price: observer calls and
`on_drop` may come up to `delay` after the time they carry. Reading `queue_bytes` or
`queue_packets` brings the link up to date; the record is complete after `finish`.

Measurements. With an observer (observer.py), every arrival, opportunity, departure, drop
and queue change is reported, in time order. With a LinkRecord (record.py), the link
fills in offered, drops, losses, delivered_bytes, delivered (departure time, bytes),
queue_delays (per departed packet: departure time minus arrival time, so it includes the
packet's own serialization, as mahimahi's link log does) and queue_samples (bytes and
packets waiting, after every change; several changes at one instant keep only the last).
`finish(end)` sets capacity_bytes to what the rate could have carried since the link was
made.
"""

from __future__ import annotations

from collections.abc import Callable

from netstack.sim.events import Event, Simulator
from netstack.sim.link.impair import Propagation
from netstack.sim.link.observer import LinkObserver
from netstack.sim.link.queue import Entry, make_queue
from netstack.sim.link.rate import make_serializer
from netstack.sim.link.spec import LinkSpec
from netstack.sim.packet import Packet
from netstack.sim.record import LinkRecord


class LinkDirection:
    def __init__(self, sim: Simulator, spec: LinkSpec, name: str,
                 deliver: Callable[[Packet], None], observer: LinkObserver | None = None,
                 crn: bool = False, record: LinkRecord | None = None,
                 on_drop: Callable[[Packet, str], None] | None = None) -> None:
        """`on_drop(packet, reason)`, if given, hears of every packet this direction discards
        (queue drops and losses), e.g. to count a flow's lost frames."""
        self.sim = sim
        self.spec = spec
        self.name = name
        self.observer = observer
        self.record = record
        self.start = sim.now
        self._on_drop = on_drop
        self.queue = make_queue(spec.queue, self._dropped, sim.random(f"link/{name}/pie"),
                                start=sim.now)
        self.serializer = make_serializer(
            spec.rate, self.queue, self._pull, self._depart,
            observer.opportunity if observer is not None else None, start=sim.now)
        self.propagation = Propagation(sim, spec, name, deliver, self._lost, crn)
        self._carry = self.propagation.carry
        # Departures may be handled up to `delay` after they happen: their deliveries are
        # still in the future then (see the module docstring).
        self._slack = spec.delay
        self._wakeup_event: Event | None = None
        self._wakeup_time: float | None = None
        self._noted = (0, 0)  # queue (bytes, packets) last reported
        if record is not None:
            record.queue_samples.append((sim.now, 0, 0))

    @property
    def queue_bytes(self) -> int:
        self._catch_up()
        return self.queue.bytes

    @property
    def queue_packets(self) -> int:
        self._catch_up()
        return self.queue.packets

    # --- input -----------------------------------------------------------------------------

    def send(self, packet: Packet) -> None:
        """A packet reaches the link's input now."""
        now = self.sim.now
        serializer = self.serializer
        serializer.advance(now)
        if self.record is not None:
            self.record.offered += 1
        if self.observer is not None:
            self.observer.arrival(now, len(packet.data))
        self.queue.enqueue(packet, now)
        self._note_queue(now)
        serializer.kick(now)
        wakeup = serializer.wakeup
        if wakeup is not None and (self._wakeup_time is None
                                   or wakeup + self._slack < self._wakeup_time):
            self._schedule_wakeup()

    def finish(self, end: float) -> None:
        """The run ends at `end`: handle what is due, report the opportunities not yet
        reported and fill in the record's capacity over [start, end). Call it once the
        simulator has run to `end`."""
        self._catch_up()
        if self.record is not None:
            self.record.capacity_bytes = self.serializer.capacity_bytes(self.start, end)

    # --- the serializer's wakeups ----------------------------------------------------------

    def _catch_up(self) -> None:
        """Handle everything due by now (departures are otherwise handled a little late)."""
        self.serializer.advance(self.sim.now)
        self._schedule_wakeup()

    def _schedule_wakeup(self) -> None:
        """Make sure an event comes by the serializer's wakeup + slack. One already due by
        then is kept: it will find what is due and schedule the next."""
        wakeup = self.serializer.wakeup
        if wakeup is None:
            return  # an event still pending will find nothing to do
        due = wakeup + self._slack
        if self._wakeup_time is not None and self._wakeup_time <= due:
            return
        if self._wakeup_event is not None:
            self._wakeup_event.cancel()
        self._wakeup_time = due
        self._wakeup_event = self.sim.at(due, self._wake)

    def _wake(self) -> None:
        self._wakeup_event = None
        self._wakeup_time = None
        self.serializer.advance(self.sim.now)
        self._schedule_wakeup()

    # --- callbacks from the stages ---------------------------------------------------------

    def _pull(self, t: float) -> Entry | None:
        entry = self.queue.dequeue(t)
        self._note_queue(t)
        return entry

    def _depart(self, t: float, entry: Entry) -> None:
        arrived, packet = entry
        size = len(packet.data)
        record = self.record
        if record is not None:
            record.delivered_bytes += size
            record.delivered.append((t, size))
            record.queue_delays.append(t - arrived)
        if self.observer is not None:
            self.observer.departure(t, size, t - arrived)
        self._carry(t, packet)

    def _dropped(self, t: float, packet: Packet, reason: str) -> None:
        if self.record is not None:
            self.record.drops += 1
        self._report_drop(t, packet, reason)

    def _lost(self, t: float, packet: Packet) -> None:
        if self.record is not None:
            self.record.losses += 1
        self._report_drop(t, packet, "loss")

    def _report_drop(self, t: float, packet: Packet, reason: str) -> None:
        if self.observer is not None:
            self.observer.drop(t, len(packet.data), reason)
        if self._on_drop is not None:
            self._on_drop(packet, reason)

    def _note_queue(self, t: float) -> None:
        queue = self.queue
        now = (queue.bytes, queue.packets)
        if now == self._noted:
            return
        self._noted = now
        if self.observer is not None:
            self.observer.queue(t, now[0], now[1])
        if self.record is not None:
            samples = self.record.queue_samples
            if samples and samples[-1][0] == t:
                samples.pop()  # several changes at one instant: keep the last
                if samples and samples[-1][1:] == now:
                    return  # ...which may be no change at all
            samples.append((t, now[0], now[1]))
