"""The tools: `netstack ps | stat | ss | ip | sysctl`, each talking to a running stack.

Every tool takes `-n NAME` (the stack; by default the only one running) and `-j` (JSON,
for scripts), and prints Linux's own words where Linux has a tool for it. Any failure to
reach the stack is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netstack.ctl import live, perf
from netstack.ctl.client import ControlClient, ControlError
from netstack.ctl.segment import STATE_NAMES, running_stacks
from netstack.ctl.ss_format import ss_info_line, ss_memory_line
from netstack.errors import NetstackError

EXIT_FAILED = 2
TOOLS = ("ps", "stat", "ss", "ip", "sysctl", *perf.TOOLS, *live.TOOLS)


def _common(parser: argparse.ArgumentParser, named: bool = True) -> None:
    if named:
        parser.add_argument("-n", "--name", metavar="NAME",
                            help="the stack to ask (netstack ps lists them; default: the only "
                                 "one running)")
    parser.add_argument("-j", "--json", action="store_true", help="print JSON")


def _ask(args: argparse.Namespace, type: str, request: dict | None = None) -> Any:
    with ControlClient.connect(args.name) as client:
        return client.request(type, request or {})


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2 if sys.stdout.isatty() else None))


# --- ps ----------------------------------------------------------------------------------
def ps(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="netstack ps",
                                     description="List the running netstack stacks.")
    _common(parser, named=False)
    args = parser.parse_args(argv)
    now = time.time()
    rows = [{"name": name, "pid": h.pid, "port": h.port, "addresses": h.addresses,
             "state": STATE_NAMES.get(h.state, "?"), "uptime": round(now - h.started, 1)}
            for name, h in running_stacks()]
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'NAME':16} {'PID':>7} {'PORT':20} {'ADDRESSES':20} {'STATE':9} UPTIME")
    for r in rows:
        print(f"{r['name']:16} {r['pid']:>7} {r['port']:20} {r['addresses']:20} "
              f"{r['state']:9} {_duration(r['uptime'])}")
    return 0


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02}:{s:02}" if hours else f"{m}:{s:02}"


# --- stat --------------------------------------------------------------------------------
def stat(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="netstack stat",
        description="The stack's counters, as nstat shows the kernel's: by default what "
                    "changed since your last `netstack stat` of that stack.")
    _common(parser)
    parser.add_argument("-a", "--absolute", action="store_true",
                        help="absolute values, not changes since the last call")
    parser.add_argument("-z", "--zeros", action="store_true", help="show zero values too")
    parser.add_argument("pattern", nargs="?", default="*",
                        help="only counters matching this shell pattern (e.g. 'tcp.*')")
    args = parser.parse_args(argv)
    with ControlClient.connect(args.name) as client:
        now = client.request("counters")
        history = _history_path(client.name)
    shown = dict(now)
    if not args.absolute:
        before = _load(history)
        shown = {k: v - before.get(k, 0) for k, v in now.items()}
        _save(history, now)
    shown = {k: v for k, v in sorted(shown.items())
             if fnmatch.fnmatch(k, args.pattern) and (v or args.zeros)}
    if args.json:
        _print_json(shown)
    else:
        for name, value in shown.items():
            print(f"{name:40} {value:>12}")
    return 0


def _history_path(name: str) -> Path:
    """Where the last values are kept between calls: per user and stack, as nstat's are."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return base / f"netstack-stat-{os.getuid()}-{name}.json"


def _load(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, values: dict[str, int]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(values))
    partial.replace(path)


# --- ss ----------------------------------------------------------------------------------
def ss(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="netstack ss",
                                     description="The stack's sockets, as ss lists them.")
    _common(parser)
    parser.add_argument("-t", "--tcp", action="store_true", help="TCP sockets")
    parser.add_argument("-u", "--udp", action="store_true", help="UDP sockets")
    parser.add_argument("-l", "--listening", action="store_true", help="only listening")
    parser.add_argument("-a", "--all", action="store_true", help="listening and the others")
    parser.add_argument("-i", "--info", action="store_true",
                        help="TCP internals, as ss -i prints them (from TCP_INFO)")
    parser.add_argument("-m", "--memory", action="store_true",
                        help="buffer memory: skmem:(r held to read, rb its limit, t held to "
                             "send, tb its limit, d drops) and the mbufs the socket holds")
    parser.add_argument("-e", "--extended", action="store_true",
                        help="who owns each socket: the service or thread that opened it, "
                             "with the stack's pid and the socket's fd (ss's users:)")
    parser.add_argument("-p", "--processes", dest="extended", action="store_true",
                        help="the same as -e")
    args = parser.parse_args(argv)
    both = not (args.tcp or args.udp)
    rows = _ask(args, "sockets", {"tcp": args.tcp or both, "udp": args.udp or both,
                                  "info": args.info, "memory": args.memory,
                                  "owners": args.extended})
    if args.listening:
        rows = [r for r in rows if r["state"] in ("LISTEN", "UNCONN")]
    elif not args.all:
        rows = [r for r in rows if r["state"] not in ("LISTEN", "UNCONN")]
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'Netid':6} {'State':11} {'Recv-Q':>7} {'Send-Q':>7} {'Local Address:Port':24} "
          f"Peer Address:Port")
    for r in rows:
        users = "".join(f' users:(("{u["name"]}",pid={u["pid"]},fd={u["fd"]}))'
                        for u in r.get("users", []))
        print(f"{r['netid']:6} {r['state']:11} {r['recv_q']:>7} {r['send_q']:>7} "
              f"{r['local']:24} {r['peer']:24}{users}".rstrip())
        if "skmem" in r:
            print(ss_memory_line(r["skmem"], r["mbufs"]))
        if "tcp_info" in r:
            print(ss_info_line(r["tcp_info"]))
    return 0


# --- ip ----------------------------------------------------------------------------------
def ip(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="netstack ip",
                                     description="The stack's interface, routes and ARP "
                                                 "table, with ip -j's JSON keys.")
    _common(parser)
    parser.add_argument("object", choices=("addr", "route", "neigh"))
    parser.add_argument("change", nargs="*", metavar="add|del ...",
                        help="route add PREFIX [via GATEWAY] [mtu N] | route del PREFIX | "
                             "neigh add ADDRESS lladdr MAC | neigh del ADDRESS")
    args = parser.parse_args(argv)
    request: dict[str, Any] = {"object": args.object}
    if args.change:
        request.update(_parse_change(parser, args.object, args.change))
    rows = _ask(args, "ip", request)
    if args.json:
        _print_json(rows)
    elif args.object == "addr":
        for link in rows:
            print(f"{link['ifindex']}: {link['ifname']}: <{','.join(link['flags'])}> "
                  f"mtu {link['mtu']} state {link['operstate']}")
            print(f"    link/ether {link['address']} brd {link['broadcast']}")
            for a in link["addr_info"]:
                print(f"    inet {a['local']}/{a['prefixlen']} brd {a['broadcast']} "
                      f"scope {a['scope']} {a['label']}")
    elif args.object == "route":
        for r in rows:
            via = f" via {r['gateway']}" if "gateway" in r else ""
            extra = f" proto {r['protocol']} scope {r['scope']} src {r['prefsrc']}" \
                if "prefsrc" in r else ""
            mtu = "".join(f" mtu {m['mtu']}" for m in r.get("metrics", []))
            print(f"{r['dst']}{via} dev {r['dev']}{extra}{mtu}")
    else:
        for r in rows:
            mac = f" lladdr {r['lladdr']}" if "lladdr" in r else ""
            print(f"{r['dst']} dev {r['dev']}{mac} {' '.join(r['state'])}")
    return 0


def _parse_change(parser: argparse.ArgumentParser, what: str, words: list[str]) -> dict:
    """`add 198.51.100.0/24 via 192.0.2.1 mtu 1400` -> {"action": "add", "dst": ...}."""
    action, *rest = words
    if what == "addr" or action not in ("add", "del") or not rest:
        parser.error(f"ip {what} {' '.join(words)}: expected route|neigh add|del ADDRESS ...")
    change = {"action": action, "dst": rest[0]}
    options = rest[1:]
    if len(options) % 2:
        parser.error(f"'{options[-1]}' needs a value")
    allowed = {"route": {"via", "mtu"}, "neigh": {"lladdr"}}[what]
    for key, value in zip(options[::2], options[1::2], strict=True):
        if key not in allowed:
            parser.error(f"ip {what}: unknown option {key!r} (expected {', '.join(sorted(allowed))})")
        change[key] = value
    return change


# --- sysctl ------------------------------------------------------------------------------
def sysctl(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="netstack sysctl",
        description="Read or change the stack's tunables: NAME shows one, NAME=VALUE sets "
                    "it, -a lists every one with what it means and when a change applies.")
    _common(parser)
    parser.add_argument("-a", "--all", action="store_true", help="every tunable")
    parser.add_argument("setting", nargs="?", metavar="NAME[=VALUE]")
    args = parser.parse_args(argv)
    if not args.all and not args.setting:
        parser.error("give NAME, NAME=VALUE or -a")
    request: dict[str, Any] = {}
    if args.setting:
        name, has_value, value = args.setting.partition("=")
        request = {"name": name.strip()} | ({"value": value.strip()} if has_value else {})
    rows = _ask(args, "sysctl", request)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        value = int(r["value"]) if r["type"] == "bool" else r["value"]
        print(f"{r['name']} = {value}")
        if args.all:
            print(f"    {r['description']} [{r['allowed']}; applies: {r['applies']}]")
    return 0


COMMANDS = {"ps": ps, "stat": stat, "ss": ss, "ip": ip, "sysctl": sysctl, **perf.COMMANDS,
            **live.COMMANDS}


def run_tool(tool: str, argv: Sequence[str]) -> int:
    try:
        return COMMANDS[tool](list(argv))
    except BrokenPipeError:  # `netstack sysctl -a | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ControlError as e:
        print(f"netstack {tool}: {e}", file=sys.stderr)
        return EXIT_FAILED
    except NetstackError as e:
        print(f"netstack {tool}: {e}", file=sys.stderr)
        return EXIT_FAILED
