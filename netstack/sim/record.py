"""What a run measured, in memory, before it is written out (run.py) or summed up (metrics.py).

The simulator fills these as it runs; metrics.py turns them into numbers and the run writes
them as files. Times are virtual seconds from the start of the run; sizes are bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FlowRecord:
    name: str  # "flow0", "ping0", ...
    kind: str  # "bulk", "rr" (request/response), "ping", "onoff"
    src: str  # node names
    dst: str
    cc: str = ""  # congestion control ("newreno", "cubic"), "" for non-TCP flows
    start: float = 0.0
    end: float | None = None  # when the application finished; None: still running at the end
    app_bytes: int = 0  # bytes the receiving application read (goodput's numerator)
    completion_times: list[float] = field(default_factory=list)  # per transfer/request, seconds
    # Data frames of this flow that reached the receiving host: (arrival time, frame bytes),
    # retransmissions included (Pantheon's throughput counts what the link delivered).
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    one_way_delays: list[float] = field(default_factory=list)  # per frame in `arrivals`
    rtt_samples: list[tuple[float, float]] = field(default_factory=list)  # (time, rtt seconds)
    frames_sent: int = 0  # data frames the sender put on its link (retransmissions included)
    frames_lost: int = 0  # of those, dropped by a queue or an impairment on the way
    retransmits: int = 0  # segments retransmitted (TCP_INFO tcpi_total_retrans)
    rtos: int = 0  # retransmission timeouts that fired


@dataclass
class LinkRecord:
    name: str  # "bottleneck.up" (link name and direction)
    # Capacity offered: bytes the link could have carried in [start, end) of the run.
    capacity_bytes: float = 0.0
    delivered_bytes: int = 0  # bytes that left the serializer
    delivered: list[tuple[float, int]] = field(default_factory=list)  # (departure time, bytes)
    queue_delays: list[float] = field(default_factory=list)  # per departed packet, in queue
    queue_samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, bytes, pkts)
    drops: int = 0  # queue drops (tail, head, AQM)
    losses: int = 0  # impairment losses (IID, Gilbert-Elliott)
    offered: int = 0  # packets that arrived at the link


@dataclass
class RunRecord:
    duration: float  # virtual seconds
    flows: list[FlowRecord] = field(default_factory=list)
    links: list[LinkRecord] = field(default_factory=list)
