"""What SACK loss recovery costs the sender: a bulk transfer through a bottleneck with a
large window, between two stacks in virtual time.

    .venv/bin/python benchmarks/sack_cost.py [--seconds S] [--rate MBIT] [--queue FRAMES]
                                             [--delay D] [--loss P] [--buffer BYTES]
                                             [--seed N] [--profile] [--pcap FILE]

Two stacks on a memory cable, stepped on one virtual clock (netstack/testing/lockstep.py).
Each direction of the cable is a bottleneck: frames are serialized at `--rate` Mbit/s behind
a drop-tail queue of `--queue` frames, then delayed `--delay` seconds (and lost with
probability `--loss`). A writes as fast as its send buffer takes; B reads everything. With
large buffers, slow start overshoots the path by hundreds of segments, so one window loses
many of them and SACK recovery works on a scoreboard of hundreds of ranges: the case where
a scoreboard that rescans itself on every send is quadratic.

It prints the wall and CPU time of the transfer, the bytes delivered and the sender's
recovery counters (one seed moves the same segments every run, so two trees can be compared
run for run); `--profile` adds cProfile's figures for the SACK functions (cumulative time
and share of the run) and its top functions by own time. `--pcap FILE` records every frame
both stacks sent and received, with virtual timestamps, and prints its SHA-256: a change that
must not alter behaviour keeps it the same.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import time
from collections import deque
from ipaddress import IPv4Address, IPv4Interface

from netstack.clock import VirtualClock
from netstack.engine.capture import Capture
from netstack.engine.loop import Engine
from netstack.engine.ports import open_port
from netstack.engine.ports.linkemu import LinkConditions, LinkEmulator
from netstack.mbuf import Mbuf, MbufPool
from netstack.stack import Stack, StackConfig
from netstack.stages.tcp import TcpConfig
from netstack.stages.tcp.state import TcpState
from netstack.testing.lockstep import Lockstep

A_MAC, B_MAC = bytes.fromhex("0200c0000201"), bytes.fromhex("0200c0000202")
B_IP = IPv4Address("192.0.2.2")
PORT = 9
BLOCK = bytes(range(256)) * 256  # 64 KB written at a time
PROFILED = ("pipe", "is_lost", "output", "_send_next_segment", "next_hole", "holes", "update",
            "_lost_again_holes", "_find_lost_retransmissions", "acknowledged", "after_ack")


class Bottleneck(LinkEmulator):
    """The link emulator (loss and delay) behind a serializer and a drop-tail queue: each
    frame the port receives waits for the frames before it to be sent at `rate` bit/s, or
    is dropped if `queue_frames` are already waiting or being sent."""

    def __init__(self, inner, conditions: LinkConditions, rate: float, queue_frames: int) -> None:
        super().__init__(inner, conditions)
        self.rate = rate
        self.queue_frames = queue_frames
        self.departures: deque[float] = deque()  # when each queued frame finishes sending

    def _judge(self, m: Mbuf, pool: MbufPool, now: float) -> None:
        departures = self.departures
        while departures and departures[0] <= now:
            departures.popleft()
        if len(departures) >= self.queue_frames:
            self.counters.bump("link.drop.queue")
            pool.free(m)
            return
        start = departures[-1] if departures else now
        done = start + m.data_len * 8 / self.rate
        departures.append(done)
        if self.random.random() < self.conditions.loss:
            self.counters.bump("link.drop.loss")
            pool.free(m)
            return
        self._held.append((done + self.conditions.delay, next(self._order), m))  # in order


def run(seconds: float, rate: float, queue: int, delay: float, loss: float, buffer: int,
        seed: int, pcap: str | None = None) -> dict:
    """Transfer for `seconds` of virtual time; returns what moved and what recovery did."""
    clock = VirtualClock()
    tcp = TcpConfig(rcvbuf=buffer, sndbuf=buffer, rcvbuf_max=buffer)
    capture = Capture(pcap, wall_clock=False) if pcap else None
    engines = []
    for mac, cidr in ((A_MAC, "192.0.2.1/24"), (B_MAC, "192.0.2.2/24")):
        pool = MbufPool(16384)
        stack = Stack(StackConfig(mac=mac, address=IPv4Interface(cidr), random_seed=seed,
                                  tcp=tcp), pool)
        cable = open_port(f"memory:sack-cost-{os.getpid()}", mac=mac, pool=pool,
                          counters=stack.counters)
        port = Bottleneck(cable, LinkConditions(loss=loss, delay=delay), rate * 1e6, queue)
        engines.append(Engine(stack, port, pool, clock=clock, capture=capture))
    net = Lockstep(engines, clock)
    a, b = engines
    listener = net.call(b, lambda stack, now: stack.tcp.listen(None, PORT, 4))
    client = net.call(a, lambda stack, now: stack.tcp.connect(None, 0, B_IP, PORT, now))
    received = [0]
    server: list = []

    def writer(now: float) -> None:
        if client.state is TcpState.ESTABLISHED and client.writable:
            client.write_app(memoryview(BLOCK)[:client.writable])
            client.app_did_write(now)

    def reader(now: float) -> None:
        if not server and listener.accept_queue:
            server.append(listener.accept_queue.popleft())
        if server and server[0].readable:
            received[0] += len(server[0].read_app(1 << 22))
            server[0].app_did_read(now)

    a.add_pass_hook(writer)
    b.add_pass_hook(reader)
    started, cpu_started = time.perf_counter(), time.process_time()
    net.run_for(seconds)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    result: dict = {"wall_s": wall, "cpu_s": cpu, "received": received[0]}
    for name in ("tcp.tx.segments", "tcp.tx.retransmits", "tcp.tx.sack_recovery",
                 "tcp.tx.sack_retransmits", "tcp.tx.lost_retransmit", "tcp.tx.sack_rescue",
                 "tcp.tx.timeout"):
        result[name] = a.stack.counters[name]
    result["link.drop.queue"] = b.stack.counters["link.drop.queue"]
    net.close()  # closes the capture too
    if pcap:
        with open(pcap, "rb") as f:
            result["pcap_sha256"] = hashlib.sha256(f.read()).hexdigest()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="Mbit/s")
    parser.add_argument("--queue", type=int, default=100, help="frames")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds, one way")
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--buffer", type=int, default=4 * 1024 * 1024, help="bytes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pcap", help="record both ports here and print the file's hash")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    result = run(args.seconds, args.rate, args.queue, args.delay, args.loss, args.buffer,
                 args.seed, args.pcap)
    if profiler is not None:
        profiler.disable()
    for key, value in result.items():
        print(f"{key:26} {value:.3f}" if isinstance(value, float) else f"{key:26} {value}")
    if profiler is None:
        return
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{'profiled_s':26} {total:.3f}")
    for (path, _, function), entry in sorted(stats.stats.items(),  # type: ignore[attr-defined]
                                             key=lambda item: -item[1][3]):
        if "stages/tcp/sack" in path and function in PROFILED:
            module = path.rsplit("/", 1)[-1]
            print(f"  {module}:{function:28} {entry[3]:7.2f} s {entry[3] / total:6.1%}"
                  f"  ({entry[1]} calls)")
    stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
