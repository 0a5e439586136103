"""The `netstack` command.

    netstack run --port tap:ns0 --ip 192.0.2.2/24      run a stack in the foreground
    netstack units                                      list the units --impl can replace
    netstack demo                                       see it answer the kernel's pings
    netstack bench                                      measure it
    netstack lab list                                   the labs (labs/README.md)

Bad input never produces a traceback: it is one `netstack: error: ...` line and exit status 2.
"""

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from netstack.errors import ConfigError, NetstackError

EXIT_USAGE = 2

RUN_EPILOG = """\
port specs:
  tap:NAME          a TAP device (created if missing); the kernel on NAME is your peer
  tap:NAME,offload  the same with the kernel's checksum and TCP segmentation offloads
                    (virtio-net header): 64 KB TCP frames each way; a separate mode
  afpacket:IFNAME   raw frames on an existing interface, e.g. one end of a veth pair
  pcap:IN[,OUT]     replay IN as received frames, write what the stack sends to OUT
  memory:NAME       an in-process cable to another stack (tests, experiments)
  dpdk:VDEV-ARGS    a DPDK virtual device: dpdk:net_tap0,iface=dtap0 (DPDK creates the TAP
                    dtap0) or dpdk:net_af_packet0,iface=veth1; EAL args: see --eal
  append ?loss=0.1&delay=0.01&seed=1 to any spec for an emulated bad link

replacing a unit (`netstack units` lists them):
  --impl arp=mylab.arp:ArpStage     the unit `arp` is the class ArpStage of mylab/arp.py;
  --impl checksum=mylab.checksum    a whole module is a unit too (repeatable)

example (as root, inside a network namespace):
  netstack run --port tap:ns0 --ip 192.0.2.2/24 &
  ip addr add 192.0.2.1/24 dev ns0 && ip link set ns0 up && ping 192.0.2.2
"""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; we print just the error, on one line."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"netstack: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="netstack",
        description="A readable TCP/IP stack in Python, built as DPDK-style pipeline stages.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineErrorParser)

    run = commands.add_parser(
        "run", help="run a stack in the foreground until Ctrl-C",
        description="Run a stack on a port until SIGINT/SIGTERM, then print its counters. "
        "Prints a line starting with 'ready' once it answers.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--port", metavar="SPEC", help="where frames come from and go to (see below)")
    run.add_argument("--ip", metavar="CIDR", help="the stack's address, e.g. 192.0.2.2/24")
    run.add_argument("--gateway", metavar="IP", help="default route next hop")
    run.add_argument("--mac", help="the stack's MAC (default: 02:00 + the IP's four bytes)")
    run.add_argument("--mtu", type=int, metavar="N", help="link MTU (default 1500)")
    run.add_argument("--kni", metavar="SPEC",
                     help="tap:NAME: a TAP device with the stack's MAC; frames the stack does not "
                     "handle go to the kernel through it")
    run.add_argument("--kni-tcp-ports", metavar="LIST", help="TCP ports to leave to the kernel, e.g. 22,80")
    run.add_argument("--kni-udp-ports", metavar="LIST", help="UDP ports to leave to the kernel, e.g. 53")
    run.add_argument("--capture", metavar="FILE", help="write every frame sent and received to a pcap file")
    run.add_argument("--config", metavar="FILE", help="TOML file with the same settings; flags override it")
    run.add_argument("--service", action="append", dest="services", metavar="NAME:PORT",
                     help="start a service (repeatable)")
    run.add_argument("--route", action="append", dest="routes", metavar="CIDR=VIA",
                     help="static route (repeatable)")
    run.add_argument("--arp", action="append", metavar="IP=MAC", help="static ARP entry (repeatable)")
    run.add_argument("--engine", choices=("python", "native"),
                     help="python (default): the loop does the port I/O itself; native: a C "
                     "thread does it without the GIL (tap: and afpacket: ports)")
    run.add_argument("--busy-poll", action="store_true", default=None,
                     help="never sleep: poll the port in a loop, DPDK-style (lowest latency, "
                     "a full core per spinning thread)")
    run.add_argument("--eal", metavar="ARGS",
                     help="dpdk: ports: the DPDK EAL arguments, written --eal=\"...\" (default: "
                     "\"--no-huge --no-pci --no-shconf -m 256 -l 0\"); --vdev=VDEV-ARGS is "
                     "added from --port")
    run.add_argument("--tcp-congestion", metavar="NAME",
                     help="TCP congestion control for every socket: newreno (default) or cubic "
                     "(a socket may still choose its own with setsockopt TCP_CONGESTION)")
    run.add_argument("--seed", metavar="N",
                     help="one integer seed for every random choice (ISNs, ports, IP IDs, "
                     "ARP jitter, an emulated link without its own seed): a repeatable run")
    run.add_argument("--impl", action="append", metavar="UNIT=MODULE:ATTR",
                     help="replace a unit of the stack with your own (repeatable; "
                     "`netstack units` lists them)")
    run.add_argument("--trace", metavar="KINDS",
                     help="print trace events to stderr, one line each: tcp, all, or a comma "
                     "list of state,cwnd,rtt,retransmit,rto,segment,drop,highwater")
    run.add_argument("--name", metavar="NAME",
                     help="the name tools reach this stack by (netstack ps, -n NAME); "
                     "default: from the port, e.g. tap0 or memory-lab")
    run.add_argument("--print-config", action="store_true",
                     help="print the effective settings as TOML and exit")
    run.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")

    commands.add_parser("units", help="list the units a lab may replace (--impl UNIT=...)",
                        description="Every replaceable unit: its name (for --impl and the impl "
                        "key), the interface a replacement must have, and the reference "
                        "implementation.")

    for name, text in (("demo", "watch the stack answer the Linux kernel's pings"),
                       ("bench", "run the benchmarks"),
                       ("sim", "experiments in virtual time: run, sweep, plot"),
                       ("lab", "the labs: start, check and grade your own units (labs/README.md)"),
                       ("exec", "run an unmodified Python program with its sockets on a stack"),
                       ("iperf3", "iperf3's client on a stack (the server: --service iperf3:5201)"),
                       ("drill", "run packetdrill scripts against netstack in virtual time"),
                       ("ps", "list the running stacks"),
                       ("stat", "a running stack's counters, as nstat shows them"),
                       ("ss", "a running stack's sockets, as ss shows them (-i: TCP internals)"),
                       ("ip", "a running stack's address, routes and ARP table (ip -j keys)"),
                       ("sysctl", "read or change a running stack's tunables"),
                       ("top", "where a running stack's loop spends its time, per interval"),
                       ("traffic", "a running stack's packets, bytes and drops per interval"),
                       ("pool", "a running stack's mbuf pool, and who holds each mbuf"),
                       ("rings", "a running stack's rings and queues: depth, high-water, drops"),
                       ("capture", "a live capture from a running stack into a pcap file"),
                       ("events", "a running stack's trace events as they happen"),
                       ("kni", "show or set a running stack's KNI steering (knictl)")):
        sub = commands.add_parser(name, help=text, add_help=False,
                                  description=f"{text} (options: netstack {name} --help)")
        sub.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in CONTROL_TOOLS:
        from netstack.ctl.tools import run_tool

        return run_tool(argv[0], argv[1:])
    if argv and argv[0] in DELEGATED:
        # Their own parsers handle everything after the subcommand, --help included.
        return delegate(argv[0], argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "units":
        return list_units()
    try:
        return run_command(args)
    except ConfigError as e:
        print(f"netstack: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except NetstackError as e:
        print(f"netstack: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the loop (and its signal handler) was running
        return 130


# The tools that talk to a running stack over shared memory (netstack/ctl/, docs/CONTROL.md).
CONTROL_TOOLS = ("ps", "stat", "ss", "ip", "sysctl", "top", "traffic", "pool", "rings",
                 "capture", "events", "kni")
DELEGATED = {"demo": "netstack.demo", "bench": "netstack.bench", "sim": "netstack.sim.cli",
             "lab": "labs.cli", "exec": "netstack.exec",
             "iperf3": "netstack.services.iperf3.cli", "drill": "netstack.drill.cli"}


def delegate(command: str, rest: list[str]) -> int:
    import importlib

    try:
        module = importlib.import_module(DELEGATED[command])
    except ImportError as e:
        print(f"netstack: error: 'netstack {command}' is not available in this checkout ({e})",
              file=sys.stderr)
        return 1
    return module.main(rest) or 0


def list_units() -> int:
    """`netstack units`: one block per unit, in the order frames meet them."""
    from netstack.units import UNITS

    width = max(len(name) for name in UNITS)
    lines = []
    for unit in UNITS.values():
        lines.append(f"{unit.name:<{width}}  {unit.summary}")
        lines.append(f"{'':<{width}}  interface  {unit.interface}")
        lines.append(f"{'':<{width}}  reference  {unit.reference}")
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # `netstack units | head`: the reader had enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def run_command(args: argparse.Namespace) -> int:
    from netstack.config import build_run_options, load_toml

    file_settings = load_toml(args.config) if args.config else None
    flags = {name: getattr(args, name, None) for name in (
        "port", "ip", "gateway", "mac", "mtu", "capture", "kni", "kni_tcp_ports",
        "kni_udp_ports", "services", "routes", "arp", "engine", "busy_poll", "eal",
        "tcp_congestion", "seed", "impl")}
    options = build_run_options(flags, file_settings)
    trace_kinds = _trace_kinds(args.trace)
    if args.print_config:
        print(options.describe())
        return 0
    _configure_logging(args.verbose)
    return serve(options, trace_kinds, name=args.name)


def _trace_kinds(text: str | None) -> frozenset[str] | None:
    """--trace's event kinds (netstack/trace.py KINDS), or None without the flag."""
    from netstack.trace import parse_kinds

    if text is None:
        return None
    try:
        return parse_kinds(text)
    except ValueError as e:
        raise ConfigError(f"--trace: {e}") from None


def _print_trace(stack, kinds: frozenset[str]) -> None:
    import time

    origin = time.monotonic()  # the engine's clock: lines show seconds since the start

    def show(event) -> None:
        print(event.describe(origin), file=sys.stderr, flush=True)

    stack.trace.subscribe(show, kinds)


def serve(options, trace_kinds: frozenset[str] | None = None, name: str | None = None) -> int:
    """Open everything, run until a signal, close everything, print the counters. The
    stack is reachable by the tools (netstack ps, stat, ss...) under `name`."""
    from netstack.config import format_mac

    try:
        from netstack.engine.assemble import open_engine
    except ImportError as e:
        raise NetstackError(f"the protocol stack is not available in this checkout ({e})") from None

    engine = open_engine(options.stack_config(), options.port, engine=options.engine,
                         busy_poll=options.busy_poll, capture=options.capture, kni=options.kni,
                         eal=options.eal)
    counters = engine.stack.counters
    if trace_kinds is not None:
        _print_trace(engine.stack, trace_kinds)
    try:
        control = open_control(engine, options.port, str(options.address), name)
    except BaseException:
        engine.close()
        raise
    try:
        def ready() -> None:
            if control is not None:
                control.mark_ready()
                logging.getLogger("netstack").info(
                    "tools reach this stack as %s (netstack ps; netstack stat -n %s)",
                    control.name, control.name)
            print(f"ready {options.address} on {engine.port.name} mac {format_mac(options.mac)}",
                  flush=True)

        if options.services:
            run_with_services(engine, options.services, ready)
        else:
            def stop(signum, frame) -> None:
                engine.stop()

            signal.signal(signal.SIGINT, stop)
            signal.signal(signal.SIGTERM, stop)
            engine.run(on_ready=ready)
    finally:
        if control is not None:
            control.close()  # the loop has stopped: tools no longer find this stack
        engine.close()  # closes the port, KNI and capture it was given
    print("counters:")
    for name, value in counters.snapshot().items():
        print(f"  {name} {value}")
    sys.stdout.flush()
    return 0


def open_control(engine, port: str, address: str, name: str | None):
    """The control plane's server (netstack/ctl/), or None where it cannot run (no
    /dev/shm, no native build): the stack runs anyway, and says why tools cannot reach it.
    An explicit --name already taken is an error; the default name takes a free suffix."""
    from netstack.ctl.segment import default_name, free_name
    from netstack.ctl.server import ControlServer

    chosen = name if name is not None else free_name(default_name(port))
    try:
        return ControlServer(engine, chosen, port, address)
    except (OSError, ImportError, AttributeError, ValueError) as e:
        print(f"netstack: tools cannot reach this stack ({e})", file=sys.stderr)
        return None


def run_with_services(engine, services, ready) -> None:
    """Run the engine on a thread and the services on another; the main thread waits for a
    signal. `ready` is printed only once every service's port is bound, so a client that
    waits for it is never refused."""
    import threading

    from netstack.api import Host
    from netstack.services import ServiceRunner

    signalled = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: signalled.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: signalled.set())
    engine.start()
    host = Host(engine)
    runner = ServiceRunner.from_names(host, services)
    try:
        runner.start()
    except OSError as e:
        names = ", ".join(f"{name}:{port}" for name, port in services)
        raise NetstackError(f"cannot start services {names}: {e.strerror or e}") from None
    ready()
    # The wait is a sleep that a signal ends at once; the timeout only lets us notice a
    # loop or a service that died on its own.
    while not signalled.wait(0.5):
        if engine.error is not None or not runner.running:
            break
    runner.stop()
    host.close()  # stops the engine; the caller closes it, with the port and capture
    if runner.error is not None:
        raise NetstackError(f"services stopped: {runner.error}")
    if engine.error is not None:
        raise NetstackError(f"the engine loop died: {engine.error}")


def _configure_logging(verbosity: int) -> None:
    import logging

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


if __name__ == "__main__":
    sys.exit(main())
