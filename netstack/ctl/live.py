"""The watching tools: `netstack capture`, `netstack events`, and `netstack kni`.

capture and events read a stream from the running stack (streams.py) until they have what
they were asked for, or until Ctrl-C: the file or the output is complete either way, and
what the stack could not buffer for a slow reader is reported, never lost silently.
kni shows or sets the KNI steering mode, as F-Stack's knictl does.
"""

from __future__ import annotations

import base64
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from netstack.ctl import tunables
from netstack.ctl.client import ControlClient
from netstack.ctl.options import ToolParser, add_common, positive_int, positive_seconds
from netstack.ctl.streams import POINTS
from netstack.engine.pcapfile import PcapWriter
from netstack.stack import KNI_MODES

READ_INTERVAL = 0.05  # seconds between reads while the stack has nothing new


# --- the loop's side --------------------------------------------------------------------
def capture(server, args: dict) -> dict[str, Any]:
    return server.streams.handle(server, "capture", args)


def events(server, args: dict) -> dict[str, Any]:
    return server.streams.handle(server, "events", args)


def kni(server, args: dict) -> dict[str, Any]:
    stack, engine = server.stack, server.engine
    device = getattr(engine, "kni", None)
    mode = args.get("mode")
    if mode is not None:
        if device is None:
            raise ValueError("this stack has no KNI device: nothing to steer to "
                             "(netstack run --kni tap:NAME)")
        tunables.set_value(stack, tunables.find(tunables.STACK_PREFIX + "kni_mode"), mode)
    counters = stack.counters
    return {"mode": stack.config.kni_mode, "device": device.ifname if device else None,
            "to_kernel": counters.get("kni.to_kernel", 0),
            "from_kernel": counters.get("kni.from_kernel", 0)}


HANDLERS = {"capture": capture, "events": events, "kni": kni}


# --- the tools ---------------------------------------------------------------------------
class _Stopper:
    """Ctrl-C and SIGTERM end a watching tool cleanly (the file completed, the stream
    closed) instead of killing it mid-write."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous = {sig: signal.signal(sig, self._stop)
                          for sig in (signal.SIGINT, signal.SIGTERM)}

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopped = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _watch(client: ControlClient, kind: str, open_args: dict, on_item: Any,
           count: int | None, duration: float | None,
           announce: str | None = None) -> tuple[int, int]:
    """Read the stream until `count` items, `duration` seconds or a signal; returns the
    items taken and the number the stack had to drop. `announce` goes to stderr once the
    stream is open, as tcpdump's "listening on ...": from then on nothing is missed."""
    stopper = _Stopper()
    stream = client.request(kind, {"action": "open", **open_args})["stream"]
    if announce:
        print(announce, file=sys.stderr, flush=True)
    taken = dropped = 0
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not stopper.stopped and (count is None or taken < count):
            if deadline is not None and time.monotonic() >= deadline:
                break
            page = client.request(kind, {"action": "read", "stream": stream})
            dropped += page["dropped"]
            for item in page["items"]:
                if count is not None and taken >= count:
                    break
                on_item(item, page)
                taken += 1
            if not page["items"]:
                time.sleep(READ_INTERVAL)
    finally:
        stopper.restore()
        try:
            client.request(kind, {"action": "close", "stream": stream})
        except Exception:  # noqa: BLE001 - the stack closes an unread stream by itself
            pass
    return taken, dropped


def capture_command(argv: Sequence[str]) -> int:
    parser = ToolParser(
        prog="netstack capture",
        description="Capture a running stack's packets into a pcap file (tshark and "
                    "Wireshark read it), until -c packets or Ctrl-C.",
        epilog="points: port = frames to and from the port (Ethernet); kni = frames to and "
               "from the KNI device (Ethernet); ipv4 = IPv4 packets into and out of the "
               "IPv4 stage (raw IP); tcp = the IPv4 packets carrying TCP into and out of "
               "the TCP stage (raw IP)")
    add_common(parser)
    parser.add_argument("-w", "--write", metavar="FILE", required=True, help="the pcap file")
    parser.add_argument("--at", choices=POINTS, default="port", help="where (default: port)")
    parser.add_argument("-c", "--count", type=positive_int, metavar="N",
                        help="stop after N packets")
    parser.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds")
    args = parser.parse_args(argv)
    writer: list[PcapWriter] = []
    progress = sys.stderr.isatty()

    def write(item: list, page: dict) -> None:
        if not writer:
            writer.append(PcapWriter(args.write, linktype=page["linktype"]))
        stamp, data = item
        writer[0].write(base64.b64decode(data), stamp)
        if progress and writer[0].frames_written % 10 == 0:
            print(f"\r{writer[0].frames_written} packets", end="", file=sys.stderr)

    with ControlClient.connect(args.name) as client:
        taken, dropped = _watch(client, "capture", {"at": args.at}, write, args.count,
                                args.duration, f"capturing on {client.name} at {args.at}, "
                                               f"writing {args.write}")
    if not writer:  # nothing came: still a valid, empty file of the right kind
        writer.append(PcapWriter(args.write, linktype=101 if args.at in ("ipv4", "tcp") else 1))
    writer[0].close()
    if progress:
        print("\r", end="", file=sys.stderr)
    summary = {"file": args.write, "at": args.at, "packets": taken, "dropped": dropped}
    if args.json:
        print(json.dumps(summary))
    print(f"{taken} packets captured" + (f", {dropped} dropped by the stack (reading too "
                                          "slowly)" if dropped else ""), file=sys.stderr)
    return 0


def events_command(argv: Sequence[str]) -> int:
    parser = ToolParser(
        prog="netstack events",
        description="Stream a running stack's trace events (state changes, cwnd, RTT "
                    "samples, retransmissions, RTOs, segments, drops, high-water marks), one "
                    "line each or NDJSON with -j, until Ctrl-C, -c N or --duration S.")
    add_common(parser)
    parser.add_argument("--conn", metavar="ID",
                        help="one connection: 192.0.2.2:80>192.0.2.1:40000 as the lines "
                             "show it, or any part of it (e.g. :40000)")
    parser.add_argument("--kind", metavar="KINDS", default="all",
                        help="tcp, all (default), or a comma list of state, cwnd, rtt, "
                             "retransmit, rto, segment, drop, highwater")
    parser.add_argument("-c", "--count", type=positive_int, metavar="N", help="stop after N events")
    parser.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds")
    args = parser.parse_args(argv)

    def show(event: dict, page: dict) -> None:
        print(json.dumps(event) if args.json else event["line"], flush=True)

    with ControlClient.connect(args.name) as client:
        _taken, dropped = _watch(client, "events", {"kinds": args.kind, "conn": args.conn},
                                 show, args.count, args.duration)
    if dropped:
        print(f"netstack events: {dropped} events dropped by the stack (reading too slowly)",
              file=sys.stderr)
    return 0


def kni_command(argv: Sequence[str]) -> int:
    parser = ToolParser(
        prog="netstack kni",
        description="Show or set where the stack steers frames when it has a KNI device "
                    "(F-Stack's knictl): default (the stack's --kni-tcp-ports/--kni-udp-ports "
                    "and what it does not handle go to the kernel), all-to-kernel (every IPv4 "
                    "frame to the kernel; ARP to both), all-to-stack (nothing to the kernel).")
    add_common(parser)
    parser.add_argument("mode", nargs="?", choices=KNI_MODES)
    args = parser.parse_args(argv)
    with ControlClient.connect(args.name) as client:
        state = client.request("kni", {"mode": args.mode} if args.mode else {})
    if args.json:
        print(json.dumps(state))
    elif state["device"] is None:
        print(f"{state['mode']} (no KNI device)")
    else:
        print(f"{state['mode']} (device {state['device']}: {state['to_kernel']} frames to the "
              f"kernel, {state['from_kernel']} from it)")
    return 0


COMMANDS = {"capture": capture_command, "events": events_command, "kni": kni_command}
TOOLS = tuple(COMMANDS)
