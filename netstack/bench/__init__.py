"""`netstack bench`: how fast the native parts and the whole stack are, as ratios.

The machines this runs on are noisy (shared CPUs, frequency scaling), so an absolute figure
says little. Every benchmark measures the subject and a reference in the same run,
interleaved, and reports the ratio subject / reference:

- ring:     netstack.native.ring.Ring burst enqueue/dequeue of 32 items vs a collections.deque
            doing the same work (items per second, higher is better);            micro.py
- checksum: netstack.native.checksum.internet_checksum vs the pure-Python reference on 64, 576 and
            1500-byte buffers (MB/s, higher is better);                           micro.py
- ping:     the kernel pings `netstack run` on a TAP vs a minimal C responder on a TAP
            (benchmarks/tap_responder.c), each in its own fresh network namespace, and
            Linux over a veth for scale (average RTT, lower is better). Needs root. ping.py
- udp:      UDP echo round trips per second from a kernel-side client
            (benchmarks/udp_driver.c) against `netstack run --service udp-echo:7` vs the
            same C responder, with 1 and with 16 datagrams in flight, and Linux over a veth
            (benchmarks/udp_echo_server.c) for scale (higher is better). Needs root. udp.py
- tcp:      from the kernel side over TAP, `netstack run` with tcp-echo, tcp-discard and
            tcp-chargen vs Linux over veth with its offloads on (two namespaces): echo round
            trips/s with one 64-byte message in flight, connect/echo/close cycles per
            second, bulk Mbit/s both ways. Needs root.                            tcp.py
- hold:     10,000 concurrent idle connections from the kernel side to `netstack run
            --service tcp-hold:7` (event-driven) vs a Linux epoll server over veth: how many
            are held (each echoes a byte) and the RSS each costs. Needs root.    hold.py
- tcp-loss: the bulk transfers with nftables dropping 5% of segments each way, seconds
            for 20 MB, against Linux over veth at one segment per packet. Needs root and
            nft.                                                                  tcp.py
- tcp-offload: the two bulk transfers with `netstack run --port tap:NAME,offload` (64 KB
            TCP frames through the TAP's virtio-net header): a separate mode, its own rows,
            no target. Needs root.                                                tcp.py

Each benchmark alternates rounds of the subject and of the reference and keeps each side's
best round: noise only ever makes things slower, and a noisy moment hits both sides. Rows
with a speed target (UDP >= 50% of the responder, ping <= 2x, connect/echo/close
>= 40% and bulk >= 4% of Linux, 10,000 connections held, < 10 KB RSS each) say PASS or MISS.
`tap.py` has what the TAP benchmarks share, `command.py` the options and the table,
`chart.py` the PNG.

    netstack bench                  # everything, about 2-2.5 minutes
    netstack bench --quick          # smaller counts, about 25 s
    netstack bench --only udp --udp-inflight 1,16,64 --json results.json --png results.png
    netstack bench --port 'dpdk:net_tap0,iface={tap}'   # netstack run on another port
"""

from netstack.bench.command import BENCHMARKS, RUNNERS, build_parser, format_table, main
from netstack.bench.common import DEFAULT, QUICK, BenchError, Result, Settings, Skipped, Target
from netstack.bench.tap import (
    KERNEL_CIDR,
    RESPONDER_MAC,
    RESPONDER_SOURCE,
    STACK_IP,
    build_responder,
    parse_ping,
)
from netstack.bench.udp import build_udp_driver, parse_driver_result

__all__ = [
    "BENCHMARKS",
    "DEFAULT",
    "KERNEL_CIDR",
    "QUICK",
    "RESPONDER_MAC",
    "RESPONDER_SOURCE",
    "RUNNERS",
    "STACK_IP",
    "BenchError",
    "Result",
    "Settings",
    "Skipped",
    "Target",
    "build_parser",
    "build_responder",
    "build_udp_driver",
    "format_table",
    "main",
    "parse_driver_result",
    "parse_ping",
]
