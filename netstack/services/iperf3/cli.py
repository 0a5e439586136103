"""`netstack iperf3 -c HOST`: iperf3's client on a stack of its own.

    netstack iperf3 --port tap:ns0 --ip 192.0.2.2/24 -c 192.0.2.1 -t 5 -R -J

The stack options are `netstack run`'s (`--port`, `--ip`, `--gateway`, `--config`...);
the test options are iperf3's (`-c`, `-p`, `-u`, `-R`, `-t`, `-P`, `-b`, `-l`, `-J`).
Careful: `-p` is iperf3's server port, `--port` the stack's port spec.
Exit status: 0 when the test ran, 1 when it could not (iperf3's), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from netstack.errors import ConfigError, NetstackError
from netstack.services.iperf3 import protocol as p
from netstack.stack_options import add_stack_arguments, open_engine_from


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"netstack iperf3: error: {message} (see netstack iperf3 --help)\n")


def parse_rate(text: str) -> int:
    """iperf3's -b: 10M, 1.5G, 500K or plain bits per second."""
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:].upper(), 1)
    try:
        value = float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (e.g. 10M)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("a rate must be positive")
    return int(value)


def _positive(kind: type):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not positive")
        return value
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netstack iperf3",
                     description="iperf3's client on netstack: measure throughput to any "
                                 "iperf3 server (the real one, or `netstack run --service "
                                 "iperf3:5201`).")
    test = parser.add_argument_group("the test (iperf3's options)")
    test.add_argument("-c", "--client", metavar="HOST", required=True, help="the server")
    test.add_argument("-p", dest="server_port", type=_positive(int), default=p.DEFAULT_PORT,
                      metavar="PORT", help=f"the server's port (default {p.DEFAULT_PORT})")
    test.add_argument("-u", "--udp", action="store_true", help="UDP instead of TCP")
    test.add_argument("-R", "--reverse", action="store_true", help="the server sends")
    test.add_argument("-t", "--time", type=_positive(float), default=10.0, metavar="S",
                      help="seconds to run (default 10)")
    test.add_argument("-P", "--parallel", type=_positive(int), default=1, metavar="N",
                      help="streams at once (TCP)")
    test.add_argument("-b", "--bitrate", type=parse_rate, metavar="RATE",
                      help="per stream, e.g. 10M (UDP default 1M; TCP: unlimited)")
    test.add_argument("-l", "--length", type=_positive(int), metavar="BYTES",
                      help="bytes per write (TCP default 128K, UDP 1448)")
    test.add_argument("-J", "--json", action="store_true", help="iperf3's JSON report")
    add_stack_arguments(parser.add_argument_group("the stack (netstack run's options)"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.udp and args.parallel > 1:
        print("netstack iperf3: error: UDP with -P is not supported", file=sys.stderr)
        return 2
    params = p.TestParams(udp=args.udp, reverse=args.reverse, duration=args.time,
                          parallel=args.parallel,
                          blksize=args.length or (p.UDP_BLOCK if args.udp else p.TCP_BLOCK),
                          bandwidth=args.bitrate or (p.UDP_DEFAULT_RATE if args.udp else 0))
    try:
        return _run(args, params)
    except ConfigError as e:
        print(f"netstack iperf3: error: {e}", file=sys.stderr)
        return 2
    except NetstackError as e:
        print(f"netstack iperf3: error - {e}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, params: p.TestParams) -> int:
    from netstack.api import Host
    from netstack.services.iperf3.client import Iperf3Error, run_client

    engine, _options = open_engine_from(args)
    host = Host(engine, owns_engine=True)
    try:
        engine.start()
        report = None if args.json else print
        if report:
            print(f"Connecting to host {args.client}, port {args.server_port}")
        try:
            result = run_client(host, args.client, args.server_port, params, report)
        except Iperf3Error as e:
            print(f"netstack iperf3: error - {e}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(result, indent=2))
        return 0
    finally:
        host.close()
