"""What one direction of a link is: plain values, checked once, named field by field.

A scenario gives each link direction as a table (TOML) or object (JSON); `link_spec_from_dict`
turns it into a LinkSpec and names the field of any bad value. The mahimahi adapter
(sim/mahimahi.py) builds the same LinkSpecs from mahimahi's command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateSpec:
    kind: str = "infinite"  # "constant" | "trace" | "onoff" | "infinite" (no serializer)
    bps: float = 0.0  # constant, and onoff while on
    trace: str | None = None  # trace: a mahimahi trace file (one delivery opportunity a line)
    once: bool = False  # trace: stop at its end instead of wrapping around (mm-link --once)
    on: float = 1.0  # onoff: seconds on, then seconds off
    off: float = 0.0


@dataclass(frozen=True)
class QueueSpec:
    kind: str = "infinite"  # "droptail" | "drophead" | "codel" | "pie" | "infinite"
    packets: int | None = None  # limit in packets (None: no packet limit)
    bytes: int | None = None  # limit in bytes (None: no byte limit)
    target: float = 0.005  # CoDel target / PIE target (PIE's default 0.015 when unset)
    interval: float = 0.100  # CoDel interval / PIE's update period


@dataclass(frozen=True)
class LossSpec:
    kind: str = "none"  # "none" | "iid" | "gilbert"
    p: float = 0.0  # iid: probability a packet is lost
    p_gb: float = 0.0  # gilbert: probability good -> bad, per packet
    p_bg: float = 0.0  # gilbert: probability bad -> good, per packet
    loss_good: float = 0.0  # gilbert: loss probability in the good state
    loss_bad: float = 1.0  # gilbert: loss probability in the bad state


@dataclass(frozen=True)
class LinkSpec:
    """One direction. Stages in order: rate (serializer) -> queue -> delay/jitter -> impairments."""

    rate: RateSpec = field(default_factory=RateSpec)
    queue: QueueSpec = field(default_factory=QueueSpec)
    delay: float = 0.0  # one-way propagation delay, seconds
    jitter: float = 0.0  # extra delay, uniform in [0, jitter)
    loss: LossSpec = field(default_factory=LossSpec)
    reorder: float = 0.0  # probability a packet is held back reorder_delay extra
    reorder_delay: float = 0.002
    duplicate: float = 0.0  # probability a packet arrives twice
    corrupt: float = 0.0  # probability one bit of the packet flips
