"""Performance tools: `netstack top`, `netstack traffic`, `netstack pool`, `netstack rings`.

Each is a handler (runs on the loop thread, returns plain data) and a command (parses argv,
asks, prints). The lead registers them: HANDLERS into handlers.py's, COMMANDS into tools.py's.

- top: the loop's time per phase. The handler returns *cumulative* seconds per bucket since
  profiling started (engine/profile.py) and the tool prints the change per interval, like
  `vmstat 1`. The first `top` request switches the profile on; it switches itself off when
  no request came for OFF_AFTER seconds (or twice the tool's interval, if longer), so a
  killed `top` leaves no cost behind.
- traffic: packets, bytes and drops of the port and the KNI device, per interval; cumulative
  counters from the handler, differences in the tool.
- pool: the mbuf pool, and who holds every mbuf in use. The owners add up to "in use";
  "unaccounted" says by how much they do not (0 unless something leaks or a holder is
  missing from `_mbuf_owners`). Payload the stack keeps as *copies* (bytes objects, not
  mbufs: TCP's buffers, reassembly...) is listed apart, in bytes.
- rings: every queue between the loop's phases: size, depth now, deepest since start, drops.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

from netstack.api.zero_copy import lent_mbufs
from netstack.ctl.client import ControlClient
from netstack.ctl.options import ToolParser, add_common, positive_int
from netstack.engine.profile import BUCKETS, STAGES, PassProfile

OFF_AFTER = 3.0  # seconds without a top request before profiling switches off
WATCH_EVERY = 0.5  # seconds between looks at whether top is still asking
MAX_INTERVAL = 3600.0


# ========================================================================= handlers
def top(server, args: dict) -> dict[str, Any]:
    """Cumulative seconds per phase since profiling started; starts it if it is off."""
    interval = _number(args.get("interval", 1.0), "interval", 0.0, MAX_INTERVAL)
    engine = server.engine
    profile = getattr(engine, "profile", None)
    if profile is None:
        profile = PassProfile(engine)
        profile.start()
        profile.wrap_extra(server, "drain", "ctl")  # our own work, apart from the timers
        engine.profile = profile
        server.stack.timers.schedule(server.now + WATCH_EVERY,
                                     lambda now: _watch(server, profile, now))
    profile.keep_until = max(profile.keep_until, server.now + max(OFF_AFTER, 2 * interval))
    sample = profile.snapshot()
    notes = []
    if hasattr(engine, "_io"):
        notes.append("the port I/O runs on the native engine's own thread: its time is not "
                     "in these shares; rx is the loop taking frames off the in ring")
    if profile.unwrapped:
        notes.append("not timed apart (counted where they are called from): "
                     + ", ".join(profile.unwrapped))
    return {"time": time.time(), "started": profile.started, "wall": sample["wall"],
            "passes": sample["passes"], "buckets": sample["buckets"],
            "engine": type(engine).__name__, "notes": notes}


def _watch(server, profile: PassProfile, now: float) -> None:
    """Switch profiling off once top stops asking (a killed top must not leave it on)."""
    if server.engine.profile is not profile:
        return
    if now >= profile.keep_until:
        profile.stop()
        server.engine.profile = None
        return
    server.stack.timers.schedule(now + WATCH_EVERY, lambda t: _watch(server, profile, t))


def traffic(server, args: dict) -> dict[str, Any]:
    """Cumulative packets, bytes and drops of the port and of the KNI device."""
    engine = server.engine
    sync = getattr(engine, "_sync_counters", None)
    if sync is not None:
        sync()  # the native engine's C thread counts port.rx/tx: take them in now
    c = server.stack.counters.snapshot()

    def drops(*prefixes: str) -> int:
        return sum(v for k, v in c.items() if k.startswith(prefixes))

    devices = [{"name": engine.port.name, "kind": "port",
                "rx_packets": c.get("port.rx", 0), "rx_bytes": c.get("port.rx_bytes", 0),
                "tx_packets": c.get("port.tx", 0), "tx_bytes": c.get("port.tx_bytes", 0),
                "drops": drops("port.drop.", "ring.drop.", "link.drop.")}]
    if engine.kni is not None:
        # From the KNI device's side: rx is what the kernel sent us, tx what we gave it.
        devices.append({"name": engine.kni.ifname, "kind": "kni",
                        "rx_packets": c.get("kni.from_kernel", 0),
                        "rx_bytes": c.get("kni.from_kernel_bytes", 0),
                        "tx_packets": c.get("kni.to_kernel", 0),
                        "tx_bytes": c.get("kni.to_kernel_bytes", 0),
                        "drops": drops("kni.drop.")})
    return {"time": time.time(), "monotonic": time.monotonic(), "devices": devices}


def pool(server, args: dict) -> dict[str, Any]:
    """The pool's figures and who holds each mbuf in use, all taken in this pass."""
    engine, stack = server.engine, server.stack
    mbuf_pool = engine.pool
    size = len(mbuf_pool)
    in_use = size - mbuf_pool.available
    owners = _mbuf_owners(engine, stack)
    counted = sum(o["mbufs"] for o in owners)
    native = hasattr(engine, "_io")
    if native:
        # Buffers the C thread holds for a moment (read from the port, not yet on the in
        # ring; or being written) are visible to nobody here: the rest is theirs.
        owners.append({"owner": "port.io_thread", "mbufs": in_use - counted, "inferred": True,
                       "what": "the native engine's I/O thread, mid read or write "
                               "(inferred: in use minus every other owner)"})
        counted = in_use
    owners.append({"owner": "unaccounted", "mbufs": in_use - counted,
                   "what": "in use but held by none of the above (a leak, or a holder "
                           "this tool does not know)"})
    return {"pool": type(mbuf_pool).__name__, "size": size,
            "buffer_bytes": len(mbuf_pool.mbufs[0].buf) if size else 0,
            "in_use": in_use, "free": mbuf_pool.available,
            "min_free": min(getattr(mbuf_pool, "min_free", size), size),
            "alloc_failures": getattr(mbuf_pool, "alloc_failures", 0),
            "port_no_mbuf_drops": stack.counters.snapshot().get("port.drop.no_mbuf", 0),
            "owners": owners, "copies": _copies(stack)}


def _mbuf_owners(engine, stack) -> list[dict[str, Any]]:
    """Everything that holds a pool mbuf between passes (the handler runs between them:
    no frame is half-way through dispatch). Each holder holds its own, so they add up."""
    arp = stack.arp
    resolving = getattr(arp, "_resolving", {})
    tcp_template = getattr(stack.tcp, "_tx_template", None)
    port_held = getattr(engine.port, "held_mbufs", 0)
    zero_copy = [extent.mbuf for conn in stack.tcp.connections()
                 for extent in conn.send_stream.extents or ()]
    return [
        {"owner": "in_ring", "mbufs": engine.in_ring.count(),
         "what": "received, waiting for dispatch"},
        {"owner": "out_ring", "mbufs": engine.out_ring.count(),
         "what": "sent, waiting for the port"},
        {"owner": "stack.outgoing", "mbufs": len(stack.outgoing),
         "what": "frames built this pass, not yet collected to the out ring"},
        {"owner": "arp.pending", "mbufs": sum(len(r.waiting) for r in resolving.values()),
         "what": "packets waiting for their next hop's MAC address"},
        # Only a reference into stack.outgoing while a connection sends a burst; a
        # reference is not counted again (it is 0 between passes, where we look).
        {"owner": "tcp.tx_template", "mbufs": 0, "references": int(tcp_template is not None),
         "what": "TCP's header template: a frame already in stack.outgoing"},
        {"owner": "port", "mbufs": port_held if isinstance(port_held, int) else 0,
         "what": "held by the port (a link emulator's delayed frames)"},
        {"owner": "kni", "mbufs": 0,
         "what": "KNI frames are copied in and out within the pass"},
        {"owner": "application", "mbufs": lent_mbufs(engine.pool),
         "what": "zero-copy buffers lent to applications (zc_alloc), not yet sent"},
        # A zero-copy payload waiting for its ACK; while a copy of it is also on its way
        # out (refcnt > 1) the ring or queue it is in counts it instead.
        {"owner": "tcp.zero_copy", "mbufs": sum(1 for m in zero_copy if m.refcnt == 1),
         "references": sum(1 for m in zero_copy if m.refcnt > 1),
         "what": "zc_send payloads in TCP send buffers, not yet acknowledged"},
    ]


def _copies(stack) -> list[dict[str, Any]]:
    """Payload bytes the stack holds as copies, not mbufs: where the data lives."""
    sent = received = out_of_order = 0
    for conn in stack.tcp.connections():
        stream = conn.send_stream  # zero-copy payloads stay in their mbufs (counted above)
        sent += len(stream.data) - sum(extent.length for extent in stream.extents or ())
        received += len(conn.receiver.ready)
        out_of_order += conn.receiver.out_of_order_bytes
    udp = sum(endpoint.queued_bytes for endpoint in stack.udp.endpoints())
    reassembler = getattr(stack.ipv4, "reassembler", None)
    reassembly = getattr(reassembler, "memory_used", 0)
    return [
        {"holder": "tcp.send_buffers", "bytes": sent,
         "what": "written by applications, not yet acknowledged"},
        {"holder": "tcp.receive_buffers", "bytes": received,
         "what": "received in order, not yet read"},
        {"holder": "tcp.out_of_order", "bytes": out_of_order,
         "what": "received beyond a gap, waiting for it"},
        {"holder": "udp.receive_queues", "bytes": udp, "what": "datagrams not yet read"},
        {"holder": "ipv4.reassembly", "bytes": reassembly,
         "what": "fragments of incomplete datagrams (with a per-fragment charge)"},
    ]


def rings(server, args: dict) -> list[dict[str, Any]]:
    """Every queue between the loop's phases: size, depth now, deepest since start, drops."""
    engine, stack = server.engine, server.stack
    c = stack.counters.snapshot()
    peaks = getattr(engine, "peaks", {})
    rows = [
        {"name": "engine.in_ring", "size": engine.in_ring.capacity,
         "count": engine.in_ring.count(), "high_water": peaks.get("in_ring"),
         "drops": c.get("ring.drop.in_full", 0)},
        {"name": "engine.out_ring", "size": engine.out_ring.capacity,
         "count": engine.out_ring.count(), "high_water": peaks.get("out_ring"),
         "drops": c.get("ring.drop.out_full", 0)},
        # A deque without a limit: the engine sends it mid-pass past FLUSH_AT frames.
        {"name": "stack.outgoing", "size": None, "count": len(stack.outgoing),
         "high_water": peaks.get("outgoing"), "drops": 0},
        {"name": "stack.to_kni", "size": None, "count": len(stack.to_kni),
         "high_water": peaks.get("to_kni"), "drops": c.get("kni.drop.no_device", 0)},
    ]
    # The control plane's own: a request and a reply ring per client slot, summed.
    for which, what in enumerate(("requests", "replies")):
        slot_rings = [pair[which] for pair in server.rings]
        rows.append({"name": f"ctl.{what}", "size": sum(r.capacity for r in slot_rings),
                     "count": sum(r.count() for r in slot_rings), "high_water": None,
                     "drops": 0})
    return rows


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not low < number <= high:
        raise ValueError(f"{name} {number:g} is outside ({low:g}, {high:g}]")
    return number


HANDLERS = {"top": top, "traffic": traffic, "pool": pool, "rings": rings}


# ========================================================================= commands
def _common(parser: argparse.ArgumentParser) -> None:
    add_common(parser, json_help="JSON (top and traffic: one object per line, NDJSON)")


def _interval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--delay", type=_positive_float, default=1.0, metavar="S",
                        help="seconds per interval (default 1)")
    parser.add_argument("-c", "--count", type=positive_int, default=None, metavar="N",
                        help="stop after N intervals (default: until Ctrl-C). F-Stack's "
                             "top calls this -n; here -n is the stack's name, in every tool")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_INTERVAL:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, {MAX_INTERVAL:g}]")
    return value


def _emit_json(data: Any) -> None:
    print(json.dumps(data), flush=True)


def _intervals(client: ControlClient, kind: str, args: argparse.Namespace,
               request: dict | None = None):
    """(before, after) samples, one pair per interval, until the count is reached."""
    shown = 0
    before = client.request(kind, request)
    while args.count is None or shown < args.count:
        time.sleep(args.delay)
        after = client.request(kind, request)
        yield before, after
        before = after
        shown += 1


# --- top ---------------------------------------------------------------------------------
TOP_COLUMNS = (("control", "ctrl"), ("rx", "rx"), ("ethernet", "eth"), ("arp", "arp"),
               ("ipv4", "ipv4"), ("icmp", "icmp"), ("udp", "udp"), ("tcp", "tcp"),
               ("other", "disp"), ("timers", "tmrs"), ("ctl", "ctl"), ("hooks", "hook"),
               ("tx", "tx"), ("loop", "loop"), ("idle", "idle"))
assert [b for b, _ in TOP_COLUMNS] == list(BUCKETS)


def top_command(argv: Sequence[str]) -> int:
    parser = ToolParser(
        prog="netstack top",
        description="Where the stack's loop spends its time, per interval: passes per second "
                    "and the share (%) of wall time in each phase: ctrl (calls queued by "
                    "application threads), rx (port receive), eth/arp/ipv4/icmp/udp/tcp "
                    "(each protocol stage, exclusive of the stages it calls), disp (the rest "
                    "of dispatch), tmrs (timers), ctl (answering tools, this one included), "
                    "hook (application wakeups), tx (collect and transmit), loop (the loop's "
                    "own bookkeeping) and idle (asleep in poll). Profiling is on only while "
                    "top runs.",
        epilog="Example: netstack top -d 0.5 -c 10")
    _common(parser)
    _interval_options(parser)
    args = parser.parse_args(argv)
    with ControlClient.connect(args.name) as client:
        request = {"interval": args.delay}
        printed = 0
        notes_shown = False
        try:
            for before, after in _intervals(client, "top", args, request):
                if after["started"] != before["started"]:
                    continue  # profiling restarted in between: no common baseline
                line = _top_line(before, after)
                if args.json:
                    _emit_json(line)
                    continue
                if not notes_shown:
                    for note in after["notes"]:
                        print(f"# {note}")
                    notes_shown = True
                if printed % 20 == 0:
                    print(f"{'pass/s':>8} " + " ".join(f"{h:>5}" for _, h in TOP_COLUMNS))
                printed += 1
                print(f"{line['passes_per_s']:>8.0f} "
                      + " ".join(f"{line['shares'][b]:>5.1f}" for b, _ in TOP_COLUMNS),
                      flush=True)
        except KeyboardInterrupt:
            pass
    return 0


def _top_line(before: dict, after: dict) -> dict[str, Any]:
    wall = after["wall"] - before["wall"]
    spent = {b: after["buckets"][b] - before["buckets"][b] for b in BUCKETS}
    total = sum(spent.values()) or 1.0
    return {"time": after["time"], "interval": wall,
            "passes_per_s": (after["passes"] - before["passes"]) / wall if wall > 0 else 0.0,
            "shares": {b: 100.0 * spent[b] / total for b in BUCKETS},
            "dispatch": 100.0 * sum(spent[b] for b in (*STAGES, "other")) / total}


# --- traffic -----------------------------------------------------------------------------
TRAFFIC_FIELDS = ("rx_pps", "rx_mbps", "tx_pps", "tx_mbps", "drops")


def traffic_command(argv: Sequence[str]) -> int:
    parser = ToolParser(
        prog="netstack traffic",
        description="Packets, bytes and drops per interval, of the port and the KNI device "
                    "(KNI rx: from the kernel; tx: to the kernel). Drops: the port's, its "
                    "rings' and the link's (port.drop.*, ring.drop.*, link.drop.*); "
                    "KNI's (kni.drop.*).")
    _common(parser)
    _interval_options(parser)
    parser.add_argument("-s", "--simple", action="store_true",
                        help="one CSV line per interval (a header line first), as F-Stack's "
                             "traffic -s")
    args = parser.parse_args(argv)
    with ControlClient.connect(args.name) as client:
        try:
            for number, (before, after) in enumerate(_intervals(client, "traffic", args)):
                rows = _traffic_rows(before, after)
                if args.json:
                    _emit_json({"time": after["time"], "devices": rows})
                elif args.simple:
                    if number == 0:
                        print(",".join(["time"] + [f"{r['kind']}_{f}" for r in rows
                                                   for f in TRAFFIC_FIELDS]))
                    print(",".join([f"{after['time']:.3f}"] + [
                        f"{r[f]:.3f}" if isinstance(r[f], float) else str(r[f])
                        for r in rows for f in TRAFFIC_FIELDS]), flush=True)
                else:
                    print(time.strftime("%H:%M:%S", time.localtime(after["time"])))
                    print(f"  {'DEVICE':24} {'rx pps':>10} {'rx Mbit/s':>10} {'tx pps':>10} "
                          f"{'tx Mbit/s':>10} {'drops':>8}")
                    for r in rows:
                        print(f"  {r['name']:24} {r['rx_pps']:>10.0f} {r['rx_mbps']:>10.3f} "
                              f"{r['tx_pps']:>10.0f} {r['tx_mbps']:>10.3f} {r['drops']:>8}",
                              flush=True)
        except KeyboardInterrupt:
            pass
    return 0


def _traffic_rows(before: dict, after: dict) -> list[dict[str, Any]]:
    seconds = (after["monotonic"] - before["monotonic"]) or 1e-9
    old = {d["name"]: d for d in before["devices"]}
    rows = []
    for d in after["devices"]:
        b = old.get(d["name"], dict.fromkeys(d, 0))
        delta = {k: d[k] - b[k] for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes",
                                          "drops")}
        rows.append({"name": d["name"], "kind": d["kind"], **delta, "seconds": seconds,
                     "rx_pps": delta["rx_packets"] / seconds,
                     "rx_mbps": delta["rx_bytes"] * 8 / seconds / 1e6,
                     "tx_pps": delta["tx_packets"] / seconds,
                     "tx_mbps": delta["tx_bytes"] * 8 / seconds / 1e6})
    return rows


# --- pool --------------------------------------------------------------------------------
def pool_command(argv: Sequence[str]) -> int:
    parser = ToolParser(
        prog="netstack pool",
        description="The mbuf pool: size, in use, minimum free since start, allocation "
                    "failures, and who holds every mbuf in use (the owners add up to in use; "
                    "'unaccounted' says by how much they do not). Then the payload bytes the "
                    "stack holds as copies, not in mbufs (TCP and UDP buffers, reassembly).")
    _common(parser)
    args = parser.parse_args(argv)
    with ControlClient.connect(args.name) as client:
        data = client.request("pool")
    if args.json:
        _emit_json(data)
        return 0
    print(f"mbuf pool ({data['pool']}): {data['size']} buffers of {data['buffer_bytes']} bytes")
    print(f"  in use {data['in_use']}  free {data['free']}  min free {data['min_free']}  "
          f"alloc failures {data['alloc_failures']}  "
          f"(port drops for want of an mbuf: {data['port_no_mbuf_drops']})")
    print("mbufs in use, by holder:")
    for o in data["owners"]:
        refs = f" (+{o['references']} reference)" if o.get("references") else ""
        print(f"  {o['owner']:18} {o['mbufs']:>7}{refs}  {o['what']}")
    print("payload bytes held as copies (bytes, not mbufs):")
    for c in data["copies"]:
        print(f"  {c['holder']:22} {c['bytes']:>10}  {c['what']}")
    return 0


# --- rings -------------------------------------------------------------------------------
def rings_command(argv: Sequence[str]) -> int:
    parser = ToolParser(
        prog="netstack rings",
        description="Every queue between the loop's phases: its size (- for an unbounded "
                    "queue), how full it is now, the most it has held since start "
                    "(high-water; - where not tracked) and the frames it dropped.")
    _common(parser)
    args = parser.parse_args(argv)
    with ControlClient.connect(args.name) as client:
        rows = client.request("rings")
    if args.json:
        _emit_json(rows)
        return 0
    print(f"{'RING':24} {'SIZE':>7} {'COUNT':>7} {'HIGH':>7} {'DROPS':>9}")
    for r in rows:
        def show(value: Any) -> str:
            return "-" if value is None else str(value)
        print(f"{r['name']:24} {show(r['size']):>7} {r['count']:>7} "
              f"{show(r['high_water']):>7} {r['drops']:>9}")
    return 0


COMMANDS = {"top": top_command, "traffic": traffic_command, "pool": pool_command,
            "rings": rings_command}
TOOLS = tuple(COMMANDS)
