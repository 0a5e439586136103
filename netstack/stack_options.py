"""The stack options a client command shares with `netstack run` (`netstack exec`,
`netstack iperf3`): the flags, and opening the engine they describe."""

from __future__ import annotations

import argparse
from typing import Any

# The run options a client command takes, by their argparse destination names.
STACK_FLAGS = ("port", "ip", "gateway", "mac", "mtu", "capture", "routes", "arp", "engine",
               "tcp_congestion", "seed")


def add_stack_arguments(parser: Any) -> None:
    """`--port`, `--ip`... `--config`, meaning what they mean to `netstack run`."""
    parser.add_argument("--port", metavar="SPEC", help="as netstack run: tap:NAME, memory:NAME...")
    parser.add_argument("--ip", metavar="CIDR", help="the stack's address, e.g. 192.0.2.2/24")
    parser.add_argument("--gateway", metavar="IP", help="default route next hop")
    parser.add_argument("--mac", help="the stack's MAC (default: from the IP)")
    parser.add_argument("--mtu", type=int, metavar="N", help="link MTU (default 1500)")
    parser.add_argument("--capture", metavar="FILE", help="a pcap of every frame")
    parser.add_argument("--route", action="append", dest="routes", metavar="CIDR=VIA",
                        help="static route (repeatable)")
    parser.add_argument("--arp", action="append", metavar="IP=MAC",
                        help="static ARP entry (repeatable)")
    parser.add_argument("--engine", choices=("python", "native"))
    parser.add_argument("--tcp-congestion", metavar="NAME", help="newreno or cubic")
    parser.add_argument("--seed", metavar="N", help="one seed for every random choice")
    parser.add_argument("--config", metavar="FILE", help="TOML file with these settings")


def open_engine_from(args: argparse.Namespace) -> tuple[Any, Any]:
    """(the engine, the run options) the parsed flags and --config describe; ConfigError
    names a bad one. The engine is not started."""
    from netstack.config import build_run_options, load_toml
    from netstack.engine.assemble import open_engine

    file_settings = load_toml(args.config) if args.config else None
    options = build_run_options({name: getattr(args, name, None) for name in STACK_FLAGS},
                                file_settings)
    engine = open_engine(options.stack_config(), options.port, engine=options.engine,
                         capture=options.capture)
    return engine, options
