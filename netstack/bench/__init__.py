"""`netstack bench`: how fast the native parts and the whole stack are, as ratios.

The machines this runs on are noisy (shared CPUs, frequency scaling), so an absolute figure
says little. Every benchmark measures the subject and a reference in the same run,
interleaved, and reports the ratio subject / reference:

- ring:     netstack.native.Ring burst enqueue/dequeue of 32 items vs a collections.deque
            doing the same work (items per second, higher is better);            micro.py
- checksum: netstack.native.internet_checksum vs the pure-Python reference on 64, 576 and
            1500-byte buffers (MB/s, higher is better);                           micro.py
- ping:     the kernel pings `netstack run` on a TAP vs a minimal C responder on a TAP
            (benchmarks/tap_responder.c), each in its own fresh network namespace (average
            RTT, lower is better). Needs root.                                    ping.py
- udp:      UDP echo round trips per second from a kernel-side client
            (benchmarks/udp_driver.c) against `netstack run --service udp-echo:7` vs the
            same C responder, with 1 and with 16 datagrams in flight (higher is better).
            Needs root.                                                           udp.py
- tcp:      from the kernel side over TAP, `netstack run` with tcp-echo, tcp-discard and
            tcp-chargen vs Linux over veth (two namespaces): bulk Mbit/s both ways,
            connect/echo/close cycles per second, and 20 MB transfer times with 5% of
            segments dropped each way by nftables. Needs root and nft.            tcp.py

Each benchmark alternates rounds of the subject and of the reference and keeps each side's
best round: noise only ever makes things slower, and a noisy moment hits both sides.
`tap.py` has what the TAP benchmarks share, `command.py` the options and the table.

    netstack bench                  # everything, about 30-40 s
    netstack bench --quick          # smaller counts, under 20 s
    netstack bench --only udp --udp-inflight 1,16,64 --json results.json
"""

from netstack.bench.command import BENCHMARKS, RUNNERS, build_parser, format_table, main
from netstack.bench.common import DEFAULT, QUICK, BenchError, Result, Settings, Skipped
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
    "build_parser",
    "build_responder",
    "build_udp_driver",
    "format_table",
    "main",
    "parse_driver_result",
    "parse_ping",
]
