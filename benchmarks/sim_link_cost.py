"""What one packet costs a simulated link direction (wall-clock microseconds per packet).

    PYTHONPATH=$PWD python benchmarks/sim_link_cost.py [--packets 200000]

A source offers 1514-byte frames at 110% of a 100 Mbit/s drop-tail link (100 packets) with
20 ms of delay; the far end counts them. The same source into a sink that does nothing gives
the cost of the source and the simulator alone, which is subtracted. Best of --repeat runs.
"""

from __future__ import annotations

import argparse
import time

from netstack.sim.events import Simulator
from netstack.sim.link.direction import LinkDirection
from netstack.sim.link.spec import LinkSpec, QueueSpec, RateSpec
from netstack.sim.packet import Packet
from netstack.sim.record import LinkRecord

FRAME = bytes(1514)
BPS = 100e6


def run(packets: int, through_link: bool, record: bool) -> tuple[float, int]:
    sim = Simulator(seed=1)
    received = [0]

    def deliver(packet: Packet) -> None:
        received[0] += 1

    spec = LinkSpec(rate=RateSpec(kind="constant", bps=BPS),
                    queue=QueueSpec(kind="droptail", packets=100), delay=0.020)
    link = LinkDirection(sim, spec, "bench", deliver,
                         record=LinkRecord("bench") if record else None)
    send = link.send if through_link else deliver
    gap = len(FRAME) * 8 / (BPS * 1.1)
    sent = [0]

    def source() -> None:
        send(Packet(FRAME, sim.now))
        sent[0] += 1
        if sent[0] < packets:
            sim.after(gap, source)

    sim.at(0.0, source)
    began = time.perf_counter()
    sim.run()
    return time.perf_counter() - began, received[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    n = args.packets

    def best(through_link: bool, record: bool) -> tuple[float, int]:
        return min(run(n, through_link, record) for _ in range(args.repeat))

    base, _ = best(through_link=False, record=False)
    for record in (False, True):
        total, delivered = best(through_link=True, record=record)
        print(f"record={record!s:5}: {total:.2f} s for {n} packets ({delivered} delivered); "
              f"link alone {(total - base) / n * 1e6:.2f} us/packet "
              f"(source+simulator {base / n * 1e6:.2f} us/packet)")


if __name__ == "__main__":
    main()
