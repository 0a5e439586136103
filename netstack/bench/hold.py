"""Concurrent idle connections: how many the stack holds, and what each costs in memory.

The subject is `netstack run --service tcp-hold:7` (an event-driven echo: one thread, one
epoll, netstack/services/tcp_hold.py) on a TAP; the reference is a Python epoll server doing
the same over a plain veth to Linux (a KernelPair). The same kernel-side client runs against
both (HOLD_CLIENT):

1. it raises RLIMIT_NOFILE and opens N connections, nonblocking, at most WINDOW handshakes
   at a time; one that is not connected after CONNECT_TIMEOUT seconds counts as failed;
2. it sends one byte on every open connection and counts the echoes: a connection that
   echoes is established at both ends and served (the `held` figure);
3. it prints `held ...` and waits for a line on stdin, while the benchmark reads the
   server's VmRSS; then it closes everything and prints `result ...`.

RSS per idle connection = (VmRSS with N held - VmRSS before) / N, of the `netstack run`
process. Linux keeps its sockets in kernel memory, which no process's RSS shows: its figure
is the Python server's RSS growth plus the kernel "TCP" slab's growth (struct tcp_sock, both
ends live in this kernel, so half of it), read from /proc/slabinfo. Other programs on the
machine move the slab too, so the Linux figure is approximate.

After the client closes, `netstack run` is stopped and its exit counters give the stack's
own count: `tcp.conn.established` and `service.tcp_hold.peak` (the most held at once).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import netstack.bench.tap as tap
from netstack.bench.common import BenchError, Result, Settings, Target, progress
from netstack.bench.tcp_kernel import FAR_IP, KernelPair, parse_result
from netstack.netns import Namespace, NamespaceError, wait_for_line

HOLD_PORT = 7
SERVICE = f"tcp-hold:{HOLD_PORT}"
CONNECTIONS_TARGET = 10_000  # the speed target
RSS_TARGET_BYTES = 10_000  # target: RSS growth under 10 KB per idle connection
WINDOW = 256  # handshakes in flight at once
CONNECT_TIMEOUT = 5.0  # seconds for one connection to be established
PHASE_SECONDS = 60.0  # the client's limit for opening, and for the echo check
SETTLE_SECONDS = 0.5  # after the echoes, before reading RSS: let the last frees happen

HOLD_CLIENT = """
import collections, errno, resource, select, socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
window, connect_timeout, phase = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
need = count + 256
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < need:  # raising the hard limit needs CAP_SYS_RESOURCE: take what it allows
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
ep = select.epoll()
connecting, established = {}, {}
errors = collections.Counter()
started = time.monotonic()
deadline = started + phase
opened = 0
while (opened < count or connecting) and time.monotonic() < deadline:
    while opened < count and len(connecting) < window:
        opened += 1
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            errors[errno.errorcode.get(err, str(err))] += 1
            s.close()
            continue
        ep.register(s.fileno(), select.EPOLLOUT)
        connecting[s.fileno()] = (s, time.monotonic())
    for fd, _ in ep.poll(0.05):
        s, _ = connecting.pop(fd)
        ep.unregister(fd)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            errors[errno.errorcode.get(err, str(err))] += 1
            s.close()
        else:
            established[fd] = s
    now = time.monotonic()
    for fd, (s, t0) in list(connecting.items()):
        if now - t0 > connect_timeout:
            errors["timeout"] += 1
            ep.unregister(fd)
            s.close()
            del connecting[fd]
open_seconds = time.monotonic() - started
# One byte each way on every connection: only a connection the server serves echoes it.
started = time.monotonic()
deadline = started + phase
waiting = set()
for fd, s in established.items():
    try:
        s.send(b"x")
        ep.register(fd, select.EPOLLIN)
        waiting.add(fd)
    except OSError as exc:
        errors["send " + errno.errorcode.get(exc.errno, str(exc.errno))] += 1
held = 0
while waiting and time.monotonic() < deadline:
    for fd, _ in ep.poll(0.1):
        try:
            data = established[fd].recv(16)
        except OSError:
            data = b""
        if data == b"x":
            held += 1
        else:
            errors["no echo"] += 1
        ep.unregister(fd)
        waiting.discard(fd)
errors["echo timeout"] += len(waiting)
verify_seconds = time.monotonic() - started
detail = ",".join(f"{k.replace(' ', '_')}:{v}" for k, v in sorted(errors.items()) if v) or "none"
print(f"held count={held} established={len(established)} open_seconds={open_seconds:.2f} "
      f"verify_seconds={verify_seconds:.2f} errors={detail}", flush=True)
sys.stdin.readline()  # the benchmark reads the server's memory now
started = time.monotonic()
for s in established.values():
    s.close()
print(f"result held={held} established={len(established)} open_seconds={open_seconds:.2f} "
      f"verify_seconds={verify_seconds:.2f} close_seconds={time.monotonic() - started:.2f} "
      f"errors={detail}", flush=True)
"""

HOLD_SERVER = """
import resource, select, socket, sys
address, port = sys.argv[1], int(sys.argv[2])
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
server = socket.create_server((address, port), backlog=4096)
server.setblocking(False)
ep = select.epoll()
ep.register(server.fileno(), select.EPOLLIN)
conns = {}
print("listening", flush=True)
while True:
    for fd, _ in ep.poll():
        if fd == server.fileno():
            while True:
                try:
                    conn, _ = server.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                conns[conn.fileno()] = conn
                ep.register(conn.fileno(), select.EPOLLIN)
            continue
        conn = conns[fd]
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if data:
            conn.send(data)  # the client sends one byte: it always fits
        else:
            ep.unregister(fd)
            del conns[fd]
            conn.close()
"""


def parse_held(line: str) -> dict[str, str]:
    """The client's `held key=value ...` (or `result ...`) line as a dict."""
    words = line.split()
    if not words or words[0] not in ("held", "result"):
        raise BenchError(f"not a hold client line: {line!r}")
    return dict(word.partition("=")[::2] for word in words[1:])


def vm_rss_bytes(pid: int) -> int:
    """A process's resident set size, from /proc/PID/status (VmRSS is in kB)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:  # the process is gone: it died during the workload
        raise BenchError(f"cannot read the memory of process {pid}: {exc}") from None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def tcp_slab_bytes() -> int:
    """Bytes in the kernel's "TCP" slab cache (one struct tcp_sock per TCP socket)."""
    try:
        for line in Path("/proc/slabinfo").read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == "TCP":
                return int(fields[1]) * int(fields[3])  # active objects x object size
    except OSError:
        pass
    return 0


def hold_round(client_ns: Namespace, server_pid: int, count: int) -> dict[str, float]:
    """Run HOLD_CLIENT for `count` connections; the figures, with the server's RSS growth."""
    rss_before, slab_before = vm_rss_bytes(server_pid), tcp_slab_bytes()
    cmd = [sys.executable, "-c", HOLD_CLIENT, FAR_IP, str(HOLD_PORT), str(count), str(WINDOW),
           str(CONNECT_TIMEOUT), str(PHASE_SECONDS)]
    proc = client_ns.popen(cmd, stdin=subprocess.PIPE)
    try:
        try:
            held = parse_held(wait_for_line(proc, "held ", 2 * PHASE_SECONDS + 30))
        except NamespaceError as exc:
            raise BenchError(f"the hold client failed: {exc}") from None
        time.sleep(SETTLE_SECONDS)  # a fixed pause before a reading, not a wait for an event
        rss_after, slab_after = vm_rss_bytes(server_pid), tcp_slab_bytes()
        assert proc.stdin is not None
        proc.stdin.write(b"close\n")
        proc.stdin.flush()
        try:
            result = parse_result(wait_for_line(proc, "result ", 60))
        except NamespaceError as exc:
            raise BenchError(f"the hold client did not close: {exc}") from None
    finally:
        proc.kill()
        proc.wait()
    figures: dict[str, float] = {k: float(v) for k, v in result.items() if k != "errors"}
    figures["rss_growth"] = rss_after - rss_before
    figures["slab_growth"] = slab_after - slab_before
    figures["errors"] = held.get("errors", "")  # type: ignore[assignment]
    return figures


def bench_hold(settings: Settings) -> list[Result]:
    tap.require_root()
    count = settings.hold_connections
    progress(f"  hold: Linux over veth, {count:,} connections")
    with KernelPair(one_segment=False) as pair:
        server = pair.far.popen([sys.executable, "-c", HOLD_SERVER, FAR_IP, str(HOLD_PORT)])
        wait_for_line(server, "listening", tap.STARTUP_TIMEOUT)
        linux = hold_round(pair.near, server.pid, count)
    progress(f"  hold: netstack run --service {SERVICE}, {count:,} connections")
    command = tap.netstack_run_command("--service", SERVICE, *settings.run_options(),
                                       port=settings.port)
    with tap.responder_process_on_tap(command) as responder:
        stack = hold_round(responder.ns, responder.proc.pid, count)
        counters = tap.stop_and_read_counters(responder)
    return rows(count, stack, linux, counters)


def rows(count: int, stack: dict[str, float], linux: dict[str, float],
         counters: dict[str, int]) -> list[Result]:
    """The two result rows from both sides' figures and the stack's exit counters."""
    stack_held, linux_held = stack["held"], linux["held"]
    stack_per_conn = stack["rss_growth"] / stack_held if stack_held else float("nan")
    linux_per_conn = ((linux["rss_growth"] + linux["slab_growth"] / 2) / linux_held
                      if linux_held else float("nan"))
    details = {"requested": count, "netstack": stack, "linux": linux,
               "netstack_counters": {k: v for k, v in counters.items()
                                     if k.startswith(("tcp.conn.", "service.tcp_hold.",
                                                      "tcp.drop."))}}
    return [
        Result(name=f"TCP idle connections held (of {count:,})", unit="connections",
               subject_label="netstack run", subject=stack_held,
               reference_label="Linux over veth", reference=linux_held, higher_is_better=True,
               details=details,
               target=Target(CONNECTIONS_TARGET, on="subject", unit="connections")),
        Result(name="RSS per idle connection", unit="bytes",
               subject_label="netstack run", subject=stack_per_conn,
               reference_label="Linux (server RSS + tcp_sock slab)", reference=linux_per_conn,
               higher_is_better=False,
               details={"netstack_rss_growth": stack["rss_growth"],
                        "linux_server_rss_growth": linux["rss_growth"],
                        "linux_tcp_slab_growth_both_ends": linux["slab_growth"]},
               target=Target(RSS_TARGET_BYTES, at_least=False, on="subject", unit="bytes")),
    ]
