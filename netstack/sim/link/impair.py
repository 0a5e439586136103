"""Propagation and impairments: what happens to a packet between the serializer and the far end.

After its last byte leaves the serializer at time t, a packet:
1. may be lost: IID (probability p) or Gilbert-Elliott (a good and a bad state, a Markov
   chain stepped once per packet, each state with its own loss probability);
2. is due at t + delay + jitter, the jitter uniform in [0, jitter). Like netem, jitter can
   reorder packets: one drawn late may arrive after the next one;
3. may be held back `reorder_delay` more (probability `reorder`), so later packets overtake it;
4. may be duplicated (probability `duplicate`): an exact copy arrives right after it;
5. may be corrupted (probability `corrupt`): one random bit of the original flips (the
   duplicate, if any, stays intact);
then it is handed to `deliver` at its due time. All decisions are made at t, in the order
packets leave; the result is the same as deciding them on arrival, with fewer events.

Randomness. Each stage draws from its own generator, sim.random("link/<name>/<stage>"), so
turning on jitter does not change which packets are lost. In common-random-numbers mode
(crn=True) every draw is instead a pure function of (seed, link name, stage, packet index),
where the index counts the packets that left this direction's serializer. Two runs with
different traffic (say, two congestion controls) then lose, corrupt and duplicate the same
packet numbers, and Gilbert-Elliott walks through the same states. (Each stage here draws a
fixed number of times per packet, so the generators happen to line up the same way; CRN
makes it a guarantee that does not depend on how, or how often, any stage draws.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from netstack.sim.events import Simulator, derive_seed
from netstack.sim.link.spec import LinkSpec
from netstack.sim.packet import Packet

Deliver = Callable[[Packet], None]
Lost = Callable[[float, Packet], None]
Draw = Callable[[int], float]  # packet index -> uniform in [0, 1)

MASK64 = (1 << 64) - 1


def crn_uniform(key: int, index: int) -> float:
    """A uniform number in [0, 1) that depends only on (key, index): the splitmix64 mixing
    function applied to the index-th step from `key`."""
    z = (key + (index + 1) * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return (z >> 11) * (1.0 / (1 << 53))


def make_draw(sim: Simulator, name: str, stage: str, crn: bool) -> Draw:
    """The random source of one stage of link direction `name`."""
    path = f"link/{name}/{stage}"
    if crn:
        return partial(crn_uniform, derive_seed(sim.seed, path))
    next_uniform = sim.random(path).random
    return lambda index: next_uniform()


class GilbertElliott:
    """Two-state Markov loss. Per packet: step the chain (good->bad with p_gb, bad->good with
    p_bg), then lose the packet with the new state's loss probability. In the long run the
    chain is bad a fraction p_gb/(p_gb+p_bg) of the packets, and stays bad 1/p_bg packets
    on average."""

    __slots__ = ("bad", "p_gb", "p_bg", "loss_good", "loss_bad", "_step", "_lose")

    def __init__(self, p_gb: float, p_bg: float, loss_good: float, loss_bad: float,
                 step: Draw, lose: Draw) -> None:
        self.bad = False
        self.p_gb = p_gb
        self.p_bg = p_bg
        self.loss_good = loss_good
        self.loss_bad = loss_bad
        self._step = step
        self._lose = lose

    def __call__(self, index: int) -> bool:
        u = self._step(index)
        if self.bad:
            if u < self.p_bg:
                self.bad = False
        elif u < self.p_gb:
            self.bad = True
        return self._lose(index) < (self.loss_bad if self.bad else self.loss_good)


class Propagation:
    """Delay, jitter and impairments of one link direction; `carry(t, packet)` takes a packet
    that left the serializer at t."""

    def __init__(self, sim: Simulator, spec: LinkSpec, name: str, deliver: Deliver,
                 lost: Lost, crn: bool = False) -> None:
        self.sim = sim
        self.delay = spec.delay
        self.jitter = spec.jitter
        self.reorder = spec.reorder
        self.reorder_delay = spec.reorder_delay
        self.duplicate = spec.duplicate
        self.corrupt = spec.corrupt
        self.index = 0  # packets carried so far: the CRN packet index
        self._deliver = deliver
        self._lost = lost

        def draw(stage: str) -> Draw:
            return make_draw(sim, name, stage, crn)

        loss = spec.loss
        self._is_lost: Callable[[int], bool] | None = None
        if loss.kind == "iid" and loss.p > 0:
            uniform, p = draw("loss"), loss.p
            self._is_lost = lambda index: uniform(index) < p
        elif loss.kind == "gilbert":
            self._is_lost = GilbertElliott(loss.p_gb, loss.p_bg, loss.loss_good,
                                           loss.loss_bad, draw("gilbert"), draw("loss"))
        self._jitter = draw("jitter")
        self._reorder = draw("reorder")
        self._duplicate = draw("duplicate")
        self._corrupt = draw("corrupt")
        self._corrupt_bit = draw("corrupt-bit")
        impaired = (self._is_lost is not None or self.jitter or self.reorder
                    or self.duplicate or self.corrupt)
        self.carry: Callable[[float, Packet], None] = self._impaired if impaired else self._plain

    def _plain(self, t: float, packet: Packet) -> None:
        self.index += 1
        self.sim.at(t + self.delay, self._deliver, packet)

    def _impaired(self, t: float, packet: Packet) -> None:
        index = self.index
        self.index = index + 1
        if self._is_lost is not None and self._is_lost(index):
            self._lost(t, packet)
            return
        due = t + self.delay
        if self.jitter:
            due += self.jitter * self._jitter(index)
        if self.reorder and self._reorder(index) < self.reorder:
            due += self.reorder_delay
        twin = packet.copy() if self.duplicate and self._duplicate(index) < self.duplicate else None
        if self.corrupt and packet.data and self._corrupt(index) < self.corrupt:
            packet = flip_bit(packet, self._corrupt_bit(index))
        self.sim.at(due, self._deliver, packet)
        if twin is not None:
            self.sim.at(due, self._deliver, twin)


def flip_bit(packet: Packet, u: float) -> Packet:
    """A copy of the packet with bit number int(u * bits) flipped (u in [0, 1))."""
    data = bytearray(packet.data)
    bit = int(u * len(data) * 8)
    data[bit >> 3] ^= 1 << (bit & 7)
    return Packet(bytes(data), packet.born, packet.flow)
